"""Hypotheses on run tables: image-level tests, the verdict rule, no silent drops."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from localglobal.analysis import hypotheses as hypotheses_module
from localglobal.analysis.hypotheses import (
    CONTRACT_COLUMNS,
    OPPOSITE,
    VERDICT_RULE,
    StatisticalTestSettings,
    candidate_hypotheses,
    choose_hypotheses,
    evaluate_hypotheses,
    family_verdicts,
    thesis_hypotheses,
    validate_hypotheses,
)
from localglobal.analysis.statistics import WILCOXON_IMAGES, reverse_wilcoxon_p
from localglobal.config import Hypothesis, builtin_config, load_config

FEW_RESAMPLES = StatisticalTestSettings(n_resamples=200)
MORE_RESAMPLES = StatisticalTestSettings(n_resamples=500)


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
    results = evaluate_hypotheses([h], predictions, settings=FEW_RESAMPLES)
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
    row = evaluate_hypotheses([h], predictions, settings=FEW_RESAMPLES).table.iloc[0]
    # n counts images (the unit of the test); every image still has a complete pair.
    assert row["n"] == 3 and row["n_pairs"] == 5
    assert row["n_missing_b"] == 1 and row["n_missing_a"] == 0 and row["n_missing"] == 1
    assert "1 pairs lack a value for model_b (b)" in row["note"]
    assert "i1/8/1" in row["note"]


def test_a_missing_original_counts_as_missing():
    predictions = _tiny_predictions()
    predictions = predictions[~((predictions["model"] == "a") & (predictions["image_id"] == "i2")
                                & (predictions["probe"] == "original"))]
    h = Hypothesis(id="H", probe="scramble", relative_to="original", model_a="a", model_b="b")
    row = evaluate_hypotheses([h], predictions, settings=FEW_RESAMPLES).table.iloc[0]
    assert row["n"] == 2 and row["n_pairs"] == 4 and row["n_missing_a"] == 2


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
    row = evaluate_hypotheses([h], _tiny_predictions(), settings=FEW_RESAMPLES).table.iloc[0]
    assert row["verdict"] == "not tested" and not row["supported"]
    assert "attribute stage has not run" in row["note"]


def test_the_built_in_effects_of_the_fake_run_are_found(fake_run):
    run, config = fake_run.run, fake_run.config
    results = evaluate_hypotheses(config.analysis.hypotheses, run.read("predictions"),
                                  run.read("attributions"), settings=FEW_RESAMPLES)
    table = results.table.set_index("hypothesis")
    assert list(results.table.columns[: len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    for hypothesis_id in ("SCR", "SCR-16", "SMO", "LRP-pos"):
        assert table.loc[hypothesis_id, "supported"], hypothesis_id
    assert table.loc["SCR", "effect_size"] > 0 and table.loc["SMO", "effect_size"] < 0
    assert table.loc["INT", "effect_size"] < 0  # b's correlation is the lower one
    # The interaction is tested over the images; its pairs are the patch sides.
    assert table.loc["INT", "n"] == 10 and table.loc["INT", "n_pairs"] == 5
    assert not table.loc["NULL", "supported"]
    assert (table["p_holm"] >= table["p"]).all()
    # Every test's pairs are kept, with their differences.
    counts = results.pairs.groupby("hypothesis").size()
    assert (counts.reindex(table.index).fillna(0) == table["n_pairs"]).all()


def test_repeated_pair_keys_are_an_error_naming_the_table(fake_run):
    attributions = fake_run.run.read("attributions")
    doubled = pd.concat([attributions, attributions.iloc[:1]])
    h = Hypothesis(id="L", source="attributions", measure="share_pos_on_edges",
                   model_a="a", model_b="b")
    with pytest.raises(ValueError, match=r"attributions\.parquet holds 2 rows of model 'a'"):
        evaluate_hypotheses([h], fake_run.run.read("predictions"), doubled, settings=FEW_RESAMPLES)


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
                              settings=FEW_RESAMPLES).table.iloc[0]
    assert row["n"] == 4 and row["n_missing_a"] == 2 and row["n_missing_b"] == 2
    assert row["note"].startswith("2 pairs lack a value for both models, e.g. "
                                  "i0/original/0/0, i1/original/0/0")
    assert "model_a" not in row["note"] and "model_b" not in row["note"]


# --------------------------------------------------------------------------- image level


def _clustered_predictions(n_images=12, n_variants=3, shift=0.2, seed=5):
    """Two models, one probe level with several variants per image, image effects."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_images):
        image_effect = rng.normal(0, 0.5)
        for variant in range(n_variants):
            base = rng.normal(0.5, 0.1)
            rows.append(("x", f"i{k:02d}", "scramble", 8, str(variant), base))
            rows.append(("y", f"i{k:02d}", "scramble", 8, str(variant),
                         base - shift - image_effect + rng.normal(0, 0.1)))
    return pd.DataFrame(rows, columns=["model", "image_id", "probe", "level", "variant",
                                       "true_prob"])


