"""Patch interaction: S and A on a hand-made table, and the test across patch sides."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from localglobal.analysis.hypotheses import evaluate_hypotheses
from localglobal.analysis.interaction import interaction_images, patch_interaction
from localglobal.config import Hypothesis

# image → (original logit, single-patch logits (two patches), all-patches logit)
HAND = {
    "i0": (5.0, (4.5, 4.0), 3.0),   # S = 0.5 + 1.0 = 1.5, A = 2.0
    "i1": (6.0, (5.0, 5.5), 4.0),   # S = 1.0 + 0.5 = 1.5, A = 2.0
    "i2": (7.0, (6.0, 5.0), 3.5),   # S = 1.0 + 2.0 = 3.0, A = 3.5
    "i3": (8.0, (7.9, 7.8), 7.5),   # S = 0.1 + 0.2 = 0.3, A = 0.5
}
S = np.array([1.5, 1.5, 3.0, 0.3])
A = np.array([2.0, 2.0, 3.5, 0.5])


def hand_predictions(model: str = "m", size: int = 10, scale: float = 1.0) -> pd.DataFrame:
    rows = []
    for image_id, (original, singles, everything) in HAND.items():
        rows.append((model, image_id, "original", 0, "0", original))
        for j, value in enumerate(singles):
            rows.append((model, image_id, "patch", size, str(j),
                         original - scale * (original - value)))
        rows.append((model, image_id, "patch", size, "all",
                     original - scale * (original - everything)))
    return pd.DataFrame(rows, columns=["model", "image_id", "probe", "level", "variant",
                                       "true_logit"])


def test_single_drop_sum_and_all_drop_by_hand():
    images = interaction_images(hand_predictions())
    assert (images["status"] == "ok").all()
    np.testing.assert_allclose(images["single_drop_sum"], S)
    np.testing.assert_allclose(images["all_drop"], A)
    np.testing.assert_allclose(images["ratio"], A / S)
    assert (images["n_single"] == 2).all()


def test_summary_numbers_by_hand():
    summary = patch_interaction(hand_predictions(), n_resamples=300).summary
    row = summary.iloc[0]
    assert (row["model"], row["size"], row["n"], row["n_missing"]) == ("m", 10, 4, 0)
    assert row["r"] == pytest.approx(np.corrcoef(S, A)[0, 1])
    assert row["ratio"] == pytest.approx(A.mean() / S.mean())
    assert row["median_ratio"] == pytest.approx(np.median(A / S))
    slope, intercept = np.polyfit(S, A, 1)
    assert (row["slope"], row["intercept"]) == pytest.approx((slope, intercept))
    assert row["mean_single_drop_sum"] == pytest.approx(S.mean())
    assert row["ratio_ci_low"] <= row["ratio"] <= row["ratio_ci_high"]
    assert -1 <= row["r_ci_low"] <= row["r_ci_high"] <= 1


def test_images_without_all_patches_or_singles_are_counted():
    predictions = hand_predictions()
    no_all = (predictions["image_id"] == "i0") & (predictions["variant"] == "all")
    no_single = (predictions["image_id"] == "i1") & (predictions["variant"] == "1")
    result = patch_interaction(predictions[~no_all & ~no_single], n_resamples=200)
    status = result.images.set_index("image_id")["status"]
    assert status["i0"] == "no all-patches image"
    assert status["i1"] == "single patches missing"
    assert result.summary.iloc[0]["n"] == 2 and result.summary.iloc[0]["n_missing"] == 2
    assert any("no all-patches image" in note for note in result.notes)


def test_the_test_across_patch_sides_is_wilcoxon_on_the_correlations():
    rng = np.random.default_rng(0)
    tables = []
    for size in (10, 20, 30, 40, 50, 60):
        tables.append(hand_predictions("shape", size))  # A follows S
        noisy = hand_predictions("texture", size)
        is_all = noisy["variant"] == "all"
        noisy.loc[is_all, "true_logit"] = rng.normal(4, 2, is_all.sum())  # A ignores S
        tables.append(noisy)
    predictions = pd.concat(tables, ignore_index=True)
    interaction = patch_interaction(predictions, n_resamples=200).summary
    h = Hypothesis(id="H2", source="interaction", probe="patch", measure="correlation",
                   model_a="texture", model_b="shape", alternative="less")
    results = evaluate_hypotheses([h], predictions, interaction=interaction, n_resamples=200)
    row = results.table.iloc[0]
    r = interaction.pivot(index="size", columns="model", values="r")
    expected = stats.wilcoxon(r["texture"] - r["shape"], alternative="less")
    assert row["n"] == 6
    assert row["wilcoxon_p"] == pytest.approx(expected.pvalue)
    assert row["wilcoxon_stat"] == pytest.approx(expected.statistic)
    assert row["effect_size"] < 0
    assert list(results.pairs["level"]) == [10, 20, 30, 40, 50, 60]
