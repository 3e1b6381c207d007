"""A model keeps one colour and marker: in every figure of a run, and across runs."""

import pandas as pd
import pytest
from matplotlib.colors import to_hex

from localglobal.analysis import figures
from localglobal.analysis.figure_inputs import FigureInputs
from localglobal.analysis.figure_specs import figure_specs
from localglobal.analysis.interaction import patch_interaction
from localglobal.analysis.summaries import probe_summary
from localglobal.config import config_from_dict


@pytest.fixture(scope="module")
def tables(tmp_path_factory, make_run):
    fake = make_run(tmp_path_factory.mktemp("styles") / "run")
    predictions = fake.run.read("predictions")
    interaction = patch_interaction(predictions, n_resamples=50)
    return {"predictions": predictions, "summary": probe_summary(predictions),
            "interaction": interaction.summary, "images": interaction.images,
            "bias": pd.read_parquet(fake.run.path("shape_bias.parquet"))}


def _build(inputs: FigureInputs, name: str):
    return {spec.name: spec for spec in figure_specs(inputs)}[name].build()


def _line_colours(figure) -> dict[str, str]:
    return {line.get_label(): to_hex(line.get_color()) for ax in figure.axes
            for line in ax.get_lines() if not line.get_label().startswith("_")}


def _errorbar_colours(figure) -> dict[str, str]:
    return {c.get_label(): to_hex(c.lines[0].get_color()) for ax in figure.axes
            for c in ax.containers if not c.get_label().startswith("_")}


def _scatter_colours(figure) -> dict[str, str]:
    return {c.get_label(): to_hex(c.get_facecolor()[0]) for ax in figure.axes
            for c in ax.collections if not c.get_label().startswith("_")}


def _bar_colours(figure) -> dict[str, str]:
    ax = figure.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    bars = sorted(ax.patches, key=lambda p: p.get_y())
    # the y axis is inverted: the first name is the bar at y = 0
    return {name: to_hex(bar.get_facecolor()) for name, bar in zip(names, bars, strict=True)}


def _with_model(table: pd.DataFrame, source: str, name: str) -> pd.DataFrame:
    """``table`` with a copy of ``source``'s rows named ``name``."""
    return pd.concat([table, table[table["model"] == source].assign(model=name)],
                     ignore_index=True)


def test_styles_follow_the_order_then_the_other_names():
    styles = figures.model_styles(["x", "humans", "zeta", "alpha"], order=["zeta", "alpha"])
    assert list(styles) == ["zeta", "alpha", "humans", "x"]
    assert styles["zeta"] == (figures.OKABE_ITO[0], figures.MARKERS[0])
    assert styles["alpha"] == (figures.OKABE_ITO[1], figures.MARKERS[1])
    assert styles["humans"] == figures.HUMAN_STYLE
    assert styles["x"] == (figures.OKABE_ITO[2], figures.MARKERS[2])  # humans take no slot


def test_adding_a_model_keeps_every_other_models_colour(tables):
    # "aa" sorts between "a" and "b": a sorted palette would shift b's colour.
    two = FigureInputs(probe_summary=tables["summary"], model_order=("b", "a"))
    three = FigureInputs(probe_summary=_with_model(tables["summary"], "a", "aa"),
                         model_order=("b", "a", "aa"))
    for name in ("scramble", "smooth"):
        before, after = _line_colours(_build(two, name)), _line_colours(_build(three, name))
        assert set(after) == {"a", "b", "aa"}
        assert {m: after[m] for m in before} == before
        assert len(set(after.values())) == 3
    assert two.styles()["b"] == three.styles()["b"]
    assert two.styles()["a"] == three.styles()["a"]


def test_a_model_has_one_colour_in_every_figure(tables):
    inputs = FigureInputs(probe_summary=tables["summary"], interaction=tables["interaction"],
                          interaction_images=tables["images"], shape_bias=tables["bias"],
                          model_order=("b", "a"))
    styles = {m: to_hex(colour) for m, (colour, _) in inputs.styles().items()}
    assert styles["b"] == to_hex(figures.OKABE_ITO[0])  # configuration order, not names
    seen = [
        _line_colours(_build(inputs, "scramble")),
        _line_colours(_build(inputs, "patch")),
        _line_colours(_build(inputs, "smooth")),
        _errorbar_colours(_build(inputs, "interaction-r")),
        _line_colours(_build(inputs, "removed-detail")),
        _scatter_colours(_build(inputs, "interaction-scatter")),
        _bar_colours(_build(inputs, "shape-bias")),
    ]
    for colours in seen:
        assert colours == {m: styles[m] for m in ("a", "b")}


def test_a_model_only_some_tables_hold_does_not_shift_the_others(tables):
    # A model in the shape bias alone still gets its place in the one mapping.
    bias = _with_model(tables["bias"], "a", "extra")
    inputs = FigureInputs(probe_summary=tables["summary"], shape_bias=bias,
                          model_order=("b", "a"))
    lines = _line_colours(_build(inputs, "scramble"))
    bars = _bar_colours(_build(inputs, "shape-bias"))
    assert bars["a"] == lines["a"] and bars["b"] == lines["b"]
    assert bars["extra"] not in {lines["a"], lines["b"]}


def test_the_configured_order_lists_evaluated_then_attributed_then_geirhos_models():
    config = config_from_dict({"evaluate": {"models": ["x", "y"]},
                               "attribute": {"models": ["y", "z"]},
                               "geirhos": {"models": ["w", "x"]}})
    assert FigureInputs.configured_order(config) == ("x", "y", "z", "w")


def test_the_gallery_columns_follow_the_model_order(fake_run):
    inputs = FigureInputs(heatmaps=fake_run.run.path("heatmaps"), gallery=2,
                          attributions=fake_run.run.read("attributions"),
                          model_order=("b", "a"))
    figure = _build(inputs, "heatmaps")
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == ["b", "a"]
