"""Means with 95 % intervals per model and probe level: the numbers behind the curves.

Perturbations of one image are not independent, so each image first contributes the
mean over its variants (the three permutations of a block side, the single patches
of a patch side); the interval is then the Student-t interval over images, clipped to
the range the measure can take (a probability or a share stays within [0, 1]).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from localglobal.probes.catalog import get_probe, probe_names

PROBE_COLUMNS = ["model", "probe", "level", "group", "measure", "n_images", "mean", "ci_low",
                 "ci_high", "condition"]
LRP_COLUMNS = ["model", "control", "metric", "n", "mean", "ci_low", "ci_high"]
#: attributions.parquet columns summarised for the LRP section, in display order.
LRP_METRICS = ["n_pos", "n_neg", "share_pos_on_edges", "share_neg_on_edges", "mass_in_box",
               "pointing_hit", "rank_accuracy", "auc_edges", "auc_edges_in_box",
               "edge_enrichment_pos", "edge_enrichment_neg"]


_UNIT_MEASURES = {"mass_in_box", "rank_accuracy", "auc_edges", "auc_edges_in_box",
                  "pointing_hit", "correct", "subset_correct"}


def natural_range(measure: str) -> tuple[float, float]:
    """The values ``measure`` can take: [0, 1] for probabilities, shares, rates and AUCs,
    [0, ∞) for pixel counts, unbounded otherwise (logits, differences)."""
    if (measure in _UNIT_MEASURES or measure.endswith(("_prob", "_hit", "top5"))
            or measure.startswith("share_")):
        return 0.0, 1.0
    if measure.startswith(("n_", "edge_enrichment")):
        return 0.0, np.inf
    return -np.inf, np.inf


def _clip_interval(table: pd.DataFrame, measures: pd.Series | str) -> pd.DataFrame:
    names = (pd.Series(measures, index=table.index) if isinstance(measures, str)
             else measures)
    bounds = np.array([natural_range(str(name)) for name in names]).reshape(-1, 2)
    table["ci_low"] = np.clip(table["ci_low"].to_numpy(dtype=float), bounds[:, 0], bounds[:, 1])
    table["ci_high"] = np.clip(table["ci_high"].to_numpy(dtype=float), bounds[:, 0],
                               bounds[:, 1])
    return table


def _t_columns(grouped: pd.core.groupby.SeriesGroupBy, level: float) -> pd.DataFrame:
    table = grouped.agg(["count", "mean", "std"]).reset_index()
    count = table["count"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = np.where(count > 1, stats.t.ppf(0.5 + level / 2, np.maximum(count - 1, 1)),
                            np.nan)
        half = quantile * table["std"].to_numpy(dtype=float) / np.sqrt(count)
    table["ci_low"] = table["mean"] - half
    table["ci_high"] = table["mean"] + half
    return table.drop(columns="std")


def variant_groups(probes: pd.Series, variants: pd.Series) -> np.ndarray:
    """Each row's curve group, as its probe declares it (``"all"``/``"single"`` for the
    patch probe's all-patches and single-patch images; ``""`` otherwise)."""
    known = set(probe_names())
    out = np.full(len(probes), "", dtype=object)
    for name in pd.unique(probes):
        if name in known:
            rows = (probes == name).to_numpy()
            probe = get_probe(str(name))
            out[rows] = [probe.group_of(str(v)) for v in variants[rows]]
    return out


def probe_summary(predictions: pd.DataFrame, measure: str = "true_prob",
                  level: float = 0.95) -> pd.DataFrame:
    """Mean ``measure`` per (model, probe, level, group) with a t-interval over images.

    Parameters
    ----------
    predictions
        ``predictions.parquet`` with model, image_id, probe, level, variant (and
        ``condition``, the level's label; the level itself when absent).
    measure
        A numeric predictions column (true-class probability by default).

    Returns
    -------
    DataFrame with :data:`PROBE_COLUMNS`. ``group`` separates the groups a probe
    declares (:meth:`~localglobal.probes.registry.Probe.group_of`): the patch probe's
    all-patches images (``"all"``) and its single patches (``"single"``, the mean over
    an image's single patches); it is ``""`` for the other probes.
    """
    if measure not in predictions:
        raise ValueError(f"measure {measure!r} is not a column of the predictions")
    table = predictions[["model", "image_id", "probe", "level", "variant", measure]].copy()
    table["condition"] = (predictions["condition"].astype(str) if "condition" in predictions
                          else table["level"].astype(str))
    table["variant"] = table["variant"].astype(str)
    table["group"] = variant_groups(table["probe"], table["variant"])
    keys = ["model", "probe", "level", "group"]
    per_image = table.groupby([*keys, "image_id"], sort=True)[measure].mean()
    summary = _t_columns(per_image.groupby(level=keys, sort=True), level)
    summary = summary.rename(columns={"count": "n_images"})
    summary["measure"] = measure
    summary["level"] = summary["level"].astype(int)
    summary["n_images"] = summary["n_images"].astype(int)
    labels = table.drop_duplicates(["probe", "level"]).set_index(["probe", "level"])
    summary["condition"] = [str(labels.loc[(p, lv), "condition"])
                            for p, lv in zip(summary["probe"], summary["level"], strict=True)]
    summary = _clip_interval(summary, measure)
    return summary[PROBE_COLUMNS]


def lrp_summary(attributions: pd.DataFrame, level: float = 0.95,
                proxy: str = "canny") -> pd.DataFrame:
    """Mean of each LRP region statistic per (model, control) with a t-interval.

    Only unperturbed images are summarised when the table has a ``probe`` column, and
    only the rows of shape proxy ``proxy`` when it has a ``proxy`` column.

    Returns
    -------
    Long DataFrame with :data:`LRP_COLUMNS`, metrics in :data:`LRP_METRICS` order.
    """
    rows = attributions
    if "proxy" in rows:
        rows = rows[rows["proxy"] == proxy]
    if "probe" in rows:
        rows = rows[rows["probe"] == "original"]
    metrics = [m for m in LRP_METRICS if m in rows]
    if rows.empty or not metrics:
        return pd.DataFrame(columns=LRP_COLUMNS)
    long = rows.melt(id_vars=["model", "control"], value_vars=metrics, var_name="metric")
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype(float)
    long = long.dropna(subset=["value"])
    summary = _t_columns(long.groupby(["model", "control", "metric"], sort=True)["value"], level)
    summary = summary.rename(columns={"count": "n"})
    summary = _clip_interval(summary, summary["metric"])
    summary["metric"] = pd.Categorical(summary["metric"], categories=metrics, ordered=True)
    summary = summary.sort_values(["metric", "model", "control"]).reset_index(drop=True)
    summary["metric"] = summary["metric"].astype(str)
    return summary[LRP_COLUMNS]
