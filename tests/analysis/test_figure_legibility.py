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