def test_the_primary_test_runs_on_per_image_means():
    predictions = _clustered_predictions()
    h = Hypothesis(id="H", probe="scramble", model_a="x", model_b="y")
    row = evaluate_hypotheses([h], predictions, settings=FEW_RESAMPLES).table.iloc[0]
    wide = predictions.pivot_table(index=["image_id", "variant"], columns="model",
                                   values="true_prob")
    diff = wide["x"] - wide["y"]
    means = diff.groupby(level="image_id").mean().to_numpy()
    assert row["n"] == row["n_images"] == 12 and row["n_pairs"] == 36
    assert row["test"] == WILCOXON_IMAGES
    assert row["p"] == row["wilcoxon_p"] == pytest.approx(
        stats.wilcoxon(means, alternative="greater").pvalue)
    assert row["wilcoxon_stat"] == pytest.approx(
        stats.wilcoxon(means, alternative="greater").statistic)
    assert row["t_p"] == pytest.approx(stats.ttest_1samp(means, 0, alternative="greater").pvalue)
    assert row["shapiro_p"] == pytest.approx(stats.shapiro(means).pvalue)
    assert row["mean_diff"] == pytest.approx(means.mean())
    assert row["wilcoxon_p_pairs"] == pytest.approx(
        stats.wilcoxon(diff.to_numpy(), alternative="greater").pvalue)
    assert row["t_p_pairs"] == pytest.approx(
        stats.ttest_1samp(diff.to_numpy(), 0, alternative="greater").pvalue)


