"""Logits → prediction rows: ranks, probabilities, the dataset's class subset."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from localglobal.errors import LabelSpaceError
from localglobal.evaluation.scoring import (
    EXTRA_COLUMNS,
    PREDICTION_COLUMNS,
    Scorer,
    check_label_space,
    empty_predictions,
    score_logits,
)
from localglobal.labels import get_label_space

IMAGENET = get_label_space("imagenet-1k")
IMAGENETTE = get_label_space("imagenette")


def test_subset_decisions_on_a_hand_made_logit_vector():
    logits = torch.tensor([[5.0, 2.0, 0.0, 3.0, 1.0, -1.0],
                           [0.0, 0.0, 9.0, 0.0, 0.0, 0.0]])
    subset = torch.tensor([4, 1, 3])  # the dataset's classes 0, 1, 2 in the model's space
    scores = score_logits(logits, torch.tensor([1, 2]), subset)

    # item 0: true class 1 (logit 2) is beaten by classes 0 (5) and 3 (3) overall
    assert scores["pred_index"][0] == 0 and scores["true_rank"][0] == 3
    assert scores["top5"][0]
    assert scores["true_prob"][0] == pytest.approx(
        math.exp(2) / sum(math.exp(v) for v in logits[0].tolist()))
    # within the subset (logits 1, 2, 3 for classes 4, 1, 3) class 3 wins: position 2
    assert scores["subset_pred_index"][0] == 2
    assert scores["subset_true_rank"][0] == 2
    expected = math.exp(2) / (math.exp(1) + math.exp(2) + math.exp(3))
    assert scores["subset_true_prob"][0] == pytest.approx(expected)
    assert scores["subset_pred_prob"][0] == pytest.approx(
        math.exp(3) / (math.exp(1) + math.exp(2) + math.exp(3)))
    # item 1: true class 2 is the overall winner but not one of the dataset's classes
    assert scores["pred_index"][1] == 2 and scores["true_rank"][1] == 1
    assert math.isnan(scores["subset_true_prob"][1])
    assert scores["subset_pred_index"][1] == 0  # ties go to the first dataset class


def items_of(wnids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({
        "item_id": [f"i{k}" for k in range(len(wnids))], "image_id": [f"m{k}" for k in
                                                                      range(len(wnids))],
        "wnid": wnids, "probe": "original", "level": 0, "variant": "0",
        "path": [f"p{k}.png" for k in range(len(wnids))]})


def test_the_scorer_writes_the_contract_columns_in_both_label_spaces():
    items = items_of([IMAGENETTE.wnids[0], IMAGENETTE.wnids[3], IMAGENETTE.wnids[3]])
    scorer = Scorer("net", items, IMAGENET, IMAGENETTE)
    logits = torch.zeros((2, 1000))
    logits[0, IMAGENET.index_of(IMAGENETTE.wnids[5])] = 4.0  # an Imagenette class wins
    logits[1, 7] = 9.0  # a class outside Imagenette wins overall
    logits[1, IMAGENET.index_of(IMAGENETTE.wnids[3])] = 2.0  # and the true one in the subset
    frame = scorer.frame(np.array([0, 2]), logits)
    assert list(frame.columns) == PREDICTION_COLUMNS + EXTRA_COLUMNS
    assert frame["item_id"].tolist() == ["i0", "i2"] and set(frame["model"]) == {"net"}
    assert frame["subset_pred_index"].tolist() == [5, 3]
    assert frame["subset_correct"].tolist() == [False, True]
    assert frame["pred_index"].tolist() == [IMAGENET.index_of(IMAGENETTE.wnids[5]), 7]
    assert frame["correct"].tolist() == [False, False]
    assert frame["true_rank"].tolist() == [2, 2]
    # The class counts say the decision above is made among 10 of the model's 1000.
    assert set(frame["model_classes"]) == {1000} and set(frame["subset_classes"]) == {10}
    assert frame.dtypes["level"] == np.int64 and frame.dtypes["top5"] == np.dtype(bool)
    assert list(empty_predictions().columns) == PREDICTION_COLUMNS + EXTRA_COLUMNS


def test_classes_outside_the_model_label_space_are_refused_with_counts():
    toy = get_label_space("toyworld")
    with pytest.raises(LabelSpaceError, match=r"cannot score 2 item\(s\)") as error:
        check_label_space("toy", toy, [IMAGENETTE.wnids[0]] * 2 + [toy.wnids[0]])
    assert IMAGENETTE.wnids[0] in str(error.value)
    check_label_space("net", IMAGENET, list(IMAGENETTE.wnids))


def test_the_16_geirhos_categories_are_decided_by_model_vs_humans_mapping():
    from localglobal.evaluation.decisions import IMAGENET_TO_16

    geirhos = get_label_space("geirhos-16")
    assert geirhos.wnids[0] == "airplane" and len(geirhos) == 16
    items = items_of(["airplane", "dog", "knife"])
    check_label_space("net", IMAGENET, items["wnid"].tolist(), geirhos)  # no refusal
    with pytest.raises(LabelSpaceError):
        check_label_space("net", IMAGENET, items["wnid"].tolist())
    scorer = Scorer("net", items, IMAGENET, geirhos)
    rng = np.random.default_rng(0)
    logits = torch.as_tensor(rng.normal(size=(3, 1000)), dtype=torch.float32)
    logits[0, 404] = 12.0   # airliner: the airplane category's one class wins outright
    logits[1, 0] = 12.0     # tench wins among all 1000, belongs to no category...
    logits[1, 200] = 9.0    # ...a dog class is the best of the true category
    logits[2, 555] = 12.0   # fire engine (truck) wins, the knife is wrong
    frame = scorer.frame(np.arange(3), logits)
    assert list(frame.columns) == PREDICTION_COLUMNS + EXTRA_COLUMNS
    assert frame["true_index"].tolist()[:2] == [404, 200]
    assert frame["correct"].tolist() == [True, False, False]
    expected = IMAGENET_TO_16.category_probabilities(logits.numpy().astype(np.float64))
    shares = expected / expected.sum(axis=1, keepdims=True)
    assert frame["subset_pred_wnid"].tolist() == [
        geirhos.wnids[k] for k in expected.argmax(axis=1)]
    assert frame["subset_pred_wnid"].tolist()[0] == "airplane"
    assert frame["subset_pred_wnid"].tolist()[2] == "truck"
    np.testing.assert_allclose(frame["subset_true_prob"], shares[np.arange(3), [0, 10, 13]],
                               rtol=1e-5)
    assert frame["subset_correct"].tolist() == [
        True, frame["subset_pred_wnid"][1] == "dog", False]
    assert set(frame["model_classes"]) == {1000} and set(frame["subset_classes"]) == {16}
