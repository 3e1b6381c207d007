"""Shape bias and 16-class accuracy of every observer of the Geirhos benchmark.

Input is a ``geirhos_decisions.parquet`` table: one row per (observer, stimulus)
with ``observer, kind, dataset, image, category, texture, decision`` (``kind`` is
``model`` or ``human``; ``category`` is the shape; ``texture`` is set for
cue-conflict stimuli; ``decision`` is None where a human gave none).

- **Shape bias** (Geirhos et al. 2019): over the *conflict* stimuli only (texture
  set and ≠ shape), ``n_shape / (n_shape + n_texture)``; decisions for neither
  category (and missing ones) count in ``n`` and ``n_other`` but not in the ratio.
- **Accuracy**: the share of all stimuli whose decision is the shape category (a
  missing decision is wrong), per dataset.

Each observer gets a row, named ``model`` (the ``shape_bias.parquet`` contract),
and the human observers together get a ``humans`` row (``kind`` human) whose value
is the **mean over the human observers** of their own values — every observer
weighs the same, however many trials they answered. In that row ``n``, ``n_shape``,
``n_texture`` and ``n_other`` are totals over the observers (so ``n`` counts trials,
not distinct stimuli), ``n_observers`` counts them, and ``pooled_shape_bias`` is
the ratio of the totals.

Spread: for one observer, ``std`` is the standard deviation of the bootstrap
distribution (resampling that observer's stimuli) and ``ci_low``/``ci_high`` its
percentile interval; for ``humans``, ``std`` is the standard deviation (ddof 1) of
the observers' values and the interval resamples observers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

HUMANS = "humans"
"""Name of the row that averages the human observers."""

DECISION_INPUT_COLUMNS = ["observer", "kind", "dataset", "image", "category", "texture",
                          "decision"]
SHAPE_BIAS_COLUMNS = ["model", "kind", "dataset", "n", "n_shape", "n_texture", "shape_bias",
                      "n_other", "n_observers", "pooled_shape_bias", "std", "ci_low",
                      "ci_high"]
BY_CATEGORY_COLUMNS = ["model", "kind", "dataset", "category", "n", "n_shape", "n_texture",
                       "shape_bias", "n_observers"]
OBSERVER_KEYS = ["observer", "kind", "dataset"]
ACCURACY_COLUMNS = ["model", "kind", "dataset", "n", "n_correct", "n_missing", "accuracy",
                    "n_observers", "std", "ci_low", "ci_high"]


def require_columns(table: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise ``ValueError`` naming the columns of ``columns`` that ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what} lack columns {missing}; columns there: {list(table.columns)}")


def conflict_mask(decisions: pd.DataFrame) -> pd.Series:
    """Rows whose stimulus has a texture that differs from its shape category."""
    texture = decisions["texture"]
    return texture.notna() & (texture.astype(object) != decisions["category"].astype(object))


def _bootstrap(values: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray],
               n_resamples: int, level: float, seed: int) -> tuple[float, float, float]:
    """(std, low, high) of ``statistic`` over resamples of ``values`` (1-D, length n).

    ``statistic`` maps a (B, n) array of resamples to B values (NaN where undefined).
    """
    n = len(values)
    if n == 0 or n_resamples < 2:
        return np.nan, np.nan, np.nan
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // n)
    results = []
    for start in range(0, n_resamples, chunk):
        index = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        results.append(statistic(values[index]))
    stats = np.concatenate(results)
    finite = stats[np.isfinite(stats)]
    if finite.size < max(2, 0.5 * stats.size):
        return np.nan, np.nan, np.nan
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(np.std(finite, ddof=1)), float(low), float(high)


def _ratio_of_codes(resamples: np.ndarray) -> np.ndarray:
    """Shape bias of resampled codes (1 shape, 0 texture, NaN other), shape (B, n) → (B,)."""
    decided = np.isfinite(resamples).sum(axis=1)
    shape = np.nansum(resamples, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(decided > 0, shape / np.maximum(decided, 1), np.nan)


def _mean_rows(resamples: np.ndarray) -> np.ndarray:
    return resamples.mean(axis=1)


def _humans_row(rows: pd.DataFrame, value: str, sums: list[str], n_resamples: int,
                level: float, seed: int) -> dict:
    """The mean over human observers of ``value``; totals of ``sums``."""
    values = rows[value].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    row = {column: int(rows[column].sum()) for column in sums}
    row.update({"model": HUMANS, "kind": "human", "n_observers": len(values),
                value: float(values.mean()) if len(values) else np.nan})
    spread = np.std(values, ddof=1) if len(values) > 1 else np.nan
    _, low, high = _bootstrap(values, _mean_rows, n_resamples, level, seed)
    row.update({"std": float(spread), "ci_low": low, "ci_high": high})
    return row


def shape_bias_table(decisions: pd.DataFrame, *, n_resamples: int = 2000,
                     level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Shape bias per observer and dataset, and the humans' mean.

    Parameters
    ----------
    decisions : DataFrame
        ``geirhos_decisions`` rows (:data:`DECISION_INPUT_COLUMNS`).
    n_resamples : int
        Bootstrap resamples for ``std`` and the interval.
    level : float
        Coverage of the percentile interval.
    seed : int
        Seed of every bootstrap (each observer's starts from it afresh).

    Returns
    -------
    DataFrame with :data:`SHAPE_BIAS_COLUMNS`, one row per (observer, dataset) with
    conflict stimuli, then one ``humans`` row per dataset with human observers
    (see the module docstring for ``n`` and the spread). ``shape_bias`` is NaN for an
    observer with no shape or texture decision.
    """
    require_columns(decisions, DECISION_INPUT_COLUMNS, "Geirhos decisions")
    conflict = decisions[conflict_mask(decisions)]
    rows = []
    for (observer, kind, dataset), group in conflict.groupby(
            OBSERVER_KEYS, sort=True):
        decision = group["decision"].astype(object)
        shape = (decision == group["category"].astype(object)).to_numpy()
        texture = (decision == group["texture"].astype(object)).to_numpy()
        codes = np.where(shape, 1.0, np.where(texture, 0.0, np.nan))
        n_shape, n_texture = int(shape.sum()), int(texture.sum())
        decided = n_shape + n_texture
        bias = n_shape / decided if decided else np.nan
        std, low, high = _bootstrap(codes, _ratio_of_codes, n_resamples, level, seed)
        rows.append({"model": str(observer), "kind": str(kind), "dataset": str(dataset),
                     "n": len(group), "n_shape": n_shape, "n_texture": n_texture,
                     "shape_bias": bias, "n_other": len(group) - decided, "n_observers": 1,
                     "pooled_shape_bias": bias, "std": std, "ci_low": low, "ci_high": high})
    table = pd.DataFrame(rows, columns=SHAPE_BIAS_COLUMNS)
    humans = []
    for dataset, group in table[table["kind"] == "human"].groupby("dataset", sort=True):
        row = _humans_row(group, "shape_bias", ["n", "n_shape", "n_texture", "n_other"],
                          n_resamples, level, seed)
        decided = row["n_shape"] + row["n_texture"]
        row.update({"dataset": dataset,
                    "pooled_shape_bias": row["n_shape"] / decided if decided else np.nan})
        humans.append(row)
    if humans:
        table = pd.concat([table, pd.DataFrame(humans, columns=SHAPE_BIAS_COLUMNS)],
                          ignore_index=True)
    return table


