"""Interval estimates shared by the analyses: bootstrap and Wilson intervals.

Bootstrap intervals are percentile intervals over ``n_resamples`` resamples drawn from
a seeded :class:`numpy.random.Generator`, so the same inputs and seed give the same
interval. Resamples are drawn in chunks so memory stays bounded for large tables.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

# At most this many resampled values are held in memory at once.
_CHUNK_ELEMENTS = 4_000_000


def _percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    # An interval built on a minority of usable resamples would be misleading.
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
    return _percentile_interval(np.concatenate(results), level)


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
        Shape (B, n).

    Returns
    -------
    Shape (B,); NaN where either row is constant.
    """
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    denominator = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x * y).sum(axis=1) / denominator
    r[~np.isfinite(r)] = np.nan
    return np.clip(r, -1.0, 1.0)


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
