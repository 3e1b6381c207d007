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
each with a bootstrap 95 % interval over images, and the least-squares line of A on S.
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from localglobal.analysis.stats import bootstrap_ci, row_pearson

IMAGE_COLUMNS = ["model", "size", "image_id", "z_original", "n_single", "n_single_expected",
                 "single_drop_sum", "all_drop", "ratio", "status"]
SUMMARY_COLUMNS = ["model", "size", "n", "n_missing", "r", "r_ci_low", "r_ci_high", "ratio",
                   "ratio_ci_low", "ratio_ci_high", "median_ratio", "median_ratio_ci_low",
                   "median_ratio_ci_high", "n_ratio_undefined", "mean_single_drop_sum",
                   "mean_all_drop", "slope", "intercept", "measure"]


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
