"""model-vs-human's figures: curves against condition, rankings, own images beside humans."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from localglobal.analysis.benchmark import benchmark_tables, rankings
from localglobal.analysis.figures import (
    condition_curves_figure,
    own_images_figure,
    ranking_bars_figure,
)
from localglobal.data.geirhos_humans import read_human_trials
from localglobal.data.model_vs_human import DATASETS
from localglobal.errors import FigureError
from tests.shared_data import model_vs_human_raw_data, require_model_vs_human_raw_data

RAW = model_vs_human_raw_data()


@pytest.fixture(scope="module")
def tables():
    """The contrast humans and a model that is right on every other stimulus."""
    require_model_vs_human_raw_data()
    humans = read_human_trials(RAW, ["contrast"]).table
    stimuli = humans.drop_duplicates(["condition", "image"]).reset_index(drop=True)
    model = stimuli.assign(observer="net", kind="model",
                           decision=np.where(stimuli.index % 2 == 0, stimuli["category"], "oven"))
    decisions = pd.concat([humans, model], ignore_index=True)
    return benchmark_tables(decisions, n_resamples=20)


def own_summary(probe: str, conditions: list[str]) -> pd.DataFrame:
    means = np.linspace(0.9, 0.1, len(conditions))
    return pd.DataFrame({"model": "net", "probe": probe, "level": range(len(conditions)),
                         "group": "", "measure": "subset_correct", "n_images": 20,
                         "mean": means, "ci_low": means - 0.05, "ci_high": means + 0.05,
                         "condition": conditions})


def test_accuracy_curves_draw_models_humans_and_their_range(tables):
    _, conditions = tables
    figure = condition_curves_figure(conditions, "accuracy")
    (ax,) = [a for a in figure.axes if a.get_visible()]
    assert ax.get_title() == "contrast"
    lines = {line.get_label(): line for line in ax.get_lines()}
    humans = conditions[(conditions["observer"] == "humans")
                        & (conditions["metric"] == "accuracy")]
    assert np.allclose(lines["humans (mean)"].get_ydata(), humans["value"])
    assert "net" in lines
    assert [t.get_text() for t in ax.get_xticklabels()] == list(DATASETS["contrast"].labels)


def test_rankings_bars_sort_models_and_mark_the_humans(tables):
    benchmark, _ = tables
    figure = ranking_bars_figure(rankings(benchmark))
    titles = [ax.get_title() for ax in figure.axes]
    assert any(t.startswith("OOD accuracy") for t in titles)
    assert any("accuracy difference" in t and "↓" in t for t in titles)


def test_own_images_sit_beside_the_humans_at_the_same_conditions(tables):
    _, conditions = tables
    order = list(DATASETS["contrast"].conditions)
    shuffled = own_summary("contrast", order).sample(frac=1, random_state=0)
    figure = own_images_figure(shuffled, conditions)
    (ax,) = [a for a in figure.axes if a.get_visible()]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert np.allclose(lines["net, own images"].get_ydata(), np.linspace(0.9, 0.1, 8))
    assert "humans, model-vs-human's stimuli" in lines
    assert "net, model-vs-human's stimuli" in lines  # the model on the stimuli, dashed


def test_eidolon_levels_find_their_dataset_and_other_probes_none():
    summary = own_summary("eidolon", ["1-3-10", "8-3-10", "64-0-10"])
    figure = own_images_figure(summary, None)
    titles = sorted(a.get_title() for a in figure.axes if a.get_visible())
    assert titles == ["eidolonII", "eidolonIII"]
    with pytest.raises(FigureError, match="model-vs-human's conditions"):
        own_images_figure(own_summary("scramble", ["28", "56"]), None)