def shape_bias_by_category(decisions: pd.DataFrame) -> pd.DataFrame:
    """Shape bias per observer, dataset and shape category; humans averaged per category.

    Parameters
    ----------
    decisions : DataFrame
        ``geirhos_decisions`` rows; only conflict stimuli count.

    Returns
    -------
    DataFrame with :data:`BY_CATEGORY_COLUMNS`. The ``humans`` row of a category is
    the mean of the human observers' shape biases in that category (observers
    without a shape or texture decision there are left out of the mean; totals as in
    :func:`shape_bias_table`).
    """
    require_columns(decisions, DECISION_INPUT_COLUMNS, "Geirhos decisions")
    conflict = decisions[conflict_mask(decisions)]
    rows = []
    for (observer, kind, dataset, category), group in conflict.groupby(
            [*OBSERVER_KEYS, "category"], sort=True):
        decision = group["decision"].astype(object)
        n_shape = int((decision == group["category"].astype(object)).sum())
        n_texture = int((decision == group["texture"].astype(object)).sum())
        decided = n_shape + n_texture
        rows.append({"model": str(observer), "kind": str(kind), "dataset": str(dataset),
                     "category": str(category), "n": len(group), "n_shape": n_shape,
                     "n_texture": n_texture, "n_observers": 1,
                     "shape_bias": n_shape / decided if decided else np.nan})
    table = pd.DataFrame(rows, columns=BY_CATEGORY_COLUMNS)
    humans = []
    for (dataset, category), group in table[table["kind"] == "human"].groupby(
            ["dataset", "category"], sort=True):
        values = group["shape_bias"].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        humans.append({"model": HUMANS, "kind": "human", "dataset": dataset,
                       "category": category, "n": int(group["n"].sum()),
                       "n_shape": int(group["n_shape"].sum()),
                       "n_texture": int(group["n_texture"].sum()),
                       "shape_bias": float(values.mean()) if len(values) else np.nan,
                       "n_observers": len(values)})
    if humans:
        table = pd.concat([table, pd.DataFrame(humans, columns=BY_CATEGORY_COLUMNS)],
                          ignore_index=True)
    return table


