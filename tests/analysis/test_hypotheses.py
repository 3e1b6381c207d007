"""Paired hypothesis tests: scipy's statistics, Holm's correction, no silent drops."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from localglobal.analysis.hypotheses import (
    CONTRACT_COLUMNS,
    OPPOSITE,
    evaluate_hypotheses,
    holm,
    paired_test,
    rank_biserial,
    reverse_wilcoxon_p,
    validate_hypotheses,
)
from localglobal.config import Hypothesis


@pytest.fixture
def paired_arrays():
    rng = np.random.default_rng(3)
    a = rng.normal(0.3, 1.0, 30)
    b = rng.normal(0.0, 1.0, 30)
    b[:3] = a[:3]  # three zero differences
    return a, b


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
def test_statistics_equal_scipy_on_the_same_pairs(paired_arrays, alternative, zero_method):
    a, b = paired_arrays
    result = paired_test(a, b, alternative, zero_method=zero_method, n_resamples=200)
    expected = stats.wilcoxon(a - b, zero_method=zero_method, alternative=alternative)
    assert result.wilcoxon_stat == pytest.approx(expected.statistic)
    assert result.wilcoxon_p == pytest.approx(expected.pvalue)
    assert result.t_p == pytest.approx(stats.ttest_rel(a, b, alternative=alternative).pvalue)
    assert result.shapiro_p == pytest.approx(stats.shapiro(a - b).pvalue)
    assert result.n == 30 and result.n_zero == 3
    assert result.mean_diff == pytest.approx(np.mean(a - b))


def test_zero_differences_are_counted_and_named(paired_arrays):
    a, b = paired_arrays
    result = paired_test(a, b, "greater", zero_method="wilcox", n_resamples=200)
    assert result.n_zero == 3
    assert any("3 zero differences dropped" in note for note in result.notes)


def test_rank_biserial_is_the_signed_rank_sum_share():
    rng = np.random.default_rng(0)
    d = rng.normal(0.2, 1.0, 40)  # continuous: no ties, no zeros
    t_plus = stats.wilcoxon(d, alternative="greater").statistic
    total = d.size * (d.size + 1) / 2
    assert rank_biserial(d) == pytest.approx(2 * t_plus / total - 1)
    assert rank_biserial(np.array([0.5, 1.0, 2.0])) == 1.0
    assert rank_biserial(np.array([-0.5, -1.0, 0.0])) == -1.0
    assert np.isnan(rank_biserial(np.zeros(4)))


def test_effect_size_points_the_way_of_the_difference():
    rng = np.random.default_rng(1)
    b = rng.normal(0, 1, 50)
    assert paired_test(b + 1.0, b + rng.normal(0, 0.3, 50), n_resamples=200).effect_size > 0.5
    assert paired_test(b - 1.0, b, n_resamples=200).effect_size == -1.0


def test_holm_on_a_known_family():
    # Sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → monotone 0.06.
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])
    assert holm([0.6, 0.9])[1] == 1.0  # capped at one


@pytest.mark.parametrize("seed", range(5))
def test_holm_agrees_with_statsmodels(seed):
    p = np.random.default_rng(seed).uniform(0, 0.2, 9)
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])


def test_holm_leaves_untested_hypotheses_out_of_the_family():
    adjusted = holm([0.01, np.nan, 0.02])
    assert np.isnan(adjusted[1])
    np.testing.assert_allclose(adjusted[[0, 2]], multipletests([0.01, 0.02], method="holm")[1])


def test_too_few_pairs_give_nan_with_a_reason():
    result = paired_test(np.array([1.0, 2.0]), np.array([0.5, 1.0]), n_resamples=200)
    assert np.isnan(result.shapiro_p)
    assert any("at least 3" in note for note in result.notes)
    empty = paired_test(np.array([]), np.array([]))
    assert empty.n == 0 and np.isnan(empty.wilcoxon_p)


def test_bootstrap_interval_is_seeded_and_brackets_the_mean(paired_arrays):
    a, b = paired_arrays
    first = paired_test(a, b, rng=np.random.default_rng(7), n_resamples=500)
    second = paired_test(a, b, rng=np.random.default_rng(7), n_resamples=500)
    assert (first.ci_low, first.ci_high) == (second.ci_low, second.ci_high)
    assert first.ci_low < first.mean_diff < first.ci_high


# --------------------------------------------------------------------------- on tables


def _tiny_predictions():
    """Two models, three images, the original and one scramble level with two variants."""
    rows = []
    values = {"a": {"original": 0.9, "scramble": 0.3}, "b": {"original": 0.8, "scramble": 0.6}}
    for model in ("a", "b"):
        for k, image_id in enumerate(["i0", "i1", "i2"]):
            rows.append((model, image_id, "original", 0, "0", values[model]["original"]))
            for variant in ("0", "1"):
                rows.append((model, image_id, "scramble", 8, variant,
                             values[model]["scramble"] + 0.01 * k + 0.001 * int(variant)))
    table = pd.DataFrame(rows, columns=["model", "image_id", "probe", "level", "variant",
                                        "true_prob"])
    table["item_id"] = (table["image_id"] + "/" + table["probe"] + "/"
                        + table["level"].astype(str) + "/" + table["variant"])
    return table


def test_relative_to_original_compares_the_drops():
    predictions = _tiny_predictions()
    h = Hypothesis(id="H", probe="scramble", relative_to="original", model_a="a", model_b="b")
    results = evaluate_hypotheses([h], predictions, n_resamples=200)
    pairs = results.pairs
    assert len(pairs) == 6
    # a drops 0.9 − 0.3 − δ, b drops 0.8 − 0.6 − δ (same δ per pair): difference 0.4.
    np.testing.assert_allclose(pairs["diff"], 0.4)
    np.testing.assert_allclose(pairs["value_a"], 0.6 - 0.01 * pairs["image_id"].str[1].astype(int)
                               - 0.001 * pairs["variant"].astype(int))


def test_a_missing_pair_is_reported_not_dropped_silently():
    predictions = _tiny_predictions()
    lost = (predictions["model"] == "b") & (predictions["image_id"] == "i1") & (
        predictions["probe"] == "scramble") & (predictions["variant"] == "1")
    predictions = predictions[~lost]
    h = Hypothesis(id="H", probe="scramble", model_a="a", model_b="b")
    row = evaluate_hypotheses([h], predictions, n_resamples=200).table.iloc[0]
    assert row["n"] == 5
    assert row["n_missing_b"] == 1 and row["n_missing_a"] == 0 and row["n_missing"] == 1
    assert "1 pairs lack a value for model_b (b)" in row["note"]
    assert "i1/8/1" in row["note"]


def test_a_missing_original_counts_as_missing():
    predictions = _tiny_predictions()
    predictions = predictions[~((predictions["model"] == "a") & (predictions["image_id"] == "i2")
                                & (predictions["probe"] == "original"))]
    h = Hypothesis(id="H", probe="scramble", relative_to="original", model_a="a", model_b="b")
    row = evaluate_hypotheses([h], predictions, n_resamples=200).table.iloc[0]
    assert row["n"] == 4 and row["n_missing_a"] == 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [({"model_b": "c"}, "model 'c' is not in predictions.parquet; models there: a, b"),
     ({"probe": "twirl"}, "probe 'twirl' is not in predictions.parquet; probes there: "
                          "original, scramble"),
     ({"levels": [8, 99]}, "levels [99] of probe 'scramble' are not in predictions.parquet; "
                           "levels there: 8"),
     ({"measure": "nope"}, "measure 'nope' is not a numeric column")],
)
def test_a_hypothesis_naming_what_the_run_lacks_is_an_error(change, expected):
    h = Hypothesis(**{"id": "H", "probe": "scramble", "model_a": "a", "model_b": "b", **change})
    with pytest.raises(ValueError, match="hypothesis H") as error:
        validate_hypotheses([h], _tiny_predictions())
    assert expected in str(error.value)


def test_attribution_hypotheses_without_attributions_are_not_tested():
    h = Hypothesis(id="L", source="attributions", measure="share_pos_on_edges",
                   model_a="a", model_b="b")
    row = evaluate_hypotheses([h], _tiny_predictions(), n_resamples=200).table.iloc[0]
    assert row["verdict"] == "not tested" and not row["supported"]
    assert "attribute stage has not run" in row["note"]


def test_the_built_in_effects_of_the_fake_run_are_found(fake_run):
    run, config = fake_run.run, fake_run.config
    results = evaluate_hypotheses(config.analysis.hypotheses, run.read("predictions"),
                                  run.read("attributions"), n_resamples=200)
    table = results.table.set_index("hypothesis")
    assert list(results.table.columns[: len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    for hypothesis_id in ("SCR", "SCR-16", "SMO", "LRP-pos"):
        assert table.loc[hypothesis_id, "supported"], hypothesis_id
    assert table.loc["SCR", "effect_size"] > 0 and table.loc["SMO", "effect_size"] < 0
    assert table.loc["INT", "effect_size"] < 0  # b's correlation is the lower one
    assert table.loc["INT", "n"] == 5  # one pair per patch side
    assert not table.loc["NULL", "supported"]
    assert (table["p_holm"] >= table["wilcoxon_p"]).all()
    # Every test's pairs are kept, with their differences.
    counts = results.pairs.groupby("hypothesis").size()
    assert (counts.reindex(table.index).fillna(0) == table["n"]).all()


def test_repeated_pair_keys_are_an_error_naming_the_table(fake_run):
    attributions = fake_run.run.read("attributions")
    doubled = pd.concat([attributions, attributions.iloc[:1]])
    h = Hypothesis(id="L", source="attributions", measure="share_pos_on_edges",
                   model_a="a", model_b="b")
    with pytest.raises(ValueError, match=r"attributions\.parquet holds 2 rows of model 'a'"):
        evaluate_hypotheses([h], fake_run.run.read("predictions"), doubled, n_resamples=200)


def test_an_empty_family_gives_an_empty_table(fake_run):
    results = evaluate_hypotheses([], fake_run.run.read("predictions"))
    assert results.table.empty and list(results.table.columns[:16]) == CONTRACT_COLUMNS


def test_an_effect_against_the_stated_direction_is_named():
    rng = np.random.default_rng(4)
    a = rng.normal(0.0, 1.0, 40)
    predictions = pd.DataFrame({
        "model": ["x"] * 40 + ["y"] * 40, "image_id": [f"i{k}" for k in range(40)] * 2,
        "probe": "original", "level": 0, "variant": "0",
        "true_prob": np.concatenate([a, a + 1.0])})  # y clearly above x
    hypotheses = [Hypothesis(id="x-above", probe="original", model_a="x", model_b="y"),
                  Hypothesis(id="y-above", probe="original", model_a="y", model_b="x")]
    table = evaluate_hypotheses(hypotheses, predictions).table.set_index("hypothesis")
    assert table.loc["y-above", "verdict"] == "supported"
    assert table.loc["x-above", "verdict"] == OPPOSITE
    assert table.loc["x-above", "reverse_p_holm"] < 0.05
    assert reverse_wilcoxon_p(a, a + 1.0, "greater") == pytest.approx(
        stats.wilcoxon(a - (a + 1.0), alternative="less").pvalue)
    assert np.isnan(reverse_wilcoxon_p(a, a + 1.0, "two-sided"))


def test_pairs_missing_on_both_sides_are_named_once():
    rows = [{"model": m, "control": "none", "image_id": f"i{k}",
             "item_id": f"i{k}/original/0/0", "share_pos_on_edges": np.nan if k < 2 else v}
            for m, shift in (("a", 0.1), ("b", 0.0)) for k, v in
            enumerate(np.linspace(0.1, 0.5, 6) + shift)]
    h = Hypothesis(id="E", source="attributions", measure="share_pos_on_edges",
                   model_a="a", model_b="b")
    row = evaluate_hypotheses([h], _tiny_predictions(), attributions=pd.DataFrame(rows),
                              n_resamples=200).table.iloc[0]
    assert row["n"] == 4 and row["n_missing_a"] == 2 and row["n_missing_b"] == 2
    assert row["note"].startswith("2 pairs lack a value for both models, e.g. "
                                  "i0/original/0/0, i1/original/0/0")
    assert "model_a" not in row["note"] and "model_b" not in row["note"]
