"""Shape bias, per-category shape bias and 16-class accuracy of models and humans."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from localglobal.analysis.geirhos_metrics import (
    ACCURACY_COLUMNS,
    BY_CATEGORY_COLUMNS,
    HUMANS,
    SHAPE_BIAS_COLUMNS,
    accuracy16,
    shape_bias_by_category,
    shape_bias_table,
)
from tests.shared_data import require_geirhos_sample


def rows(observer: str, kind: str, trials: list[tuple], dataset: str = "cue-conflict"):
    """Decision rows from (image, shape, texture, decision) tuples."""
    return [{"observer": observer, "kind": kind, "dataset": dataset, "image": image,
             "category": shape, "texture": texture, "decision": decision}
            for image, shape, texture, decision in trials]


def table(*groups: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([row for group in groups for row in group])


MODEL = rows("net", "model", [
    ("cat1-dog1.png", "cat", "dog", "cat"),  # shape
    ("cat2-dog1.png", "cat", "dog", "cat"),  # shape
    ("car1-cat1.png", "car", "cat", "car"),  # shape
    ("dog1-car1.png", "dog", "car", "car"),  # texture
    ("dog2-car2.png", "dog", "car", "boat"),  # neither
    ("dog3-dog1.png", "dog", "dog", "cat"),  # no conflict: left out
])


def test_shape_bias_counts_conflict_stimuli_only():
    result = shape_bias_table(table(MODEL), n_resamples=200)
    assert list(result.columns) == SHAPE_BIAS_COLUMNS
    row = result.iloc[0]
    assert (row.model, row.kind, row.dataset) == ("net", "model", "cue-conflict")
    assert (row.n, row.n_shape, row.n_texture, row.n_other) == (5, 3, 1, 1)
    assert row.shape_bias == pytest.approx(3 / 4) and row.n_observers == 1
    assert row.ci_low <= 0.75 <= row.ci_high and row["std"] > 0


def test_humans_are_the_mean_of_the_observers_and_missing_decisions_count_as_other():
    one = rows("subject-01", "human", [  # 2 shape, 0 texture → 1.0
        ("cat1-dog1.png", "cat", "dog", "cat"), ("car1-cat1.png", "car", "cat", "car")])
    two = rows("subject-02", "human", [  # 1 shape, 1 texture, 2 without decision → 0.5
        ("cat1-dog1.png", "cat", "dog", "cat"), ("car1-cat1.png", "car", "cat", "cat"),
        ("dog1-car1.png", "dog", "car", None), ("dog2-car2.png", "dog", "car", None)])
    result = shape_bias_table(table(MODEL, one, two), n_resamples=200).set_index("model")
    assert result.loc["subject-01", "shape_bias"] == 1.0
    assert result.loc["subject-02", "shape_bias"] == 0.5
    assert result.loc["subject-02", "n_other"] == 2
    humans = result.loc[HUMANS]
    assert humans["kind"] == "human" and humans["n_observers"] == 2
    assert humans["shape_bias"] == pytest.approx(0.75)  # mean of 1.0 and 0.5
    assert humans["pooled_shape_bias"] == pytest.approx(3 / 4)  # (2 + 1) / (2 + 1 + 1)
    assert (humans["n"], humans["n_shape"], humans["n_texture"], humans["n_other"]) == (
        6, 3, 1, 2)
    assert humans["std"] == pytest.approx(np.std([1.0, 0.5], ddof=1))
    assert 0.5 <= humans["ci_low"] <= humans["ci_high"] <= 1.0
    assert "net" in result.index  # the model keeps its own row, not part of the mean


def test_bootstrap_is_seeded_and_degenerate_when_every_decision_is_shape():
    data = table(MODEL)
    a = shape_bias_table(data, n_resamples=300, seed=3)
    b = shape_bias_table(data, n_resamples=300, seed=3)
    pd.testing.assert_frame_equal(a, b)
    always = table(rows("shape-net", "model", [(f"c{k}-d1.png", "cat", "dog", "cat")
                                               for k in range(6)]))
    row = shape_bias_table(always, n_resamples=100).iloc[0]
    assert (row.shape_bias, row["std"], row.ci_low, row.ci_high) == (1.0, 0.0, 1.0, 1.0)


def test_datasets_without_textures_have_no_shape_bias_and_no_decision_gives_nan():
    edge = rows("net", "model", [("cat1.png", "cat", None, "cat")], dataset="edge")
    result = shape_bias_table(table(MODEL, edge), n_resamples=50)
    assert set(result["dataset"]) == {"cue-conflict"}
    lost = table(rows("lost", "model", [("cat1-dog1.png", "cat", "dog", "car")]))
    assert np.isnan(shape_bias_table(lost, n_resamples=50).iloc[0]["shape_bias"])
    with pytest.raises(ValueError, match="decision"):
        shape_bias_table(table(MODEL).drop(columns="decision"))


def test_shape_bias_by_category():
    one = rows("subject-01", "human", [("cat1-dog1.png", "cat", "dog", "cat"),
                                       ("dog1-car1.png", "dog", "car", "car")])
    two = rows("subject-02", "human", [("cat1-dog1.png", "cat", "dog", "dog"),
                                       ("cat2-car1.png", "cat", "car", "cat"),
                                       ("dog1-car1.png", "dog", "car", "dog")])
    result = shape_bias_by_category(table(MODEL, one, two))
    assert list(result.columns) == BY_CATEGORY_COLUMNS
    by = result.set_index(["model", "category"])
    assert by.loc[("net", "cat"), "shape_bias"] == 1.0  # 2 shape of 2
    assert by.loc[("net", "dog"), "shape_bias"] == 0.0  # 1 texture, 1 neither
    assert by.loc[("subject-02", "cat"), "shape_bias"] == 0.5
    assert by.loc[(HUMANS, "cat"), "shape_bias"] == pytest.approx((1.0 + 0.5) / 2)
    assert by.loc[(HUMANS, "dog"), "shape_bias"] == pytest.approx((0.0 + 1.0) / 2)
    assert by.loc[(HUMANS, "cat"), "n"] == 3 and by.loc[(HUMANS, "cat"), "n_observers"] == 2


def test_accuracy_is_decision_equals_shape_and_a_missing_decision_is_wrong():
    edge = rows("subject-01", "human", [("cat1.png", "cat", None, "cat"),
                                        ("dog1.png", "dog", None, None),
                                        ("car1.png", "car", None, "dog"),
                                        ("boat1.png", "boat", None, "boat")], dataset="edge")
    other = rows("subject-02", "human", [("cat1.png", "cat", None, "cat"),
                                         ("dog1.png", "dog", None, "dog")], dataset="edge")
    result = accuracy16(table(MODEL, edge, other), n_resamples=100)
    assert list(result.columns) == ACCURACY_COLUMNS
    by = result.set_index(["model", "dataset"])
    assert by.loc[("net", "cue-conflict"), "accuracy"] == pytest.approx(3 / 6)
    first = by.loc[("subject-01", "edge")]
    assert (first["n"], first["n_correct"], first["n_missing"]) == (4, 2, 1)
    assert first["accuracy"] == 0.5
    assert by.loc[(HUMANS, "edge"), "accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    assert by.loc[(HUMANS, "edge"), "n"] == 6


def test_humans_on_the_real_raw_data_agree_with_a_direct_count():
    from localglobal.data.geirhos_humans import read_human_trials

    folder = require_geirhos_sample("human-raw-data") / "human-raw-data"
    result = shape_bias_table(read_human_trials(folder).table, n_resamples=200)
    per_observer = {}
    for path in sorted((folder / "cue-conflict").glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                stem = row["imagename"].rsplit("_", 1)[-1].split(".")[0]
                texture = "".join(ch for ch in stem.split("-")[-1] if not ch.isdigit())
                if texture == row["category"]:
                    continue
                counts = per_observer.setdefault(row["subj"], [0, 0])
                counts[0] += row["object_response"] == row["category"]
                counts[1] += row["object_response"] == texture
    expected = np.mean([s / (s + t) for s, t in per_observer.values()])
    humans = result.set_index("model").loc[HUMANS]
    assert humans["shape_bias"] == pytest.approx(expected)
    assert humans["n_observers"] == len(per_observer)
    assert humans["ci_low"] <= humans["shape_bias"] <= humans["ci_high"]
