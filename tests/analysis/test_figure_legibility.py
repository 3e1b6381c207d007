"""Figures read right: legends beside the data, one level is one tick, labels give the
n a value is computed from, heat maps carry their colour scale."""

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from localglobal.analysis import figures
from localglobal.analysis.interaction import patch_interaction
from localglobal.analysis.summaries import lrp_summary, probe_summary
from localglobal.probes.catalog import get_probe


@pytest.fixture(scope="module")
def tables(tmp_path_factory, make_run):
    fake = make_run(tmp_path_factory.mktemp("legibility") / "run")
    predictions = fake.run.read("predictions")
    interaction = patch_interaction(predictions, n_resamples=50)
    return {"summary": probe_summary(predictions), "interaction": interaction.summary,
            "images": interaction.images, "lrp": lrp_summary(fake.run.read("attributions"))}


def _render(figure):
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def _legends(figure) -> list:
    return [*figure.legends, *(ax.get_legend() for ax in figure.axes if ax.get_legend())]


def test_the_lrp_regions_legend_covers_no_bar(tables):
    figure = figures.lrp_regions_figure(tables["lrp"])
    renderer = _render(figure)
    legends = _legends(figure)
    bars = [patch.get_window_extent(renderer) for ax in figure.axes if ax.get_visible()
            for patch in ax.patches]
    assert legends and len(bars) > 4
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(bar) for bar in bars)


@pytest.mark.parametrize("draw", [
    lambda t: figures.level_curve_figure(t["summary"], [get_probe("scramble")]),
    lambda t: figures.level_curve_figure(t["summary"], [get_probe("patch")]),
    lambda t: figures.level_curve_figure(t["summary"], [get_probe("smooth")]),
    lambda t: figures.level_curve_figure(t["summary"], [get_probe("smooth_diff"),
                                                        get_probe("smooth_diff_inv")]),
    lambda t: figures.interaction_r_figure(t["interaction"]),
    lambda t: figures.interaction_scatter_figure(t["images"]),
    lambda t: figures.lrp_regions_figure(t["lrp"]),
])
def test_no_legend_lies_over_a_panel(draw, tables):
    figure = draw(tables)
    renderer = _render(figure)
    panels = [ax.get_window_extent(renderer) for ax in figure.axes if ax.get_visible()]
    legends = _legends(figure)
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert not any(box.overlaps(panel) for panel in panels)


def test_one_patch_side_is_one_tick_at_that_side(tables):
    interaction = tables["interaction"]
    side = sorted(interaction["size"].unique())[2]
    figure = figures.interaction_r_figure(interaction[interaction["size"] == side])
    _render(figure)
    for ax in figure.axes:
        assert list(ax.get_xticks()) == [side]
        assert [t.get_text() for t in ax.get_xticklabels()] == [f"{side:g}"]
        low, high = ax.get_xlim()
        assert low < side < high


def test_every_patch_side_is_a_tick(tables):
    interaction = tables["interaction"]
    figure = figures.interaction_r_figure(interaction)
    sides = sorted(float(s) for s in interaction["size"].unique())
    for ax in figure.axes:
        assert list(ax.get_xticks()) == sides


def test_one_smoothing_level_shows_it_beside_the_original(tables):
    summary = tables["summary"]
    one = summary[(summary["probe"] != "smooth") | (summary["level"] == 2)]
    figure = figures.level_curve_figure(one, [get_probe("smooth")])
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["original", "2"]


def test_the_shape_bias_label_gives_the_decisions_behind_the_value():
    # 180 stimuli judged, 36 of them with a shape or a texture decision.
    table = pd.DataFrame({
        "model": ["m", "humans"], "kind": ["model", "human"], "n": [180, 900],
        "n_shape": [27, 100], "n_texture": [9, 60], "n_other": [144, 740],
        "shape_bias": [0.75, 0.6], "ci_low": [0.6, 0.5], "ci_high": [0.9, 0.7],
        "n_observers": [1, 5]})
    figure = figures.shape_bias_figure(table)
    ax = figure.axes[0]
    labels = dict(zip([t.get_text() for t in ax.get_yticklabels()],
                      sorted(ax.texts, key=lambda t: t.get_position()[1]), strict=True))
    for name, row in table.set_index("model").iterrows():
        text = labels[name].get_text()
        n = int(re.search(r"n=(\d+)", text).group(1))
        assert n == row["n_shape"] + row["n_texture"]
        assert text.startswith(f"{row['shape_bias']:.2f}")
    assert "5 observers" in labels["humans"].get_text()
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "humans"


def test_the_gallery_has_a_symmetric_colour_bar():
    images = {(i, m): np.zeros((4, 4, 3), np.uint8) for i in ("p", "q") for m in ("a", "b")}
    figure = figures.heatmap_gallery_figure(images, ["p", "q"], ["a", "b"])
    bars = [ax for ax in figure.axes if hasattr(ax, "_colorbar")]
    assert len(bars) == 1 and len(figure.axes) == 5
    assert bars[0].get_ylim() == (-1.0, 1.0)
    assert "|R|" in bars[0].get_ylabel()
    assert 0.0 in bars[0].get_yticks()


