"""The analysis's figures: which there are, their panels and their captions."""

import pandas as pd

from localglobal.analysis import figures
from localglobal.analysis.figure_inputs import FigureInputs
from localglobal.analysis.figure_specs import category_caption, density_panels


def test_the_density_panels_name_their_source(fake_run):
    run = fake_run.run
    panels = density_panels(FigureInputs(
        samples=run.read("samples"), edges_npz=run.artifact_path("edge_masks"),
        relevance=run.artifact_path("relevance"), attributions=run.read("attributions"),
        crop=fake_run.crop))
    assert set(panels) == {"a: positive relevance", "b: positive relevance", "edges (Canny)",
                           "object boxes"}


def test_the_category_caption_names_only_what_is_drawn():
    models = pd.DataFrame({"model": ["a", "b"], "kind": "model", "category": "cat",
                           "shape_bias": [0.2, 0.8]})
    caption = category_caption(models)
    assert "marker per model" in caption
    assert "diamond" not in caption and "grey bar" not in caption
    humans = pd.concat([models, pd.DataFrame({
        "model": ["humans", "subject-01", "subject-02"], "kind": "human", "category": "cat",
        "shape_bias": [0.9, 0.85, 0.95]})])
    caption = category_caption(humans)
    assert "diamonds: the human observers' mean" in caption and "grey bars" in caption
    # What the figure draws agrees: a diamond marker only where the caption says so.
    drawn = figures.shape_bias_category_figure(models)
    assert not any(c.get_label().startswith("humans") for c in drawn.axes[0].collections)
    drawn = figures.shape_bias_category_figure(humans)
    assert any(c.get_label().startswith("humans") for c in drawn.axes[0].collections)