def accuracy16(decisions: pd.DataFrame, *, n_resamples: int = 2000, level: float = 0.95,
               seed: int = 0) -> pd.DataFrame:
    """16-class accuracy (decision == shape category) per observer and dataset.

    Parameters
    ----------
    decisions : DataFrame
        ``geirhos_decisions`` rows; every stimulus counts (cue-conflict ones too,
        judged against their shape).
    n_resamples, level, seed
        Bootstrap of the spread, as in :func:`shape_bias_table`.

    Returns
    -------
    DataFrame with :data:`ACCURACY_COLUMNS`: ``n`` trials, ``n_correct``,
    ``n_missing`` (no decision; counted wrong), ``accuracy``, and per dataset a
    ``humans`` row with the mean over human observers.
    """
    require_columns(decisions, DECISION_INPUT_COLUMNS, "Geirhos decisions")
    rows = []
    for (observer, kind, dataset), group in decisions.groupby(
            OBSERVER_KEYS, sort=True):
        correct = (group["decision"].astype(object)
                   == group["category"].astype(object)).to_numpy(dtype=float)
        std, low, high = _bootstrap(correct, _mean_rows, n_resamples, level, seed)
        rows.append({"model": str(observer), "kind": str(kind), "dataset": str(dataset),
                     "n": len(group), "n_correct": int(correct.sum()),
                     "n_missing": int(group["decision"].isna().sum()),
                     "accuracy": float(correct.mean()), "n_observers": 1,
                     "std": std, "ci_low": low, "ci_high": high})
    table = pd.DataFrame(rows, columns=ACCURACY_COLUMNS)
    humans = []
    for dataset, group in table[table["kind"] == "human"].groupby("dataset", sort=True):
        row = _humans_row(group, "accuracy", ["n", "n_correct", "n_missing"], n_resamples,
                          level, seed)
        row["dataset"] = dataset
        humans.append(row)
    if humans:
        table = pd.concat([table, pd.DataFrame(humans, columns=ACCURACY_COLUMNS)],
                          ignore_index=True)
    return table