def test_the_interaction_ratio_is_the_median_of_the_per_image_ratios(tables):
    interaction = tables["interaction"]
    figure = figures.interaction_r_figure(interaction)
    ratio_panel = figure.axes[1]
    assert "median" in ratio_panel.get_ylabel()
    for line in ratio_panel.get_lines():
        model = line.get_label()
        if model.startswith("_"):
            continue
        rows = interaction[interaction["model"] == model].sort_values("size")
        np.testing.assert_allclose(line.get_ydata(), rows["median_ratio"])


GALLERY_IDS = ["n01440764_10026", "t09_lshape_00002", "n03888257_13376", "t00_circle_00000",
               "n02102040_7256", "t04_cross_00002"]
GALLERY_MODELS = ["resnet50", "sin-resnet50", "se-resnext50", "vgg16", "resnext50", "toy-shape"]


@pytest.mark.parametrize(("rows", "columns"), [(1, 1), (2, 2), (6, 2), (2, 6)])
def test_gallery_row_labels_are_inside_and_readable_and_the_colour_bar_is_narrow(rows, columns):
    ids, models = GALLERY_IDS[:rows], GALLERY_MODELS[:columns]
    images = {(i, m): np.zeros((224, 224, 3), np.uint8) for i in ids for m in models}
    figure = figures.heatmap_gallery_figure(images, ids, models)
    renderer = _render(figure)
    page = figure.bbox
    bars = [ax for ax in figure.axes if hasattr(ax, "_colorbar")]
    panels = [ax for ax in figure.axes if ax not in bars]
    labels = [ax.yaxis.label for ax in panels if ax.get_ylabel()]
    assert [label.get_text() for label in labels] == ids
    for label in labels:
        box = label.get_window_extent(renderer)
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= page.width and box.y1 <= page.height
        assert label.get_fontsize() >= 9  # points
    for ax in panels:  # every image and its title inside the figure
        box = ax.get_tightbbox(renderer)
        assert box.x0 >= 0 and box.x1 <= page.width and box.y1 <= page.height
    # The colour bar, its ticks and its label take less than a third of one image's
    # width, at any number of models: narrow beside one column, small beside six.
    (bar,) = bars
    image_width = panels[0].get_window_extent(renderer).width
    assert bar.get_window_extent(renderer).width <= 0.07 * image_width
    with_labels = bar.get_tightbbox(renderer)
    assert with_labels.width <= 0.3 * image_width and with_labels.x1 <= page.width
    if columns >= 2:
        assert with_labels.width / page.width <= 0.12


def _green_sides(box, dpi):
    """The share of each side of ``box`` on which the gallery shows the box colour."""
    from localglobal.attribution.heatmap import BOX_COLOUR, overlay

    image = np.full((224, 224, 3), 150, np.uint8)
    shown = overlay(image, np.zeros((224, 224)), box=box)
    figure = figures.heatmap_gallery_figure({("i", "m"): shown}, ["i"], ["m"])
    figure.set_dpi(dpi)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
    green = (np.abs(pixels - np.array(BOX_COLOUR)).sum(axis=-1) <= 30)
    ax = figure.axes[0]
    height = pixels.shape[0]

    def to_pixel(x, y):  # data (column, row) → (column, row) of the rendered array
        px, py = ax.transData.transform((x, y))
        return px, height - py

    x0, y0, x1, y1 = box
    (c0, r0), (c1, r1) = to_pixel(x0, y0), to_pixel(x1, y1)
    c0, r0, c1, r1 = int(c0), int(r0), int(np.ceil(c1)), int(np.ceil(r1))
    band = 4
    sides = {
        "top": green[max(r0 - 1, 0):r0 + band, c0 + band:c1 - band].any(axis=0),
        "bottom": green[r1 - band:r1 + 1, c0 + band:c1 - band].any(axis=0),
        "left": green[r0 + band:r1 - band, max(c0 - 1, 0):c0 + band].any(axis=1),
        "right": green[r0 + band:r1 - band, c1 - band:c1 + 1].any(axis=1),
    }
    return {side: float(found.mean()) for side, found in sides.items()}


@pytest.mark.parametrize("box", [(0.0, 0.0, 224.0, 224.0), (30.4, 50.6, 190.2, 170.8)])
@pytest.mark.parametrize("dpi", [72, 120])
def test_the_box_outline_is_complete_in_the_gallery(box, dpi):
    # A box clipped to the frame runs along the image's border, where a frame line
    # would hide it; a one-pixel outline shown smaller than the image loses rows.
    sides = _green_sides(box, dpi)
    assert min(sides.values()) >= 0.95, sides