def test_the_table_keeps_the_contract_and_adds_the_new_columns():
    h = Hypothesis(id="H", probe="scramble", model_a="x", model_b="y")
    table = evaluate_hypotheses([h], _clustered_predictions(), settings=FEW_RESAMPLES).table
    assert list(table.columns[: len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    assert {"p", "test", "n_pairs", "wilcoxon_p_pairs", "t_p_pairs", "reverse_p",
            "normalize", "subset"} <= set(table.columns)


def test_verdicts_spend_half_of_alpha_on_each_direction():
    table = pd.DataFrame({
        "p": [0.02, 0.001, 0.9, 0.03], "reverse_p": [0.98, 0.999, 0.002, np.nan],
        "effect_size": [0.5, 0.6, -0.7, 0.2],
        "alternative": ["greater", "greater", "greater", "two-sided"]})
    verdicts = family_verdicts(table, alpha=0.05)
    # Holm over p: 0.001·4 = 0.004, 0.02·3 = 0.06, 0.03·2 = 0.06, 0.9; α/2 = 0.025.
    assert list(verdicts["verdict"]) == ["not supported", "supported", OPPOSITE,
                                         "not supported"]
    # Holm over the reversed p: 0.002·3 = 0.006 < 0.025, the opposite holds.
    assert verdicts.loc[2, "reverse_p_holm"] == pytest.approx(0.006)
    # The rule the report quotes is the module's own paragraph.
    assert " ".join(VERDICT_RULE.split()) in " ".join(hypotheses_module.__doc__.split())


def test_the_verdict_rule_keeps_the_family_wise_error_at_alpha():
    # Null families of one-sided tests (exact uniform p, reverse p = 1 − p): how often
    # does any hypothesis come out "supported" or "the opposite holds"?
    rng = np.random.default_rng(3)
    n_families, m, alpha = 1000, 6, 0.05
    errors = 0
    for _ in range(n_families):
        p = rng.uniform(size=m)
        family = pd.DataFrame({"p": p, "reverse_p": 1 - p, "effect_size": 0.5 - p,
                               "alternative": "greater"})
        verdicts = family_verdicts(family, alpha)["verdict"]
        errors += bool((verdicts != "not supported").any())
    assert errors / n_families <= stats.binom.ppf(0.999, n_families, alpha) / n_families
    # Without the split the same families would err at about 2α.
    assert errors / n_families < 0.07


THESIS_LEVELS = {"original": [0], "scramble": [28, 112], "patch": [10, 70], "smooth": [1, 5]}


def _thesis_like_predictions(models, probes=THESIS_LEVELS, seed=2):
    """Random predictions of ``models`` on every probe level that the thesis tests."""
    rng = np.random.default_rng(seed)
    rows = [(model, f"i{k}", probe, level, "0")
            for model in models for k in range(4)
            for probe, levels in probes.items() for level in levels]
    table = pd.DataFrame(rows, columns=["model", "image_id", "probe", "level", "variant"])
    return table.assign(true_prob=rng.random(len(table)), true_logit=rng.normal(size=len(table)),
                        true_index=1, pred_index=rng.integers(0, 2, len(table)))


def _attributions(models):
    measures = ["share_pos_on_edges", "share_neg_on_edges", "edge_enrichment_pos",
                "edge_enrichment_neg"]
    rows = [{"model": m, "control": "none", "image_id": f"i{k}",
             **{c: 0.1 * k for c in measures}} for m in models for k in range(4)]
    return pd.DataFrame(rows)


def test_unset_hypotheses_are_the_thesis_set_on_a_run_of_the_thesis_models():
    models = sorted({m for h in thesis_hypotheses() for m in (h.model_a, h.model_b)})
    chosen, notes = choose_hypotheses(None, _thesis_like_predictions(models),
                                      _attributions(models))
    assert [h.id for h in chosen] == [h.id for h in thesis_hypotheses()]
    assert len(notes) == 1 and "unset" in notes[0]


def test_unset_hypotheses_keep_only_those_the_run_can_test():
    # The two ResNets without the SE models, and no smoothing: H3.1/H3.2 name absent
    # models, the H3 family an absent probe.
    predictions = _thesis_like_predictions(
        ["resnet50", "sin-resnet50"], {k: v for k, v in THESIS_LEVELS.items() if k != "smooth"})
    chosen, (note,) = choose_hypotheses(None, predictions)
    ids = {h.id for h in chosen}
    assert {"H1", "H1-b112-img", "H2", "LRP-pos"} <= ids
    assert not any(i.startswith("H3") for i in ids)
    assert "left out: " in note and "H3.1" in note
    # Each kept hypothesis passes the strict check that an explicit list gets.
    validate_hypotheses(chosen, predictions)


def test_unset_hypotheses_on_ones_own_models_test_each_probe_on_each_model():
    predictions = _thesis_like_predictions(["mine", "yours"])
    chosen, (note,) = choose_hypotheses(None, predictions, _attributions(["mine", "yours"]))
    assert [h.id for h in chosen] == [f"{probe}:{model}" for model in ("mine", "yours")
                                      for probe in ("scramble", "patch", "smooth")]
    assert {(h.source, h.relative_to, h.alternative, h.model_b) for h in chosen} == {
        ("probe-effect", "original", "greater", None)}
    assert "no thesis hypothesis fits this run's models (mine, yours)" in note
    # A run in another label space compares the probability in that space.
    chosen, _ = choose_hypotheses(None, predictions.assign(subset_true_prob=0.5),
                                  measure="subset_true_prob")
    assert {h.measure for h in chosen} == {"subset_true_prob"}


def test_a_run_without_originals_gets_no_default_hypothesis_and_a_note():
    predictions = _thesis_like_predictions(["mine"], {"scramble": [28]})
    chosen, (note,) = choose_hypotheses(None, predictions)
    assert chosen == [] and "no probed and original images" in note


def test_explicit_hypotheses_naming_an_absent_model_are_still_an_error():
    predictions = _thesis_like_predictions(["mine", "yours"])
    with pytest.raises(ValueError, match=r"model 'resnet50' is not in predictions\.parquet"):
        choose_hypotheses(thesis_hypotheses()[:1], predictions)
    explicit = [Hypothesis(id="X", probe="scramble", model_a="mine", model_b="yours")]
    assert choose_hypotheses(explicit, predictions) == (explicit, [])
    assert choose_hypotheses([], predictions) == ([], [])


def test_the_candidates_follow_the_configured_models():
    assert candidate_hypotheses(None, ["mine"]) == []
    pair = [h.id for h in candidate_hypotheses(None, ["resnet50", "sin-resnet50"])]
    assert "H1" in pair and "H3.1" not in pair
    explicit = [Hypothesis(id="X", probe="scramble", model_a="mine", model_b="yours")]
    assert candidate_hypotheses(explicit, []) == explicit


def test_the_thesis_hypotheses_load_from_the_packaged_thesis_config():
    thesis_ids = ["H1", "H1-b112", "H2", "H3", "H3-k1", "H3.1", "H3.2", "LRP-pos", "LRP-neg"]
    # Each as the thesis computed it, followed by its corrected form.
    assert [h.id for h in thesis_hypotheses()] == [
        i for thesis_id in thesis_ids for i in (thesis_id, f"{thesis_id}-img")]
    assert thesis_hypotheses() == load_config(builtin_config("thesis")).analysis.hypotheses


def test_the_corrected_hypotheses_measure_without_baseline_effects():
    by_id = {h.id: h for h in thesis_hypotheses()}
    for name in ("H1", "H1-b112", "H3", "H3-k1", "H3.1", "H3.2"):
        corrected = by_id[f"{name}-img"]
        assert (corrected.relative_to, corrected.normalize, corrected.subset) == (
            "original", "ratio", "both-correct")
        assert corrected.probe == by_id[name].probe and corrected.levels == by_id[name].levels
    assert by_id["H2-img"].measure == "partial_correlation"
    assert by_id["LRP-pos-img"].measure == "edge_enrichment_pos"
    assert by_id["LRP-neg-img"].measure == "edge_enrichment_neg"


def _one_model_predictions(probe="eidolon", levels=("1-10-10", "4-10-10"), n_images=12):
    """One model whose probability drops by a known amount per image under ``probe``."""
    rows = []
    for k in range(n_images):
        original = 0.9 - 0.01 * k
        rows.append(("m", f"i{k:02d}", "original", "0", "0", original))
        for j, level in enumerate(levels):
            for variant in ("0", "1"):
                drop = 0.02 * k - 0.05 + 0.01 * j + 0.003 * int(variant)
                rows.append(("m", f"i{k:02d}", probe, level, variant, original - drop))
    table = pd.DataFrame(rows, columns=["model", "image_id", "probe", "level", "variant",
                                        "true_prob"])
    table["item_id"] = (table["image_id"] + "/" + table["probe"] + "/" + table["level"]
                        + "/" + table["variant"])
    return table


def test_a_probe_effect_is_a_one_sample_test_of_each_images_mean_drop():
    predictions = _one_model_predictions()
    (h,) = hypotheses_module.probe_effect_hypotheses(predictions)
    assert (h.id, h.source, h.model_a, h.model_b) == ("eidolon:m", "probe-effect", "m", None)
    results = evaluate_hypotheses([h], predictions, settings=MORE_RESAMPLES)
    row = results.table.iloc[0]
    drops = predictions[predictions["probe"] == "eidolon"].assign(
        drop=lambda t: t["image_id"].map(
            predictions[predictions["probe"] == "original"].set_index("image_id")["true_prob"])
        - t["true_prob"]).groupby("image_id")["drop"].mean()
    # n counts images; the pairs are the image's levels and variants.
    assert (row["n"], row["n_pairs"]) == (12, 48)
    assert row["mean_diff"] == pytest.approx(drops.mean())
    assert row["wilcoxon_p"] == pytest.approx(
        stats.wilcoxon(drops.to_numpy(), alternative="greater").pvalue)
    assert row["model_b"] == "" and row["direction"] == "drop in true_prob under eidolon: m > 0"
    np.testing.assert_allclose(results.pairs["value_b"], 0.0)
    assert row["verdict"] == "supported"


def test_probe_effects_are_one_holm_family_and_a_harmless_probe_is_not_supported():
    hurts = _one_model_predictions("scramble", ("28",))
    harmless = _one_model_predictions("colour", ("cr",))
    harmless = harmless[harmless["probe"] == "colour"].assign(
        true_prob=lambda t: t["image_id"].map(
            hurts[hurts["probe"] == "original"].set_index("image_id")["true_prob"])
        # changes whose signs balance over the images
        + 0.01 * np.where(t["image_id"].str[-1].astype(int) % 2 == 0, 1, -1)
        * (1 + t["image_id"].str[-2:].astype(int) // 2))
    predictions = pd.concat([hurts, harmless], ignore_index=True)
    chosen, _ = choose_hypotheses(None, predictions)
    table = evaluate_hypotheses(chosen, predictions, settings=MORE_RESAMPLES).table.set_index(
        "hypothesis")
    assert list(table.index) == ["scramble:m", "colour:m"]
    assert table.loc["scramble:m", "verdict"] == "supported"
    assert table.loc["colour:m", "verdict"] == "not supported"
    np.testing.assert_allclose(table["p_holm"], hypotheses_module.holm(table["p"].to_numpy()))


def test_a_probe_effect_names_one_model():
    with pytest.raises(ValueError, match="tests one model"):
        Hypothesis(id="X", source="probe-effect", probe="scramble", model_a="a", model_b="b")
    with pytest.raises(ValueError, match="give model_b"):
        Hypothesis(id="X", probe="scramble", model_a="a")
    h = Hypothesis(id="X", source="probe-effect", probe="scramble", model_a="a")
    assert h.relative_to == "original"
    validate_hypotheses([h], _tiny_predictions())
    with pytest.raises(ValueError, match="model 'c' is not in predictions"):
        validate_hypotheses([h.model_copy(update={"model_a": "c"})], _tiny_predictions())


def test_every_configurable_source_is_in_the_source_table():
    from typing import get_args

    from localglobal.analysis.hypothesis_sources import SOURCES

    assert set(SOURCES) == set(get_args(Hypothesis.model_fields["source"].annotation))
