"""Figures: pure functions from tables to matplotlib figures; PNG and PDF on save."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from localglobal.analysis import figures
from localglobal.analysis.hypotheses import evaluate_hypotheses
from localglobal.analysis.interaction import patch_interaction
from localglobal.analysis.summaries import lrp_summary, probe_summary


@pytest.fixture(scope="module")
def tables(tmp_path_factory, make_run):
    fake = make_run(tmp_path_factory.mktemp("figures") / "run")
    predictions = fake.run.read("predictions")
    interaction = patch_interaction(predictions, n_resamples=100)
    results = evaluate_hypotheses(fake.config.analysis.hypotheses, predictions,
                                  fake.run.read("attributions"), interaction.summary,
                                  n_resamples=100)
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


def test_scramble_curve_has_one_line_per_model_and_the_original_as_the_largest_side(tables):
    fake = tables["fake"]
    figure = figures.scramble_figure(tables["summary"], crop=fake.crop)
    assert isinstance(figure, Figure)
    assert _lines_with_label(figure) == set(fake.models)
    line = figure.axes[0].get_lines()[0]
    assert sorted(line.get_xdata()) == [*fake.scramble_blocks, fake.crop]


def test_patch_and_smooth_curves_start_at_the_original(tables):
    patch = figures.patch_figure(tables["summary"])
    assert len(patch.axes) == 2
    for ax in patch.axes:
        assert min(ax.get_lines()[0].get_xdata()) == 0
    smooth = figures.smooth_figure(tables["summary"])
    assert list(smooth.axes[0].get_lines()[0].get_xdata()) == [0, 1, 2, 3]


def test_every_figure_draws_from_its_tables(tables):
    made = [
        figures.removed_detail_figure(tables["summary"]),
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


@pytest.mark.parametrize("function", [figures.scramble_figure, figures.patch_figure,
                                      figures.smooth_figure, figures.removed_detail_figure])
def test_missing_input_is_a_figure_input_error(function, tables):
    with pytest.raises(figures.FigureInputError, match="no "):
        function(tables["summary"][tables["summary"]["probe"] == "original"])
    with pytest.raises(figures.FigureInputError):
        function(pd.DataFrame())


def test_empty_tables_are_figure_input_errors():
    for call in (lambda: figures.lrp_regions_figure(pd.DataFrame()),
                 lambda: figures.shape_bias_figure(None),
                 lambda: figures.density_figure({}),
                 lambda: figures.heatmap_gallery_figure({}, [], []),
                 lambda: figures.qq_figure(pd.DataFrame({"hypothesis": ["H"], "diff": [1.0]}))):
        with pytest.raises(figures.FigureInputError):
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
