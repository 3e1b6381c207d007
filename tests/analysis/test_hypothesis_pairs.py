"""What a hypothesis pairs: drops, relative drops, logit drops, the both-correct subset."""

import numpy as np
import pandas as pd
import pytest

from localglobal.analysis.hypothesis_pairs import both_correct_images
from localglobal.analysis.hypothesis_sources import hypothesis_pairs, validate_hypotheses
from localglobal.config import Hypothesis, config_from_dict
from localglobal.errors import ConfigError

# image → model → (original prob, probe prob, original correct?)
TABLE = {
    "i0": {"a": (0.8, 0.2, True), "b": (0.5, 0.4, True)},
    "i1": {"a": (0.6, 0.3, True), "b": (0.4, 0.1, False)},
    "i2": {"a": (0.9, 0.9, False), "b": (0.9, 0.45, True)},
    "i3": {"a": (0.5, 0.25, True), "b": (0.2, 0.1, True)},
}


def predictions() -> pd.DataFrame:
    rows = []
    for image_id, models in TABLE.items():
        for model, (original, probe, correct) in models.items():
            logit = {"original": np.log(original), "smooth": np.log(probe)}
            for name, prob in (("original", original), ("smooth", probe)):
                rows.append({"model": model, "image_id": image_id, "probe": name,
                             "level": 0 if name == "original" else 1, "variant": "0",
                             "true_prob": prob, "true_logit": logit[name], "true_index": 3,
                             "pred_index": 3 if correct or name != "original" else 4})
    return pd.DataFrame(rows)


def pairs_of(**fields):
    h = Hypothesis(id="H", probe="smooth", model_a="a", model_b="b", **fields)
    return hypothesis_pairs(h, predictions())


def test_drops_relative_drops_and_logit_drops():
    drop = pairs_of(relative_to="original").table.set_index("image_id")
    assert drop.loc["i0", "value_a"] == pytest.approx(0.6)
    assert drop.loc["i0", "value_b"] == pytest.approx(0.1)
    ratio = pairs_of(relative_to="original", normalize="ratio").table.set_index("image_id")
    # (original − probe) / original: the share of the probability lost.
    assert ratio.loc["i0", "value_a"] == pytest.approx(0.75)
    assert ratio.loc["i0", "value_b"] == pytest.approx(0.2)
    assert ratio.loc["i3", "value_a"] == pytest.approx(0.5)
    logit = pairs_of(relative_to="original", measure="true_logit").table.set_index("image_id")
    assert logit.loc["i0", "value_a"] == pytest.approx(np.log(0.8 / 0.2))


def test_both_correct_keeps_the_images_both_models_get_right():
    assert both_correct_images(predictions(), "a", "b") == {"i0", "i3"}
    pairs = pairs_of(relative_to="original", subset="both-correct")
    assert sorted(pairs.table["image_id"]) == ["i0", "i3"]
    assert pairs.images == {"i0", "i3"}
    assert pairs.n_missing_a == pairs.n_missing_b == 0  # left out by design, not missing
    assert "subset both-correct: 2 of 4 images" in pairs.notes[0]


def test_a_zero_original_leaves_the_relative_drop_undefined_and_counted():
    table = predictions()
    table.loc[(table["model"] == "b") & (table["image_id"] == "i1")
              & (table["probe"] == "original"), "true_prob"] = 0.0
    h = Hypothesis(id="H", probe="smooth", model_a="a", model_b="b", relative_to="original",
                   normalize="ratio")
    pairs = hypothesis_pairs(h, table)
    assert "i1" not in set(pairs.table["image_id"]) and pairs.n_missing_b == 1


def test_ratio_without_relative_to_is_a_config_error_naming_the_hypothesis():
    data = {"analysis": {"hypotheses": [{"id": "R", "model_a": "a", "model_b": "b",
                                         "normalize": "ratio"}]}}
    with pytest.raises(ConfigError, match=r"hypothesis R: normalize = 'ratio'.*relative_to"):
        config_from_dict(data, "my.toml")
    data["analysis"]["hypotheses"][0]["subset"] = "most"
    with pytest.raises(ConfigError, match=r"analysis\.hypotheses\.0\.subset"):
        config_from_dict(data, "my.toml")


def test_the_interaction_takes_no_relative_to():
    with pytest.raises(ValueError, match="relative_to and normalize do not apply"):
        Hypothesis(id="I", source="interaction", measure="correlation", model_a="a",
                   model_b="b", relative_to="original")


def test_both_correct_needs_the_predicted_and_true_index():
    h = Hypothesis(id="H", probe="smooth", model_a="a", model_b="b", subset="both-correct")
    with pytest.raises(ValueError, match=r"needs the columns \['pred_index', 'true_index'\]"):
        validate_hypotheses([h], predictions().drop(columns="pred_index"))


def _attributions() -> pd.DataFrame:
    rows = []
    for k, image_id in enumerate(("i0", "i1", "i2")):
        for model, shift in (("a", 1.0), ("b", 0.0)):
            for proxy, value in (("canny", 0.1 * k), ("outline", 2.0 + k + shift)):
                rows.append({"model": model, "control": "none", "image_id": image_id,
                             "item_id": f"{image_id}/original/0/0", "probe": "original",
                             "edge_enrichment_pos": value + (shift if proxy == "canny"
                                                             else 0.0),
                             "proxy": proxy})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("proxy", ["canny", "outline"])
def test_an_attribution_hypothesis_reads_one_shape_proxy(proxy):
    h = Hypothesis(id="L", source="attributions", measure="edge_enrichment_pos",
                   model_a="a", model_b="b", proxy=proxy)
    table = _attributions()
    pairs = hypothesis_pairs(h, predictions(), table)
    chosen = table[(table["proxy"] == proxy) & (table["model"] == "a")]
    assert len(pairs.table) == 3  # one pair per image, not one per proxy
    assert sorted(pairs.table["value_a"]) == sorted(chosen["edge_enrichment_pos"])


def test_a_proxy_the_run_lacks_is_named():
    h = Hypothesis(id="L", source="attributions", measure="edge_enrichment_pos",
                   model_a="a", model_b="b", proxy="outline")
    table = _attributions()
    with pytest.raises(ValueError, match=r"proxy 'outline' is not in attributions\.parquet"):
        validate_hypotheses([h], predictions(), table[table["proxy"] == "canny"])
