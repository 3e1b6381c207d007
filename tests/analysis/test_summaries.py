"""Means with intervals per model and level: each image counts once, intervals stay in range."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from localglobal.analysis.summaries import lrp_summary, natural_range, probe_summary


def test_each_image_is_averaged_over_its_variants_before_the_interval():
    # Two images, three permutations each: the interval is over the 2 image means.
    rows = [{"model": "m", "image_id": image, "probe": "scramble", "level": 56,
             "variant": str(v), "true_prob": p}
            for image, probs in {"a": [0.2, 0.4, 0.6], "b": [0.5, 0.7, 0.9]}.items()
            for v, p in enumerate(probs)]
    summary = probe_summary(pd.DataFrame(rows))
    (row,) = summary.itertuples()
    image_means = np.array([0.4, 0.7])
    low, high = stats.t.interval(0.95, 1, loc=image_means.mean(), scale=stats.sem(image_means))
    assert row.n_images == 2
    assert row.mean == pytest.approx(0.55)
    # The raw t-interval leaves [0, 1]; the summary clips it to the probability's range.
    assert low < 0 and high > 1
    assert (row.ci_low, row.ci_high) == (0.0, 1.0)


def test_patch_singles_and_all_are_separate_groups():
    rows = [{"model": "m", "image_id": "a", "probe": "patch", "level": 70, "variant": v,
             "true_prob": p} for v, p in [("0", 0.8), ("1", 0.6), ("all", 0.1)]]
    summary = probe_summary(pd.DataFrame(rows)).set_index("group")
    assert summary.loc["single", "mean"] == pytest.approx(0.7)
    assert summary.loc["all", "mean"] == pytest.approx(0.1)


def test_lrp_intervals_respect_each_metrics_range():
    attributions = pd.DataFrame({
        "model": "m", "control": "none", "probe": "original",
        "pointing_hit": [1.0, 1.0, 1.0, 0.0], "n_pos": [0.0, 0.0, 0.0, 100.0],
        "logit": [-3.0, -1.0, 2.0, 9.0]})
    summary = lrp_summary(attributions).set_index("metric")
    assert summary.loc["pointing_hit", "ci_high"] == 1.0
    assert summary.loc["n_pos", "ci_low"] == 0.0
    assert "logit" not in summary.index  # not an LRP region statistic


def test_natural_ranges():
    assert natural_range("true_prob") == (0.0, 1.0)
    assert natural_range("share_pos_on_edges") == (0.0, 1.0)
    assert natural_range("n_neg") == (0.0, np.inf)
    assert natural_range("true_logit") == (-np.inf, np.inf)
