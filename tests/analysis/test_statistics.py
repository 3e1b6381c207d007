"""Paired tests on the image level, Holm's correction, intervals and correlations."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from localglobal.analysis.statistics import (
    WILCOXON_IMAGES,
    cluster_means,
    fisher_z,
    holm,
    paired_test,
    rank_biserial,
    row_partial_pearson,
    row_pearson,
)


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



# --------------------------------------------------------------------------- image level


def _clustered(rng, n_images=30, n_variants=12, effect=0.0):
    """Paired values with an image-level random effect: pairs of an image correlate."""
    image_effect = rng.normal(0.0, 1.0, n_images)
    diff = effect + image_effect[:, None] + rng.normal(0.0, 1.0, (n_images, n_variants))
    b = rng.normal(0.0, 1.0, diff.shape)
    images = np.repeat(np.arange(n_images), n_variants)
    return b.ravel() + diff.ravel(), b.ravel(), images


def test_clustered_pairs_are_tested_on_the_per_image_means():
    rng = np.random.default_rng(11)
    a, b, images = _clustered(rng, n_images=25, n_variants=5, effect=0.3)
    # Scramble the order: the aggregation must follow the labels, not the positions.
    order = rng.permutation(a.size)
    a, b, images = a[order], b[order], images[order]
    result = paired_test(a, b, "greater", n_resamples=200, clusters=images)
    labels, means = cluster_means(a - b, images)
    by_hand = np.array([(a - b)[images == k].mean() for k in labels])
    np.testing.assert_allclose(means, by_hand)
    expected = stats.wilcoxon(by_hand, alternative="greater")
    assert result.n == 25 and result.n_pairs == 125
    assert result.test == WILCOXON_IMAGES
    assert result.wilcoxon_stat == pytest.approx(expected.statistic)
    assert result.wilcoxon_p == result.p == pytest.approx(expected.pvalue)
    assert result.t_p == pytest.approx(stats.ttest_1samp(by_hand, 0,
                                                         alternative="greater").pvalue)
    assert result.shapiro_p == pytest.approx(stats.shapiro(by_hand).pvalue)
    assert result.effect_size == pytest.approx(rank_biserial(by_hand))
    assert result.mean_diff == pytest.approx(by_hand.mean())
    assert result.reverse_p == pytest.approx(stats.wilcoxon(by_hand, alternative="less").pvalue)
    # The thesis's test on every pair is kept beside it.
    assert result.wilcoxon_p_pairs == pytest.approx(
        stats.wilcoxon(a - b, alternative="greater").pvalue)
    assert result.t_p_pairs == pytest.approx(stats.ttest_rel(a, b, alternative="greater").pvalue)


def _rejections(effect, n_datasets, seed, alpha=0.05):
    rng = np.random.default_rng(seed)
    image_level = pair_level = 0
    for _ in range(n_datasets):
        a, b, images = _clustered(rng, effect=effect)
        result = paired_test(a, b, "greater", n_resamples=100, clusters=images)
        image_level += result.wilcoxon_p < alpha
        pair_level += result.wilcoxon_p_pairs < alpha
    return image_level, pair_level


def test_the_image_level_test_holds_its_level_under_the_null():
    n_datasets, alpha = 400, 0.05
    image_level, pair_level = _rejections(0.0, n_datasets, seed=2024)
    # 99.9 % binomial band around α: a correct test falls outside it once in a thousand.
    low, high = stats.binom.interval(0.999, n_datasets, alpha)
    assert low <= image_level <= high
    # Treating the 12 variants of an image as independent rejects far too often: the
    # reason the image is the unit.
    assert pair_level > high


def test_the_image_level_test_finds_a_known_effect():
    image_level, _ = _rejections(0.7, 200, seed=7)
    assert image_level / 200 > 0.8


# --------------------------------------------------------------------------- correlations


def test_row_pearson_along_the_last_axis_equals_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(2, 3, 4, 20))
    r = row_pearson(x, y)
    assert r.shape == (3, 4)
    assert r[1, 2] == pytest.approx(np.corrcoef(x[1, 2], y[1, 2])[0, 1])
    assert np.isnan(row_pearson(np.ones(5), np.arange(5.0)))


def test_partial_correlation_is_the_correlation_of_residuals():
    rng = np.random.default_rng(1)
    z = rng.normal(size=40)
    x = 2 * z + rng.normal(size=40)
    y = -z + 0.5 * x + rng.normal(size=40)

    def residual(v):
        slope, intercept = np.polyfit(z, v, 1)
        return v - (slope * z + intercept)

    expected = np.corrcoef(residual(x), residual(y))[0, 1]
    assert float(row_partial_pearson(x, y, z)) == pytest.approx(expected)
    assert np.isnan(row_partial_pearson(x[:3], y[:3], z[:3]))  # no degree of freedom left


def test_fisher_z_is_artanh_and_finite_at_one():
    assert float(fisher_z(0.5)) == pytest.approx(np.arctanh(0.5))
    assert np.isfinite(fisher_z(1.0)) and float(fisher_z(-1.0)) == -float(fisher_z(1.0))
    assert np.isnan(fisher_z(np.nan))
