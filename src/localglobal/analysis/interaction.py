"""Patch interaction: do the drops caused by single patches add up to the drop of all?

For model m, patch side p and image i with true-class logit z (the measure is a
parameter; the logit by default):

* single drop sum ``S = Σ_j (z_original − z_patch_j)`` over the single-patch images;
* all drop ``A = z_original − z_all`` for the image with every patch at once.

A model that combines evidence from parts independently has A ≈ S and a high
correlation of S and A across images; one whose decision hinges on the arrangement
of parts (global shape) reacts to the whole set of patches differently from the sum
of its parts. Per (m, p) we report the Pearson correlation of S and A over images,
the ratio of means ``mean(A) / mean(S)`` and the median per-image ratio ``A / S``,
each with a bootstrap 95 % interval over images, the least-squares line of A on S, and
the partial correlation of S and A given the original value ``z_original``
(``partial_r``): an image whose original logit is high can lose more to every patch,
which makes S and A correlate across images without any additivity.

Comparing two models (H2) takes images, not patch sides, as the unit:
:func:`interaction_test` computes the mean over patch sides of
``Fisher-z(r_a) − Fisher-z(r_b)`` on the images both models have at every side, with
a p-value from swapping the two models' values within images (permutation) or from
a bootstrap over images (the same resample for both models), n = images.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from localglobal.analysis.statistics import (
    bootstrap_ci,
    fisher_z,
    percentile_interval,
    row_partial_pearson,
    row_pearson,
)

IMAGE_COLUMNS = ["model", "size", "image_id", "z_original", "n_single", "n_single_expected",
                 "single_drop_sum", "all_drop", "ratio", "status"]
SUMMARY_COLUMNS = ["model", "size", "n", "n_missing", "r", "r_ci_low", "r_ci_high", "ratio",
                   "ratio_ci_low", "ratio_ci_high", "median_ratio", "median_ratio_ci_low",
                   "median_ratio_ci_high", "n_ratio_undefined", "mean_single_drop_sum",
                   "mean_all_drop", "slope", "intercept", "measure", "partial_r"]


@dataclass
class Interaction:
    """``summary``: one row per (model, size); ``images``: one row per (model, size, image)."""

    summary: pd.DataFrame
    images: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def interaction_images(predictions: pd.DataFrame, measure: str = "true_logit") -> pd.DataFrame:
    """Per image, model and patch side: the single drop sum S and the all drop A.

    Parameters
    ----------
    predictions
        ``predictions.parquet`` rows with model, image_id, probe, level, variant and
        the ``measure`` column; patch rows have level = patch side and variant = the
        single patch's index or ``"all"``.
    measure
        The predictions column the drops are taken of.

    Returns
    -------
    DataFrame with :data:`IMAGE_COLUMNS`. ``status`` is ``"ok"`` or says why the image
    has no S or A (no original, no all-patches image, single patches missing); such
    rows have NaN drops and are counted in the summary's ``n_missing``.
    """
    if measure not in predictions:
        raise ValueError(f"interaction measure {measure!r} is not a column of the predictions")
    patch = predictions[predictions["probe"] == "patch"]
    if patch.empty:
        return pd.DataFrame(columns=IMAGE_COLUMNS)
    original = (predictions[predictions["probe"] == "original"]
                .groupby(["model", "image_id"])[measure].mean())
    patch = patch.assign(variant=patch["variant"].astype(str), value=patch[measure].astype(float))
    singles = patch[patch["variant"] != "all"]
    # Every image shares the patch grid of a side, so the full set of single patches
    # is the union of the variants seen for that side.
    expected = singles.groupby("level")["variant"].nunique()
    single_stats = singles.groupby(["model", "level", "image_id"]).agg(
        n_single=("variant", "nunique"), single_sum=("value", "sum"),
        single_count=("value", "count"))
    all_values = (patch[patch["variant"] == "all"]
                  .groupby(["model", "level", "image_id"])["value"].mean())
    keys = patch[["model", "level", "image_id"]].drop_duplicates()
    table = keys.set_index(["model", "level", "image_id"]).join(single_stats).join(
        all_values.rename("z_all")).reset_index()
    table["z_original"] = pd.Series(
        original.reindex(pd.MultiIndex.from_frame(table[["model", "image_id"]])).to_numpy(),
        index=table.index)
    table["n_single"] = table["n_single"].fillna(0).astype(int)
    table["n_single_expected"] = table["level"].map(expected).fillna(0).astype(int)
    complete_singles = (table["n_single"] == table["n_single_expected"]) & (
        table["single_count"] == table["n_single_expected"])
    # S = Σ (z_orig − z_j) = k·z_orig − Σ z_j for the k single patches.
    table["single_drop_sum"] = table["n_single"] * table["z_original"] - table["single_sum"]
    table["all_drop"] = table["z_original"] - table["z_all"]
    status = np.where(table["z_original"].isna(), "no original image",
             np.where(table["z_all"].isna(), "no all-patches image",
             np.where(~complete_singles, "single patches missing",
             np.where(~np.isfinite(table["single_drop_sum"] + table["all_drop"]),
                      "non-finite value", "ok"))))
    table["status"] = status
    bad = table["status"] != "ok"
    table.loc[bad, ["single_drop_sum", "all_drop"]] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = table["all_drop"] / table["single_drop_sum"]
    table["ratio"] = ratio.where(np.isfinite(ratio))
    table = table.rename(columns={"level": "size"})
    table["size"] = table["size"].astype(int)
    return table[IMAGE_COLUMNS].sort_values(["model", "size", "image_id"]).reset_index(drop=True)


def _pearson(s: np.ndarray, a: np.ndarray) -> float:
    if s.size < 3 or np.ptp(s) == 0 or np.ptp(a) == 0:
        return float("nan")
    return float(stats.pearsonr(s, a).statistic)


def _ratio_of_means(s: np.ndarray, a: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return a.mean(axis=-1) / s.mean(axis=-1)


def _median_ratio(ratios: np.ndarray) -> np.ndarray:
    # Resamples made only of undefined ratios give NaN, which the interval skips.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(ratios, axis=-1)


def interaction_summary(images: pd.DataFrame, n_resamples: int = 2000, seed: int = 1,
                        measure: str = "true_logit") -> pd.DataFrame:
    """Per (model, size): correlation of S and A, ratios and intervals over images.

    Parameters
    ----------
    images
        Output of :func:`interaction_images`.
    n_resamples, seed
        Bootstrap resamples (images are resampled) and seed.
    measure
        Recorded in the ``measure`` column.

    Returns
    -------
    DataFrame with :data:`SUMMARY_COLUMNS`: ``r`` (Pearson, NaN with fewer than 3
    images or a constant side), ``ratio`` = mean(A) / mean(S), ``median_ratio`` =
    median over images of A / S (images with S = 0 are left out and counted in
    ``n_ratio_undefined``), ``slope``/``intercept`` of the least-squares line A ≈
    slope·S + intercept.
    """
    rows = []
    for (model, size), group in images.groupby(["model", "size"], sort=True):
        ok = group[group["status"] == "ok"]
        s = ok["single_drop_sum"].to_numpy(dtype=float)
        a = ok["all_drop"].to_numpy(dtype=float)
        ratio = ok["ratio"].to_numpy(dtype=float)
        rng = np.random.default_rng([seed, int(size), zlib.crc32(str(model).encode())])
        n = int(s.size)
        r = _pearson(s, a)
        r_ci = bootstrap_ci(row_pearson, s, a, n_resamples=n_resamples, rng=rng) if n >= 3 \
            else (np.nan, np.nan)
        ratio_mean = float(_ratio_of_means(s, a)) if n else np.nan
        ratio_ci = bootstrap_ci(_ratio_of_means, s, a, n_resamples=n_resamples, rng=rng)
        median = float(_median_ratio(ratio)) if np.isfinite(ratio).any() else np.nan
        median_ci = bootstrap_ci(_median_ratio, ratio, n_resamples=n_resamples, rng=rng)
        if n >= 2 and np.ptp(s) > 0:
            slope, intercept = np.polyfit(s, a, 1)
        else:
            slope = intercept = np.nan
        rows.append({
            "model": model, "size": int(size), "n": n, "n_missing": int(len(group) - n),
            "r": r, "r_ci_low": r_ci[0], "r_ci_high": r_ci[1],
            "ratio": ratio_mean if np.isfinite(ratio_mean) else np.nan,
            "ratio_ci_low": ratio_ci[0], "ratio_ci_high": ratio_ci[1],
            "median_ratio": median, "median_ratio_ci_low": median_ci[0],
            "median_ratio_ci_high": median_ci[1],
            "n_ratio_undefined": int(n - np.isfinite(ratio).sum()),
            "mean_single_drop_sum": float(s.mean()) if n else np.nan,
            "mean_all_drop": float(a.mean()) if n else np.nan,
            "slope": float(slope), "intercept": float(intercept), "measure": measure,
            "partial_r": float(row_partial_pearson(s, a, ok["z_original"].to_numpy(float)))
            if n >= 4 else np.nan,
        })
    if not rows:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    return pd.DataFrame(rows)[SUMMARY_COLUMNS]


def patch_interaction(predictions: pd.DataFrame, measure: str = "true_logit",
                      n_resamples: int = 2000, seed: int = 1) -> Interaction:
    """The patch-interaction analysis of a predictions table.

    Returns
    -------
    Interaction
        ``summary`` (``interaction.parquet``), ``images`` (the per-image S and A
        behind the scatter plot) and notes on images that could not be used.
    """
    images = interaction_images(predictions, measure)
    summary = interaction_summary(images, n_resamples=n_resamples, seed=seed, measure=measure)
    notes = []
    unusable = images[images["status"] != "ok"]
    for (model, reason), group in unusable.groupby(["model", "status"]):
        notes.append(f"{model}: {len(group)} image × patch-side combinations left out "
                     f"({reason})")
    return Interaction(summary, images, notes)


# --------------------------------------------------------------------------- two models


#: Hypothesis measures of ``source = "interaction"`` and the summary column each names.
INTERACTION_MEASURES = {"correlation": "r", "r": "r", "partial_correlation": "partial_r",
                        "ratio": "ratio", "median_ratio": "median_ratio"}
#: Measures compared on Fisher's z scale (correlations); the others as they are.
_CORRELATIONS = {"r", "partial_r"}
# At most this many values per array are held at once while resampling.
_CHUNK_ELEMENTS = 2_000_000


def _side_statistic(column: str, s: np.ndarray, a: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The per-side statistic ``column`` along the last axis (images)."""
    if column == "r":
        return row_pearson(s, a)
    if column == "partial_r":
        return row_partial_pearson(s, a, z)
    if column == "ratio":
        return _ratio_of_means(s, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(s != 0, a / s, np.nan)
    return _median_ratio(ratios)


def select_images(images: pd.DataFrame, sizes: list[int] | None = None,
                  image_ids: set[str] | None = None) -> pd.DataFrame:
    """The rows of :func:`interaction_images` at the given patch sides and of the given
    images (None: all of them)."""
    if sizes:
        images = images[images["size"].isin(sizes)]
    if image_ids is not None:
        images = images[images["image_id"].astype(str).isin(image_ids)]
    return images


def side_values(images: pd.DataFrame, model: str, measure: str = "correlation",
                sizes: list[int] | None = None,
                image_ids: set[str] | None = None) -> pd.DataFrame:
    """One model's interaction statistic per patch side (the thesis's unit).

    Parameters
    ----------
    images
        Output of :func:`interaction_images`.
    model
        The model.
    measure
        A key of :data:`INTERACTION_MEASURES`.
    sizes, image_ids
        Patch sides and images to use; None uses all.

    Returns
    -------
    DataFrame with ``level`` (patch side) and ``value``; on all images this equals
    the summary's column of the same statistic.
    """
    column = INTERACTION_MEASURES[measure]
    rows = select_images(images, sizes, image_ids)
    rows = rows[(rows["model"] == model) & (rows["status"] == "ok")]
    out = []
    for size, group in rows.groupby("size", sort=True):
        s, a, z = (group[c].to_numpy(dtype=float)
                   for c in ("single_drop_sum", "all_drop", "z_original"))
        enough = s.size >= (4 if column == "partial_r" else 3 if column == "r" else 1)
        value = float(_side_statistic(column, s, a, z)) if enough else np.nan
        out.append({"level": int(size), "value": value})
    return pd.DataFrame(out, columns=["level", "value"])


@dataclass(frozen=True)
class InteractionTest:
    """The image-level comparison of two models' patch interaction.

    ``statistic`` is the mean over patch sides of ``g(stat_a) − g(stat_b)`` (g =
    Fisher's z for correlations, the identity for ratios); for correlations this is
    the mean of Cohen's q. ``p`` tests the stated direction, ``reverse_p`` the
    opposite one; ``ci_low``/``ci_high`` are the bootstrap 95 % interval over images.
    """

    statistic: float
    p: float
    reverse_p: float
    ci_low: float
    ci_high: float
    n: int
    n_missing: int
    n_sides: int
    test: str
    notes: tuple[str, ...] = ()


def _complete_arrays(images: pd.DataFrame, model_a: str, model_b: str
                     ) -> tuple[np.ndarray, list[int], int]:
    """Shape (3, 2, K, n): S, A and z_original of both models on the complete images.

    An image is complete when both models have it, status ``ok``, at every side; only
    those enter, so every resample holds the same images for both models and sides.
    """
    rows = images[images["model"].isin([model_a, model_b])]
    sides = sorted(int(v) for v in rows["size"].unique())
    ok = rows[rows["status"] == "ok"]
    seen = set(rows["image_id"].astype(str))
    # interaction_images gives one row per (model, size, image); keep the first if not.
    wide = (ok.drop_duplicates(["image_id", "model", "size"])
            .set_index(["image_id", "model", "size"])
            [["single_drop_sum", "all_drop", "z_original"]].unstack(["model", "size"]))
    wanted = pd.MultiIndex.from_product(
        [["single_drop_sum", "all_drop", "z_original"], [model_a, model_b], sides])
    wide = wide.reindex(columns=wanted).dropna()
    values = wide.to_numpy(dtype=float).T.reshape(3, 2, len(sides), len(wide))
    return values, sides, len(seen) - len(wide)


def _statistic(column: str, s: np.ndarray, a: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Mean over sides of g(stat_a) − g(stat_b); inputs (2, K, ..., n), output (...)."""
    per_side = _side_statistic(column, s, a, z)
    if column in _CORRELATIONS:
        per_side = fisher_z(per_side)
    return (per_side[0] - per_side[1]).mean(axis=0)


def _resampled(column: str, draw: Callable[[int], np.ndarray], n_resamples: int,
               chunk: int) -> np.ndarray:
    """Statistics of ``n_resamples`` resamples; ``draw(size)`` gives (3, 2, K, size, n)."""
    out = [_statistic(column, *draw(min(chunk, n_resamples - start)))
           for start in range(0, n_resamples, chunk)]
    return np.concatenate(out) if out else np.empty(0)


def _chunk(values: np.ndarray) -> int:
    # Resamples per chunk, so that one drawn array stays near _CHUNK_ELEMENTS values.
    return max(1, _CHUNK_ELEMENTS // max(1, values[0].size))


def _bootstrap(column: str, values: np.ndarray, n_resamples: int,
               rng: np.random.Generator) -> np.ndarray:
    """Statistics of bootstrap resamples of the images (axis −1 of ``values``)."""
    n = values.shape[-1]

    def draw(size: int) -> np.ndarray:
        # One draw of images per resample, shared by both models and every side.
        return values[:, :, :, rng.integers(0, n, size=(size, n))]

    return _resampled(column, draw, n_resamples, _chunk(values))


def _standardised(values: np.ndarray) -> np.ndarray:
    """Every (variable, model, side) row scaled to mean 0 and standard deviation 1."""
    centred = values - values.mean(axis=-1, keepdims=True)
    spread = centred.std(axis=-1, keepdims=True)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)


def _permutation(column: str, values: np.ndarray, n_resamples: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Statistics of random swaps of the two models' values within images."""
    n = values.shape[-1]
    if column in _CORRELATIONS:
        # Correlations ignore each variable's location and scale, so standardising per
        # (model, side) leaves the observed statistic unchanged while keeping a model
        # with larger logits from dominating the swapped samples.
        values = _standardised(values)
    mine, other = values[:, :, :, None, :], values[:, ::-1, :, None, :]

    def draw(size: int) -> np.ndarray:
        # Each image's values of a and b (all sides at once) change places with
        # probability 1/2: under the null the two models are exchangeable per image.
        return np.where(rng.random((size, n)) < 0.5, other, mine)

    return _resampled(column, draw, n_resamples, _chunk(values))


def _tail_p(observed: float, resampled: np.ndarray, alternative: str, method: str) -> float:
    """One- or two-sided p of ``observed`` against resampled statistics (NaN skipped)."""
    resampled = resampled[np.isfinite(resampled)]
    if not np.isfinite(observed) or resampled.size == 0:
        return float("nan")
    total = resampled.size + 1
    if method == "permutation":
        # Monte-Carlo permutation p: the observed assignment counts as one resample.
        low = (1 + np.count_nonzero(resampled <= observed)) / total
        high = (1 + np.count_nonzero(resampled >= observed)) / total
    else:
        # Inverting the percentile interval: how often a resample crosses zero.
        low = (1 + np.count_nonzero(resampled >= 0)) / total
        high = (1 + np.count_nonzero(resampled <= 0)) / total
    if alternative == "less":
        return float(min(1.0, low))
    if alternative == "greater":
        return float(min(1.0, high))
    return float(min(1.0, 2 * min(low, high)))


def interaction_test_name(measure: str, method: str) -> str:
    """The ``test`` of :func:`interaction_test`, e.g. for ``hypotheses.parquet``."""
    column = INTERACTION_MEASURES[measure]
    where = "permutation within images" if method == "permutation" else "bootstrap over images"
    what = f"Fisher-z({column}_a) − Fisher-z({column}_b)" if column in _CORRELATIONS \
        else f"{column}_a − {column}_b"
    return f"{where}: mean over patch sides of {what}"


def interaction_test(
    images: pd.DataFrame,
    model_a: str,
    model_b: str,
    *,
    measure: str = "correlation",
    alternative: str = "less",
    method: str = "permutation",
    n_resamples: int = 2000,
    rng: np.random.Generator | None = None,
) -> InteractionTest:
    """Compare two models' patch interaction with images as the unit (H2).

    Parameters
    ----------
    images
        Output of :func:`interaction_images` (S, A and z_original per model, side, image),
        at the patch sides and of the images to use (see :func:`select_images`).
    model_a, model_b
        The compared models; the statistic is a's minus b's.
    measure
        A key of :data:`INTERACTION_MEASURES` (``correlation``: Pearson r of S and A;
        ``partial_correlation``: given z_original).
    alternative
        Direction of the statistic: ``"less"``, ``"greater"`` or ``"two-sided"``.
    method
        ``"permutation"``: swap a's and b's values within images (seeded Monte Carlo,
        p = (1 + #{T* at least as extreme}) / (1 + resamples)); ``"bootstrap"``:
        resample images, the same draw for both models, p from how often the
        resampled statistic reaches zero.
    n_resamples, rng
        Resamples (permutations, and bootstraps for the interval) and generator.

    Returns
    -------
    InteractionTest
        NaN statistics, with the reason in ``notes``, when fewer images remain than
        the statistic needs.
    """
    if measure not in INTERACTION_MEASURES:
        raise ValueError(f"interaction measure {measure!r} unknown; choose from "
                         f"{sorted(INTERACTION_MEASURES)}")
    if method not in ("permutation", "bootstrap"):
        raise ValueError(f"interaction test {method!r} unknown; choose permutation or bootstrap")
    rng = rng if rng is not None else np.random.default_rng(0)
    column = INTERACTION_MEASURES[measure]
    values, sides, n_missing = _complete_arrays(images, model_a, model_b)
    n, name = values.shape[-1], interaction_test_name(measure, method)
    notes = [f"{n_missing} images lack a usable S and A for a model at some patch side"] \
        if n_missing else []
    needed = 4 if column == "partial_r" else 3
    if n < needed or not sides:
        notes.append(f"the {column} comparison needs at least {needed} complete images (n={n})")
        nan = float("nan")
        return InteractionTest(nan, nan, nan, nan, nan, n, n_missing, len(sides), name,
                               tuple(notes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        observed = float(_statistic(column, *values))
        boot = _bootstrap(column, values, n_resamples, rng)
        null = _permutation(column, values, n_resamples, rng) if method == "permutation" \
            else boot
    opposite = {"less": "greater", "greater": "less"}.get(alternative)
    ci = percentile_interval(boot)
    if not np.isfinite(observed):
        notes.append(f"the {column} is undefined for a model at some side (constant values)")
    return InteractionTest(
        statistic=observed, p=_tail_p(observed, null, alternative, method),
        reverse_p=_tail_p(observed, null, opposite, method) if opposite else float("nan"),
        ci_low=ci[0], ci_high=ci[1], n=n, n_missing=n_missing, n_sides=len(sides),
        test=name, notes=tuple(notes))
