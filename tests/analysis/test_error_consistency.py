"""Error consistency: Cohen's kappa of trial-by-trial correctness, on shared trials."""

from __future__ import annotations

import csv
import itertools
import re

import numpy as np
import pandas as pd
import pytest

from localglobal.analysis.error_consistency import (
    COLUMNS,
    SUMMARY_COLUMNS,
    cohen_kappa,
    error_consistency,
    summarise_error_consistency,
)
from tests.shared_data import require_geirhos_sample


def test_kappa_against_a_hand_computed_value():
    a = np.array([1, 1, 0, 0, 1, 0, 1, 1], dtype=bool)
    b = np.array([1, 0, 0, 1, 1, 0, 1, 1], dtype=bool)
    result = cohen_kappa(a, b)
    # agree on 6 of 8; both accuracies 5/8; expected = (5/8)² + (3/8)² = 34/64
    assert result["n"] == 8
    assert result["observed"] == pytest.approx(6 / 8)
    assert result["expected"] == pytest.approx(34 / 64)
    assert result["kappa"] == pytest.approx((6 / 8 - 34 / 64) / (1 - 34 / 64))  # 7/15
    assert result["kappa"] == pytest.approx(7 / 15)


def test_kappa_limits():
    same = np.array([1, 0, 1, 1, 0], dtype=bool)
    assert cohen_kappa(same, same)["kappa"] == pytest.approx(1.0)
    opposite = np.array([1, 0, 1, 0], dtype=bool)
    assert cohen_kappa(opposite, ~opposite)["kappa"] == pytest.approx(-1.0)
    always = np.ones(4, dtype=bool)
    perfect = cohen_kappa(always, always)
    assert perfect["expected"] == 1.0 and np.isnan(perfect["kappa"])
    assert np.isnan(cohen_kappa(~always, ~always)["kappa"])
    assert cohen_kappa(np.array([], bool), np.array([], bool))["n"] == 0


def decisions(observer: str, kind: str, answers: dict[str, str | None],
              dataset: str = "edge") -> list[dict]:
    """Rows for images named '<category><k>.png' with the given decisions."""
    return [{"observer": observer, "kind": kind, "dataset": dataset, "image": image,
             "category": re.sub(r"\d+\.png$", "", image), "texture": None, "decision": answer}
            for image, answer in answers.items()]


IMAGES = ["cat1.png", "dog1.png", "car1.png", "boat1.png"]


def test_every_pair_on_the_trials_both_have():
    model = decisions("net", "model", dict(zip(IMAGES, ["cat", "cat", "car", "boat"],
                                               strict=True)))  # right, wrong, right, right
    h1 = decisions("subject-01", "human", dict(zip(IMAGES, ["cat", "dog", "dog", "boat"],
                                                   strict=True)))  # right, right, wrong, right
    h2 = decisions("subject-02", "human", {"cat1.png": "cat", "dog1.png": "cat",
                                           "car1.png": None})  # right, wrong, wrong(no answer)
    table = pd.DataFrame(model + h1 + h2)
    result = error_consistency(table)
    assert list(result.columns) == COLUMNS
    assert [(r.a, r.b, r.pair) for r in result.itertuples()] == [
        ("net", "subject-01", "model-human"), ("net", "subject-02", "model-human"),
        ("subject-01", "subject-02", "human-human")]
    by = result.set_index(["a", "b"])
    expect = cohen_kappa(np.array([1, 0, 1, 1], bool), np.array([1, 1, 0, 1], bool))
    first = by.loc[("net", "subject-01")]
    assert first["n"] == 4 and first["kappa"] == pytest.approx(expect["kappa"])
    # subject-02 has three trials; the missing decision counts as an error.
    second = by.loc[("net", "subject-02")]
    expect = cohen_kappa(np.array([1, 0, 1], bool), np.array([1, 0, 0], bool))
    assert second["n"] == 3 and second["observed"] == pytest.approx(expect["observed"])
    assert second["expected"] == pytest.approx(expect["expected"])
    assert (second["p_a"], second["p_b"]) == pytest.approx((2 / 3, 1 / 3))
    # With missing="drop" the unanswered trial is nobody's trial.
    dropped = error_consistency(table, missing="drop").set_index(["a", "b"])
    assert dropped.loc[("net", "subject-02"), "n"] == 2


def test_datasets_are_kept_apart_and_summaries_average_over_humans():
    a = decisions("subject-01", "human", {"cat1.png": "cat", "dog1.png": "cat",
                                          "car1.png": "car", "boat1.png": "boat"})
    b = decisions("subject-02", "human", {"cat1.png": "cat", "dog1.png": "dog",
                                          "car1.png": "dog", "boat1.png": "boat"})
    c = decisions("subject-03", "human", {"cat1.png": "dog", "dog1.png": "cat",
                                          "car1.png": "car", "boat1.png": "boat"})
    m = decisions("net", "model", {"cat1.png": "cat", "dog1.png": "cat", "car1.png": "dog",
                                   "boat1.png": "boat"})
    other = decisions("net", "model", {"cat1.png": "cat"}, dataset="silhouette")
    pairs = error_consistency(pd.DataFrame(a + b + c + m + other))
    assert set(pairs["dataset"]) == {"edge"}  # one observer in silhouette: no pair
    summary = summarise_error_consistency(pairs)
    assert list(summary.columns) == SUMMARY_COLUMNS
    by = summary.set_index("observer")
    human_pairs = pairs[pairs["pair"] == "human-human"]
    assert len(human_pairs) == 3
    assert by.loc["humans", "kappa"] == pytest.approx(human_pairs["kappa"].mean())
    assert by.loc["humans", "n_pairs"] == 3
    with_net = pairs[pairs["a"] == "net"]
    assert by.loc["net", "kappa"] == pytest.approx(with_net["kappa"].mean())
    assert by.loc["net", "n_pairs"] == 3
    own = pairs[(pairs["pair"] == "human-human")
                & ((pairs["a"] == "subject-01") | (pairs["b"] == "subject-01"))]
    assert by.loc["subject-01", "kappa"] == pytest.approx(own["kappa"].mean())
    humans_rows = summary[summary["observer"].str.startswith("subject-")]
    assert by.loc["humans", "kappa"] == pytest.approx(humans_rows["kappa"].mean())


def test_human_consistency_on_the_real_raw_data_agrees_with_a_direct_count():
    from localglobal.data.geirhos_humans import read_human_trials

    folder = require_geirhos_sample("human-raw-data") / "human-raw-data"
    pairs = error_consistency(read_human_trials(folder).table)
    for dataset in ("cue-conflict", "edge", "silhouette"):
        correct = {}
        for path in sorted((folder / dataset).glob("*.csv")):
            with open(path, newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    image = row["imagename"].rsplit("_", 1)[-1]
                    correct.setdefault(row["subj"], {})[image] = (
                        row["object_response"] == row["category"])
        mine = pairs[pairs["dataset"] == dataset]
        assert len(mine) == len(list(itertools.combinations(correct, 2)))
        a, b = sorted(correct)[:2]
        shared_images = sorted(set(correct[a]) & set(correct[b]))
        expect = cohen_kappa(np.array([correct[a][i] for i in shared_images]),
                             np.array([correct[b][i] for i in shared_images]))
        row = mine.set_index(["a", "b"]).loc[(a, b)]
        assert row["n"] == len(shared_images)
        assert row["kappa"] == pytest.approx(expect["kappa"])
