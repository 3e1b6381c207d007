"""model-vs-human's benchmark metrics against a plain re-computation in its own way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from localglobal.analysis.benchmark import benchmark_tables, rankings
from localglobal.data.geirhos_humans import read_human_trials
from localglobal.data.model_vs_human import DATASETS
from tests.shared_data import model_vs_human_raw_data, require_model_vs_human_raw_data

RAW = model_vs_human_raw_data()
CHOSEN = ["contrast", "edge", "cue-conflict"]


@pytest.fixture(scope="module")
def decisions() -> pd.DataFrame:
    """The humans of three datasets plus two made-up models deciding every stimulus."""
    require_model_vs_human_raw_data()
    humans = read_human_trials(RAW, CHOSEN).table
    stimuli = humans.drop_duplicates(["dataset", "condition", "image"])
    rng = np.random.default_rng(7)
    categories = sorted(humans["category"].unique())
    models = []
    for name, p_right in (("good-net", 0.8), ("poor-net", 0.3)):
        right = rng.random(len(stimuli)) < p_right
        guess = rng.choice(categories, size=len(stimuli))
        models.append(stimuli.assign(observer=name, kind="model",
                                     decision=np.where(right, stimuli["category"], guess)))
    columns = ["observer", "kind", "dataset", "image", "category", "texture", "decision",
               "condition"]
    return pd.concat([humans[columns], *[m[columns] for m in models]], ignore_index=True)


def model_vs_human_way(decisions: pd.DataFrame, observer: str, dataset: str,
                       metric: str) -> float:
    """plotting/plot.py's get_raw_benchmark_df + format_benchmark_df, one value, by hand."""
    rows = decisions[decisions["dataset"] == dataset]
    info = DATASETS[dataset]
    conditions = [c for c in info.conditions if c not in info.excluded] or [None]
    humans = sorted(o for o in rows["observer"].unique() if o.startswith("subject-"))
    is_human = observer in humans

    def trials(who, condition):
        chosen = rows[rows["observer"] == who]
        if condition is not None:
            chosen = chosen[chosen["condition"] == condition]
        return chosen.sort_values("image").reset_index(drop=True)

    def accuracy(df):
        return float((df["decision"] == df["category"]).mean())

    def value(a, b):
        if metric == "accuracy_difference":
            return (accuracy(a) - accuracy(b)) ** 2
        assert a["image"].equals(b["image"])
        p1, p2 = accuracy(a), accuracy(b)
        expected = p1 * p2 + (1 - p1) * (1 - p2)
        observed = float(((a["decision"] == a["category"])
                          == (b["decision"] == b["category"])).mean())
        if metric == "observed_consistency":
            return observed
        return 1.0 if observed == 1.0 else (observed - expected) / (1 - expected)

    if observer == "humans":
        pairs = [(a, b) for i, a in enumerate(humans) for b in humans[i + 1:]]
    else:
        pairs = [(observer, h) for h in humans if h != observer]
    per_pair = [np.mean([value(trials(a, c), trials(b, c)) for c in conditions])
                for a, b in pairs]
    assert is_human or observer == "humans" or len(per_pair) == len(humans)
    return float(np.mean(per_pair))


@pytest.fixture(scope="module")
def tables(decisions):
    return benchmark_tables(decisions, n_resamples=200, seed=1)


@pytest.mark.parametrize("metric", ["accuracy_difference", "observed_consistency",
                                    "error_consistency"])
@pytest.mark.parametrize("observer", ["good-net", "poor-net", "humans", "subject-02"])
def test_pair_metrics_are_computed_as_model_vs_human_does(decisions, tables, metric, observer):
    benchmark, _ = tables
    for dataset in CHOSEN:
        row = benchmark[(benchmark["observer"] == observer) & (benchmark["dataset"] == dataset)
                        & (benchmark["metric"] == metric)]
        assert len(row) == 1
        expected = model_vs_human_way(decisions, observer, dataset, metric)
        assert row["value"].iloc[0] == pytest.approx(expected, abs=1e-12)
        assert row["ci_low"].iloc[0] <= row["value"].iloc[0] + 1e-9
        assert row["value"].iloc[0] <= row["ci_high"].iloc[0] + 1e-9


def test_accuracy_pools_the_benchmark_conditions_and_humans_pool_their_trials(decisions, tables):
    benchmark, _ = tables
    rows = decisions[(decisions["dataset"] == "contrast")
                     & ~decisions["condition"].isin(DATASETS["contrast"].excluded)]
    right = rows["decision"] == rows["category"]
    value = benchmark.set_index(["observer", "dataset", "metric"])["value"]
    humans = rows["observer"].str.startswith("subject-")
    assert value["humans", "contrast", "accuracy"] == pytest.approx(right[humans].mean())
    model = rows["observer"] == "good-net"
    assert value["good-net", "contrast", "accuracy"] == pytest.approx(right[model].mean())
    n = benchmark.set_index(["observer", "dataset", "metric"])["n"]
    assert n["good-net", "contrast", "accuracy"] == int(model.sum()) == 5 * 160


def test_excluded_conditions_change_nothing(decisions, tables):
    benchmark, _ = tables
    scrambled = decisions.copy()
    excluded = (scrambled["dataset"] == "contrast") & scrambled["condition"].isin(["c100", "c01"])
    scrambled.loc[excluded, "decision"] = "oven"
    again, _ = benchmark_tables(scrambled, n_resamples=0)
    key = ["observer", "dataset", "metric"]
    a = benchmark.set_index(key)["value"]
    b = again.set_index(key)["value"]
    assert np.allclose(a.loc[b.index], b, equal_nan=True)


def test_shape_bias_comes_with_its_hit_rate(decisions, tables):
    benchmark, _ = tables
    value = benchmark.set_index(["observer", "dataset", "metric"])["value"]
    rows = decisions[(decisions["dataset"] == "cue-conflict")
                     & (decisions["observer"] == "poor-net")
                     & (decisions["texture"] != decisions["category"])]
    shape = (rows["decision"] == rows["category"]).sum()
    texture = (rows["decision"] == rows["texture"]).sum()
    assert value["poor-net", "cue-conflict", "shape_bias"] == pytest.approx(
        shape / (shape + texture))
    assert value["poor-net", "cue-conflict", "hit_rate"] == pytest.approx(
        (shape + texture) / len(rows))
    assert value["humans", "cue-conflict", "shape_bias"] > 0.9
    assert ("good-net", "edge", "shape_bias") not in value.index


def test_per_condition_curves_hold_every_condition_and_say_which_count(tables):
    _, conditions = tables
    contrast = conditions[(conditions["dataset"] == "contrast")
                          & (conditions["observer"] == "humans")
                          & (conditions["metric"] == "accuracy")]
    assert list(contrast["condition"]) == list(DATASETS["contrast"].conditions)
    assert list(contrast["label"])[:2] == ["100", "50"]
    assert dict(zip(contrast["condition"], contrast["benchmark"], strict=True))["c100"] is False
    # the humans fall towards chance as the contrast falls
    assert contrast["value"].iloc[0] > 0.8 > 0.5 > contrast["value"].iloc[-1]


def test_rankings_order_models_by_their_mean_rank_and_by_accuracy(tables):
    benchmark, _ = tables
    ranked = rankings(benchmark)
    assert list(ranked["observer"]) == ["good-net", "poor-net", "humans"]
    assert list(ranked["rank_ood"][:2]) == [1.0, 2.0]
    assert np.isnan(ranked["mean_rank"].iloc[-1])
