"""The statistics the analyses share: paired tests, Holm's correction and intervals.

Paired tests
    :func:`paired_test` compares paired values ``a`` and ``b`` one-sidedly (or
    two-sidedly). Given cluster labels (the image of every pair), it first averages
    each image's differences — the levels and variants of one image are not
    independent observations — and runs every statistic on those per-image means:
    the Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`, scipy's default
    choice of exact or normal-approximation p, the configured ``zero_method``),
    Shapiro–Wilk, the paired t-test, the matched-pairs rank-biserial effect size and
    the bootstrap interval of the mean (resampling images). The pair-level Wilcoxon
    and t-test, which treat every pair as independent (as the thesis did), are kept
    beside them only to reproduce its numbers.

Multiplicity
    :func:`holm` is Holm's step-down adjustment; untested (NaN) p-values are not
    part of the family.

Intervals
    Bootstrap intervals are percentile intervals over ``n_resamples`` resamples drawn
    from a seeded :class:`numpy.random.Generator`, so the same inputs and seed give
    the same interval. Resamples are drawn in chunks so memory stays bounded for
    large tables. :func:`wilson_interval` is the Wilson score interval of a
    proportion.

Correlations
    :func:`row_pearson` and :func:`row_partial_pearson` compute one correlation per
    row (per resample); :func:`fisher_z` is the variance-stabilising transform used
    to average and compare them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

# At most this many resampled values are held in memory at once.
_CHUNK_ELEMENTS = 4_000_000


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of resampled statistics (NaN ones skipped).

    NaN when fewer than half of the resamples are finite: an interval built on a
    minority of usable resamples would be misleading.
    """
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.size < 0.5 * values.size:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(
    statistic: Callable[..., np.ndarray],
    *arrays: np.ndarray,
    n_resamples: int = 2000,
    rng: np.random.Generator | None = None,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a statistic of one or more paired samples.

    Parameters
    ----------
    statistic
        Called with one (B, n) array per input (row b is resample b) and returning
        the B statistics; rows where it is undefined may be NaN.
    *arrays
        Samples of equal length n, resampled together (pairs stay pairs).
    n_resamples
        Number of bootstrap resamples B.
    rng
        Random generator; a fixed one makes the interval reproducible.
    level
        Coverage of the interval.

    Returns
    -------
    (low, high)
        NaN when the sample is empty or the statistic is undefined in most resamples.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    columns = [np.asarray(a, dtype=float) for a in arrays]
    n = len(columns[0]) if columns else 0
    if n == 0 or any(len(c) != n for c in columns):
        return float("nan"), float("nan")
    chunk = max(1, _CHUNK_ELEMENTS // n)
    results = []
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        index = rng.integers(0, n, size=(size, n))
        results.append(np.asarray(statistic(*(c[index] for c in columns)), dtype=float))
    return percentile_interval(np.concatenate(results), level)


def cluster_mean_ci(
    values: np.ndarray,
    clusters: np.ndarray | None = None,
    n_resamples: int = 2000,
    rng: np.random.Generator | None = None,
    level: float = 0.95,
) -> tuple[float, float]:
    """Bootstrap interval of a mean, resampling whole clusters (e.g. images).

    Values from the same cluster are not independent (several perturbations of
    one image), so the clusters are what is resampled; the statistic is the mean
    over every value of the resampled clusters. With one value per cluster this
    is the ordinary percentile bootstrap of the mean.

    Parameters
    ----------
    values
        Shape (n,).
    clusters
        Shape (n,) cluster labels; None treats every value as its own cluster.
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan"), float("nan")
    if clusters is None:
        sums, counts = values, np.ones_like(values)
    else:
        _, codes = np.unique(np.asarray(clusters), return_inverse=True)
        sums = np.bincount(codes, weights=values)
        counts = np.bincount(codes).astype(float)
    return bootstrap_ci(
        lambda s, c: s.sum(axis=1) / c.sum(axis=1),
        sums,
        counts,
        n_resamples=n_resamples,
        rng=rng,
        level=level,
    )


def row_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``x`` with the same row of ``y``.

    Parameters
    ----------
    x, y
        Shape (..., n): the correlation runs along the last axis, e.g. (B, n) for
        B resamples of n images.

    Returns
    -------
    Shape (...); NaN where either row is constant.
    """
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((x * x).sum(axis=-1) * (y * y).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.asarray((x * y).sum(axis=-1) / denominator, dtype=float)
    r[~np.isfinite(r)] = np.nan
    return np.clip(r, -1.0, 1.0)


def row_partial_pearson(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Partial correlation of ``x`` and ``y`` controlling for ``z``, along the last axis.

    ``(r_xy − r_xz·r_yz) / sqrt((1 − r_xz²)(1 − r_yz²))``: the correlation of the
    residuals of ``x`` and ``y`` after regressing each on ``z``. Used for the patch
    interaction, where an image's original logit drives both of its drops and can
    make them correlate without any additivity.

    Returns
    -------
    Shape (...); NaN where a row is constant, fewer than four values are given (no
    degree of freedom is left), or ``x`` or ``y`` is a linear function of ``z``.
    """
    r_xy, r_xz, r_yz = row_pearson(x, y), row_pearson(x, z), row_pearson(y, z)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.asarray((r_xy - r_xz * r_yz) / np.sqrt((1 - r_xz**2) * (1 - r_yz**2)),
                       dtype=float)
    if np.shape(x)[-1] < 4:
        r[...] = np.nan
    r[~np.isfinite(r)] = np.nan
    return np.clip(r, -1.0, 1.0)


#: |r| is capped below 1 before Fisher's transform, so that a perfect correlation
#: gives a large finite z (about 7.25) rather than infinity.
FISHER_Z_MAX_R = 1 - 1e-6


def fisher_z(r: np.ndarray | float) -> np.ndarray:
    """Fisher's z = artanh(r), with |r| capped at :data:`FISHER_Z_MAX_R`; NaN stays NaN."""
    return np.arctanh(np.clip(np.asarray(r, dtype=float), -FISHER_Z_MAX_R, FISHER_Z_MAX_R))


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (NaN for zero trials)."""
    if trials <= 0:
        return float("nan"), float("nan")
    z = stats.norm.ppf(0.5 + level / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


# --------------------------------------------------------------------------- paired tests


def cluster_means(values: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean of ``values`` within each cluster (e.g. the image of every pair).

    Parameters
    ----------
    values, clusters
        Shape (n,): the values and their cluster labels.

    Returns
    -------
    (labels, means)
        The sorted unique labels and, for each, the mean of its values.
    """
    values = np.asarray(values, dtype=float)
    labels, codes = np.unique(np.asarray(clusters), return_inverse=True)
    sums = np.bincount(codes, weights=values, minlength=labels.size)
    counts = np.bincount(codes, minlength=labels.size)
    return labels, sums / np.maximum(counts, 1)


def rank_biserial(diff: np.ndarray, zero_method: str = "wilcox") -> float:
    """Matched-pairs rank-biserial correlation of paired differences.

    ``(T+ − T−) / (T+ + T−)`` with T± the sums of the ranks of ``|diff|`` of the
    positive and negative differences, zeros treated as the Wilcoxon test treats
    them: ``"wilcox"`` drops them before ranking, ``"pratt"`` ranks then drops them,
    ``"zsplit"`` gives half their rank sum to each sign.

    Parameters
    ----------
    diff
        Shape (n,), the paired differences.
    zero_method
        As in :func:`scipy.stats.wilcoxon`.

    Returns
    -------
    float in [−1, 1]: +1 when every difference is positive; NaN when there is no
    non-zero difference to rank.
    """
    d = np.asarray(diff, dtype=float)
    if zero_method == "wilcox":
        d = d[d != 0]
    if d.size == 0:
        return float("nan")
    ranks = stats.rankdata(np.abs(d))
    plus = ranks[d > 0].sum()
    minus = ranks[d < 0].sum()
    if zero_method == "zsplit":
        zero = ranks[d == 0].sum()
        plus, minus = plus + zero / 2, minus + zero / 2
    total = plus + minus
    return float((plus - minus) / total) if total > 0 else float("nan")


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control).

    The k-th smallest of m p-values is multiplied by ``m − k + 1``; the running
    maximum keeps the adjusted values in the order of the raw ones, capped at 1.
    NaN p-values are not part of the family and stay NaN.

    Parameters
    ----------
    pvalues
        Shape (m,).

    Returns
    -------
    Shape (m,), adjusted p-values in the input order.
    """
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    valid = np.isfinite(p)
    family = p[valid]
    m = family.size
    if m == 0:
        return adjusted
    order = np.argsort(family, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * family[order])
    result = np.empty(m)
    result[order] = np.minimum(stepped, 1.0)
    adjusted[valid] = result
    return adjusted


#: Name of :func:`paired_test`'s primary test, per unit: ``hypotheses.parquet``'s ``test``.
WILCOXON_IMAGES = "Wilcoxon signed-rank on per-image mean differences"
WILCOXON_PAIRS = "Wilcoxon signed-rank on the pairs"
_OPPOSITE_DIRECTION = {"greater": "less", "less": "greater"}


@dataclass(frozen=True)
class PairedResult:
    """Statistics of one set of paired differences ``a − b``.

    ``n`` counts the units tested — the images when pairs are clustered, else the
    pairs — and every statistic but the ``*_pairs`` ones is computed on them.
    ``reverse_p`` is the one-sided Wilcoxon p of the opposite direction (NaN for a
    two-sided test). ``p`` is the primary p (the unit-level Wilcoxon), ``test`` its name.
    """

    n: int
    n_zero: int
    n_pairs: int
    mean_diff: float
    ci_low: float
    ci_high: float
    shapiro_p: float
    wilcoxon_stat: float
    wilcoxon_p: float
    t_p: float
    effect_size: float
    reverse_p: float = float("nan")
    wilcoxon_p_pairs: float = float("nan")
    t_p_pairs: float = float("nan")
    test: str = WILCOXON_PAIRS
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def p(self) -> float:
        """The primary uncorrected p (the Wilcoxon test on the units)."""
        return self.wilcoxon_p


def _wilcoxon(d: np.ndarray, alternative: str, zero_method: str) -> tuple[float, float, str]:
    """Statistic, p and (when undefined) the reason, of scipy's Wilcoxon test."""
    if d.size == 0 or not np.any(d != 0):
        return float("nan"), float("nan"), "all differences are zero"
    try:
        result = stats.wilcoxon(d, zero_method=zero_method, alternative=alternative)
    except ValueError as error:
        return float("nan"), float("nan"), f"Wilcoxon undefined: {error}"
    return float(result.statistic), float(result.pvalue), ""


def _t_test(d: np.ndarray, alternative: str) -> float:
    # The paired t-test is the one-sample t-test of the differences (scipy's ttest_rel).
    if d.size < 2:
        return float("nan")
    return float(stats.ttest_1samp(d, 0.0, alternative=alternative).pvalue)


def _shapiro(d: np.ndarray, notes: list[str], unit: str) -> float:
    if d.size < 3:
        notes.append(f"Shapiro–Wilk needs at least 3 {unit} (n={d.size})")
        return float("nan")
    if np.ptp(d) == 0:
        notes.append("all differences are equal: Shapiro–Wilk undefined")
        return float("nan")
    if d.size > 5000:
        notes.append("Shapiro–Wilk p is approximate for n > 5000")
    return float(stats.shapiro(d).pvalue)


def _unit_notes(d: np.ndarray, n_zero: int, zero_method: str, notes: list[str],
                unit: str) -> None:
    if n_zero == d.size:
        notes.append("all differences are zero")
    elif n_zero and zero_method == "wilcox":
        notes.append(f"{n_zero} zero differences dropped by the Wilcoxon test (wilcox)")
    if d.size < 2:
        notes.append(f"paired t-test needs at least 2 {unit}")


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    alternative: str = "greater",
    *,
    zero_method: str = "wilcox",
    n_resamples: int = 2000,
    rng: np.random.Generator | None = None,
    clusters: np.ndarray | None = None,
) -> PairedResult:
    """Test paired values ``a`` against ``b`` in the direction ``alternative``.

    Parameters
    ----------
    a, b
        Shape (n,), the paired values (finite).
    alternative
        ``"greater"``: a − b tends to be positive; ``"less"``; ``"two-sided"``.
    zero_method
        How :func:`scipy.stats.wilcoxon` treats zero differences.
    n_resamples, rng
        Bootstrap resamples and generator for the interval of the mean difference.
    clusters
        Shape (n,) labels of the unit of inference (the image). Given, every
        statistic runs on the per-cluster mean differences (n = clusters) and the
        pair-level tests go to ``wilcoxon_p_pairs``/``t_p_pairs``; None tests the
        pairs themselves.

    Returns
    -------
    PairedResult
        Undefined statistics are NaN, with the reason in ``notes``.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.shape} and {b.shape}")
    pairs = a - b
    name = WILCOXON_PAIRS if clusters is None else WILCOXON_IMAGES
    if pairs.size == 0:
        nan = float("nan")
        return PairedResult(0, 0, 0, nan, nan, nan, nan, nan, nan, nan, nan, test=name,
                            notes=("no complete pairs",))
    unit = "pairs" if clusters is None else "images"
    d = pairs if clusters is None else cluster_means(pairs, clusters)[1]
    notes: list[str] = []
    n_zero = int(np.count_nonzero(d == 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shapiro_p = _shapiro(d, notes, unit)
        _unit_notes(d, n_zero, zero_method, notes, unit)
        w_stat, w_p, why = _wilcoxon(d, alternative, zero_method)
        if why and why not in notes:
            notes.append(why)
        t_p = _t_test(d, alternative)
        if d.size >= 2 and not np.isfinite(t_p):
            notes.append("differences are constant: paired t-test undefined")
        opposite = _OPPOSITE_DIRECTION.get(alternative)
        reverse_p = _wilcoxon(d, opposite, zero_method)[1] if opposite else float("nan")
        if clusters is None:
            w_p_pairs, t_p_pairs = w_p, t_p
        else:
            w_p_pairs = _wilcoxon(pairs, alternative, zero_method)[1]
            t_p_pairs = _t_test(pairs, alternative)
    ci_low, ci_high = cluster_mean_ci(d, None, n_resamples=n_resamples, rng=rng)
    return PairedResult(
        n=int(d.size), n_zero=n_zero, n_pairs=int(pairs.size), mean_diff=float(d.mean()),
        ci_low=ci_low, ci_high=ci_high, shapiro_p=shapiro_p, wilcoxon_stat=w_stat,
        wilcoxon_p=w_p, t_p=t_p, effect_size=rank_biserial(d, zero_method),
        reverse_p=reverse_p, wilcoxon_p_pairs=w_p_pairs, t_p_pairs=t_p_pairs,
        test=name, notes=tuple(notes))


def reverse_wilcoxon_p(a: np.ndarray, b: np.ndarray, alternative: str,
                       zero_method: str = "wilcox") -> float:
    """One-sided Wilcoxon p of the direction opposite to ``alternative``.

    A hypothesis that is not supported may be so because there is no effect or
    because the effect runs the other way; this p tells them apart. NaN for a
    two-sided hypothesis or when the test is undefined. Pass per-image means to
    get the image-level p (as :func:`paired_test`'s ``reverse_p``).
    """
    opposite = _OPPOSITE_DIRECTION.get(alternative)
    if opposite is None:
        return float("nan")
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _wilcoxon(d, opposite, zero_method)[1]
