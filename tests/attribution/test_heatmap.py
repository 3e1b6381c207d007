"""Heat-map overlays: symmetric diverging colours, percentile clipping, edges and box."""

import numpy as np
import pytest

from localglobal.attribution.heatmap import (
    BOX_COLOUR,
    EDGE_COLOUR,
    OverlayStyle,
    colourise,
    heatmap_figure,
    overlay,
    scale_relevance,
)


def test_scaling_is_symmetric_and_clipped_at_the_percentile():
    relevance = np.linspace(-1.0, 1.0, 101).reshape(1, 101)
    relevance[0, -1] = 100.0  # one outlier must not wash out the rest
    scaled = scale_relevance(relevance, percentile=99.0)
    bound = np.percentile(np.abs(relevance), 99.0)
    assert scaled.max() == 1.0 and scaled.min() >= -1.0
    np.testing.assert_allclose(scaled[0, :50], relevance[0, :50] / bound)
    np.testing.assert_array_equal(scale_relevance(-relevance), -scaled)
    assert not scale_relevance(np.zeros((3, 3))).any()


def test_colours_red_positive_blue_negative_white_zero():
    colours = colourise(np.array([[1.0, 0.0, -1.0]]), percentile=100.0)[0]
    red, white, blue = colours.astype(int)
    assert red[0] > 200 and red[2] < 60
    assert blue[2] > 200 and blue[0] < 60
    assert white.min() > 240


def test_overlay_draws_edges_and_box_over_the_relevance():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    relevance = rng.normal(size=(3, 20, 24))  # channels are summed
    edges = np.zeros((20, 24), bool)
    edges[10, 0:3] = True
    out = overlay(image, relevance, edges=edges, box=(4.0, 3.0, 20.0, 15.0))
    plain = overlay(image, relevance, box=(4.0, 3.0, 20.0, 15.0))
    assert out.shape == (20, 24, 3) and out.dtype == np.uint8
    assert (out[edges] != plain[edges]).any(axis=1).all()  # every edge pixel is marked
    assert (out[~edges] == plain[~edges]).all()  # and nothing else
    # outline on the box's inside border: rows 3 and 14, columns 4 and 19
    assert (out[3, 4:20] == BOX_COLOUR).all() and (out[14, 4:20] == BOX_COLOUR).all()
    assert (out[3:15, 4] == BOX_COLOUR).all() and (out[3:15, 19] == BOX_COLOUR).all()
    assert not (out[8, 8] == BOX_COLOUR).all()


def test_zero_relevance_shows_the_grey_image_and_bad_shapes_are_errors():
    image = np.full((4, 4, 3), 200, np.uint8)
    out = overlay(image, np.zeros((4, 4)))
    assert np.all(out == round(0.5 * 200 + 127.5))
    with pytest.raises(ValueError, match="does not match"):
        overlay(image, np.zeros((5, 4)))
    with pytest.raises(ValueError, match="uint8"):
        overlay(image.astype(float), np.zeros((4, 4)))


def test_relevance_under_an_edge_keeps_its_colour():
    # Strong positive relevance on the left, negative on the right, an edge across both.
    image = np.full((8, 10, 3), 128, np.uint8)
    relevance = np.ones((8, 10))
    relevance[:, 5:] = -1.0
    edges = np.zeros((8, 10), bool)
    edges[4, :] = True
    out = overlay(image, relevance, edges=edges).astype(int)
    plain = overlay(image, relevance).astype(int)
    edge = np.asarray(EDGE_COLOUR)
    for column in (1, 8):
        marked, under = out[4, column], plain[4, column]
        assert not (marked == edge).all()
        # closer to the relevance colour it lies on than to the edge colour
        assert np.abs(marked - under).sum() < np.abs(marked - edge).sum()
    red, _, blue = out[4, 1]
    assert red > blue + 50  # still red on the positive side
    red, _, blue = out[4, 8]
    assert blue > red + 50  # still blue on the negative side


def test_an_opacity_outside_zero_to_one_is_an_error():
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="edge_opacity"):
        overlay(image, np.ones((4, 4)), edges=np.ones((4, 4), bool),
                style=OverlayStyle(edge_opacity=1.5))


def test_the_heatmap_figure_has_a_symmetric_colour_bar_in_relevance_units():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    relevance = rng.normal(scale=3.0, size=(16, 16)) + 0.5
    figure = heatmap_figure(image, relevance, edges=rng.random((16, 16)) > 0.8)
    bars = [ax for ax in figure.axes if "relevance" in ax.get_ylabel()]
    assert len(figure.axes) == 2 and len(bars) == 1
    low, high = bars[0].get_ylim()
    bound = np.percentile(np.abs(relevance), 99.0)
    assert low == pytest.approx(-bound) and high == pytest.approx(bound)
