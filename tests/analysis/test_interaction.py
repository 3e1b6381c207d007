"""Patch interaction: S and A on a hand-made table, and H2 with images as the unit."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from localglobal.analysis.hypotheses import StatisticalTestSettings, evaluate_hypotheses
from localglobal.analysis.interaction import (
    interaction_images,
    interaction_test,
    patch_interaction,
)
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


def test_the_thesis_test_across_patch_sides_is_kept_as_the_pair_level_wilcoxon():
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
    results = evaluate_hypotheses([h], predictions, interaction=interaction,
                                  settings=StatisticalTestSettings(n_resamples=200))
    row = results.table.iloc[0]
    r = interaction.pivot(index="size", columns="model", values="r")
    expected = stats.wilcoxon(r["texture"] - r["shape"], alternative="less")
    # The thesis's unit (patch sides) is kept beside the image-level test.
    assert row["n_pairs"] == 6 and row["n"] == 4
    assert row["wilcoxon_p_pairs"] == pytest.approx(expected.pvalue)
    assert row["effect_size"] < 0
    assert list(results.pairs["level"]) == [10, 20, 30, 40, 50, 60]


# --------------------------------------------------------------------------- images as unit


SIDES = (20, 40, 60)


def two_models(n_images: int = 30, seed: int = 0, additive_scale: float = 1.0) -> pd.DataFrame:
    """``additive``: the all-patches drop is the sum of the single drops (plus noise);
    ``holistic``: it does not follow the sum at all. Each has its own original logits."""
    rng = np.random.default_rng(seed)
    rows = []
    for model in ("additive", "holistic"):
        scale = additive_scale if model == "additive" else 1.0
        for k in range(n_images):
            image_id, original = f"i{k:02d}", rng.normal(8.0, 1.0)
            rows.append((model, image_id, "original", 0, "0", original))
            sensitivity = rng.uniform(0.2, 2.0)
            for size in SIDES:
                drops = scale * sensitivity * size / 40 * rng.uniform(0.5, 1.5, 4)
                for j, drop in enumerate(drops):
                    rows.append((model, image_id, "patch", size, str(j), original - drop))
                everything = (drops.sum() + rng.normal(0, 0.1 * scale) if model == "additive"
                              else rng.uniform(0.5, 6.0))
                rows.append((model, image_id, "patch", size, "all", original - everything))
    return pd.DataFrame(rows, columns=["model", "image_id", "probe", "level", "variant",
                                       "true_logit"])


H2 = Hypothesis(id="H2", source="interaction", probe="patch", measure="correlation",
                model_a="holistic", model_b="additive", alternative="less")


@pytest.mark.parametrize("method", ["permutation", "bootstrap"])
def test_h2_over_images_finds_the_additive_model(method):
    predictions = two_models()
    row = evaluate_hypotheses([H2], predictions,
                              settings=StatisticalTestSettings(interaction_method=method)).table.iloc[0]
    assert row["n"] == 30 and row["n_pairs"] == len(SIDES)
    assert row["test"].startswith("permutation within images" if method == "permutation"
                                  else "bootstrap over images")
    assert row["p"] < 0.005 and row["supported"] and row["verdict"] == "supported"
    assert row["ci_high"] < 0 and row["effect_size"] == row["mean_diff"] < 0


def test_h2_statistic_is_the_mean_fisher_z_difference_by_hand():
    images = interaction_images(two_models())
    result = interaction_test(images, "holistic", "additive", n_resamples=200,
                              rng=np.random.default_rng(0))
    z = []
    for size in SIDES:
        r = {}
        for model in ("holistic", "additive"):
            rows = images[(images["model"] == model) & (images["size"] == size)]
            r[model] = np.corrcoef(rows["single_drop_sum"], rows["all_drop"])[0, 1]
        z.append(np.arctanh(r["holistic"]) - np.arctanh(r["additive"]))
    assert result.statistic == pytest.approx(np.mean(z))
    assert result.n == 30 and result.n_sides == 3
    assert result.reverse_p > 0.5


def test_h2_permutation_p_is_seeded():
    images = interaction_images(two_models(n_images=12))
    first, second = (interaction_test(images, "holistic", "additive", n_resamples=300,
                                      rng=np.random.default_rng(9)) for _ in range(2))
    assert first == second


def null_images(rng: np.random.Generator, n_images: int = 20) -> pd.DataFrame:
    """S and A of two models with the same S–A correlation, b's values ten times a's."""
    rows = []
    for model, scale in (("a", 1.0), ("b", 10.0)):
        z = rng.normal(8.0, 1.0, n_images)
        for size in SIDES:
            s = scale * rng.gamma(2.0, 1.0, n_images)
            a = s + scale * rng.normal(0, 1.0, n_images)
            rows.append(pd.DataFrame({"model": model, "size": size, "z_original": z,
                                      "image_id": [f"i{k}" for k in range(n_images)],
                                      "single_drop_sum": s, "all_drop": a, "status": "ok"}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("method", ["permutation", "bootstrap"])
def test_the_h2_test_holds_its_level_when_the_models_differ_in_scale(method):
    # Equal correlations, one model's logits ten times larger: the null holds, the
    # exchangeability of the raw values does not (the permutation standardises first).
    rng = np.random.default_rng(12)
    rejections, n_datasets, alpha = 0, 200, 0.05
    for _ in range(n_datasets):
        result = interaction_test(null_images(rng), "a", "b", method=method,
                                  n_resamples=199, rng=rng)
        rejections += result.p < alpha
    assert rejections <= stats.binom.ppf(0.999, n_datasets, alpha)


def test_partial_correlation_given_the_original_is_in_the_summary():
    predictions = two_models()
    interaction = patch_interaction(predictions, n_resamples=100)
    row = interaction.summary.query("model == 'additive' and size == 40").iloc[0]
    images = interaction.images.query("model == 'additive' and size == 40")
    s, a, z = (images[c].to_numpy() for c in ("single_drop_sum", "all_drop", "z_original"))

    def residual(v):
        slope, intercept = np.polyfit(z, v, 1)
        return v - (slope * z + intercept)

    assert row["partial_r"] == pytest.approx(np.corrcoef(residual(s), residual(a))[0, 1])
    h = H2.model_copy(update={"id": "H2-img", "measure": "partial_correlation"})
    result = evaluate_hypotheses([h], predictions,
                                 settings=StatisticalTestSettings(n_resamples=500)).table.iloc[0]
    assert result["supported"] and result["test"].endswith(
        "Fisher-z(partial_r_a) − Fisher-z(partial_r_b)")


def test_too_few_complete_images_give_nan_with_a_reason():
    images = interaction_images(two_models(n_images=2))
    result = interaction_test(images, "holistic", "additive", n_resamples=100)
    assert result.n == 2 and np.isnan(result.p)
    assert any("at least 3 complete images" in note for note in result.notes)
