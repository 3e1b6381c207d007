"""Figures: pure functions from tables to matplotlib figures; PNG and PDF on save."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from localglobal.analysis import figures
from localglobal.analysis.hypotheses import StatisticalTestSettings, evaluate_hypotheses
from localglobal.analysis.interaction import patch_interaction
from localglobal.analysis.summaries import lrp_summary, probe_summary
from localglobal.errors import FigureError
from localglobal.probes.catalog import get_probe

SCRAMBLE, PATCH, SMOOTH = (get_probe(name) for name in ("scramble", "patch", "smooth"))
REMOVED_DETAIL = [get_probe("smooth_diff"), get_probe("smooth_diff_inv")]


def curve(summary, *probes):
    """The level curve of ``probes`` (one report section)."""
    return figures.level_curve_figure(summary, list(probes))


@pytest.fixture(scope="module")
def tables(tmp_path_factory, make_run):
    fake = make_run(tmp_path_factory.mktemp("figures") / "run")
    predictions = fake.run.read("predictions")
    interaction = patch_interaction(predictions, n_resamples=100)
    results = evaluate_hypotheses(fake.config.analysis.hypotheses, predictions,
                                  fake.run.read("attributions"), interaction.summary,
                                  settings=StatisticalTestSettings(n_resamples=100))
    return {
        "summary": probe_summary(predictions),
        "interaction": interaction.summary,
        "images": interaction.images,
        "lrp": lrp_summary(fake.run.read("attributions")),
        "results": results,
        "bias": pd.read_parquet(fake.run.path("shape_bias.parquet")),
        "fake": fake,
    }


def _lines_with_label(figure: Figure) -> set[str]:
    return {line.get_label() for ax in figure.axes for line in ax.get_lines()
            if not line.get_label().startswith("_")}


def test_the_level_curve_has_one_line_per_model_and_the_original_first(tables):
    fake = tables["fake"]
    figure = curve(tables["summary"], SCRAMBLE)
    assert isinstance(figure, Figure)
    assert _lines_with_label(figure) == set(fake.models)
    ticks = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    # The weakest level comes first: the largest block, after the original.
    assert ticks == ["original", *[str(b) for b in sorted(fake.scramble_blocks, reverse=True)]]
    line = figure.axes[0].get_lines()[0]
    assert list(line.get_xdata()) == list(range(len(ticks)))


def test_patch_draws_its_two_groups_and_smooth_its_passes(tables):
    patch = curve(tables["summary"], PATCH)
    assert len(patch.axes) == 2
    assert [ax.get_title() for ax in patch.axes] == [
        "Patches: all patches at once", "Patches: one patch (mean over patches)"]
    for ax in patch.axes:
        assert min(ax.get_lines()[0].get_xdata()) == 0
    smooth = curve(tables["summary"], SMOOTH)
    assert [t.get_text() for t in smooth.axes[0].get_xticklabels()] == ["original", "1", "2",
                                                                        "3"]


def test_probes_that_share_a_section_share_one_figure(tables):
    figure = curve(tables["summary"], *REMOVED_DETAIL)
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == [
        "original", "Removed detail", "Removed detail, inverted"]


def test_every_figure_draws_from_its_tables(tables):
    made = [
        curve(tables["summary"], *REMOVED_DETAIL),
        figures.interaction_r_figure(tables["interaction"]),
        figures.interaction_scatter_figure(tables["images"]),
        figures.lrp_regions_figure(tables["lrp"]),
        figures.qq_figure(tables["results"].pairs, tables["results"].table),
        figures.shape_bias_figure(tables["bias"]),
        figures.density_figure({"edges": np.random.default_rng(0).random((8, 8))}),
        figures.heatmap_gallery_figure({("i", "a"): np.zeros((4, 4, 3), np.uint8)}, ["i"], ["a"]),
    ]
    assert all(isinstance(f, Figure) and f.axes for f in made)
    # One Q-Q panel per hypothesis tested on at least 3 images' mean differences.
    qq = made[4]
    table = tables["results"].table
    with_three = ((table["n"] >= 3) & (table["source"] != "interaction")).sum()
    assert len([ax for ax in qq.axes if ax.get_visible()]) == with_three


def test_the_qq_plots_show_the_per_image_means_the_tests_ran_on(tables):
    results = tables["results"]
    figure = figures.qq_figure(results.pairs, results.table)
    table = results.table.set_index("hypothesis")
    shown = [ax for ax in figure.axes if ax.get_visible()]
    assert shown
    for ax in shown:
        hypothesis = ax.get_title().split(" ")[0]
        points = ax.collections[0].get_offsets()
        images = results.pairs.loc[results.pairs["hypothesis"] == hypothesis, "image_id"]
        assert len(points) == table.loc[hypothesis, "n"] == images.nunique()
        assert f"n={len(points)}" in ax.get_title()
        assert table.loc[hypothesis, "n_pairs"] >= len(points)
        # The plotted values are the image means of the differences, in order.
        pairs = results.pairs[results.pairs["hypothesis"] == hypothesis]
        means = np.sort(pairs.groupby("image_id")["diff"].mean().to_numpy())
        np.testing.assert_allclose(np.sort(points[:, 1]), means)
    titles = {ax.get_title().split(" ")[0] for ax in shown}
    assert "INT" not in titles
    # Scrambling has several blocks and permutations per image: far more pairs than points.
    assert "SCR" in titles and table.loc["SCR", "n_pairs"] > table.loc["SCR", "n"]


def test_a_regression_line_per_model_in_the_scatter(tables):
    figure = figures.interaction_scatter_figure(tables["images"])
    first = figure.axes[0]
    n_models = len(tables["fake"].models)
    assert len(first.collections) == n_models  # scatter per model
    assert len(first.get_lines()) == n_models + 1  # regression per model + diagonal


@pytest.mark.parametrize("probes", [[SCRAMBLE], [PATCH], [SMOOTH], REMOVED_DETAIL])
def test_missing_input_is_a_figure_error(probes, tables):
    with pytest.raises(FigureError, match="no "):
        curve(tables["summary"][tables["summary"]["probe"] == "original"], *probes)
    with pytest.raises(FigureError):
        curve(pd.DataFrame(), *probes)


def test_empty_tables_are_figure_errors():
    for call in (lambda: figures.lrp_regions_figure(pd.DataFrame()),
                 lambda: figures.shape_bias_figure(None),
                 lambda: figures.density_figure({}),
                 lambda: figures.heatmap_gallery_figure({}, [], []),
                 lambda: figures.qq_figure(pd.DataFrame({"hypothesis": ["H"], "diff": [1.0]}))):
        with pytest.raises(FigureError):
            call()


def test_save_writes_png_and_pdf(tables, tmp_path):
    figure = figures.shape_bias_figure(tables["bias"])
    png, pdf = figures.save_figure(figure, tmp_path / "sub" / "bias", dpi=40)
    assert png.read_bytes().startswith(b"\x89PNG") and pdf.read_bytes().startswith(b"%PDF")
    assert not list((tmp_path / "sub").glob("*.tmp"))


def test_model_styles_are_fixed_by_name():
    assert figures.model_styles(["b", "a"]) == figures.model_styles(["a", "b", "a"])
    colours = [c for c, _ in figures.model_styles([f"m{k}" for k in range(6)]).values()]
    assert len(set(colours)) == 6 and set(colours) <= set(figures.OKABE_ITO)


def test_a_perfect_shape_bias_draws_its_interval():
    # A Wilson interval that touches 1.0 gives an upper error a hair below zero.
    table = pd.DataFrame({"model": ["shape-only", "texture-only"], "shape_bias": [1.0, 0.0],
                          "ci_low": [0.9, 0.0], "ci_high": [1.0 - 1e-17, 0.1], "n": [40, 40]})
    figure = figures.shape_bias_figure(table)
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["shape-only",
                                                                        "texture-only"]
