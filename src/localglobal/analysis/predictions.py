"""The predictions table as the analysis reads it: id columns recovered, types fixed."""

from __future__ import annotations

import numpy as np
import pandas as pd

ID_COLUMNS = ("image_id", "probe", "level", "variant")
"""The parts of an ``item_id`` (``image_id/probe/level/variant``)."""


def clean_predictions(predictions: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Normalise a predictions table for analysis; return it and notes on what changed.

    Missing ``image_id/probe/level/variant`` columns are recovered from ``item_id``
    (``image_id/probe/level/variant``); ``level`` becomes int64 and ``variant`` str;
    repeated (model, item_id) rows keep the last and are counted in the notes.

    Parameters
    ----------
    predictions : pandas.DataFrame
        ``predictions.parquet``.

    Returns
    -------
    (pandas.DataFrame, list of str)
        The cleaned table and one note per change made.

    Raises
    ------
    ValueError
        When ``model`` or ``item_id`` is missing, or the item ids cannot be parsed.
    """
    notes: list[str] = []
    for column in ("model", "item_id"):
        if column not in predictions:
            raise ValueError(f"predictions.parquet has no {column!r} column; "
                             f"columns: {list(predictions.columns)}")
    table = predictions.copy()
    missing = [c for c in ID_COLUMNS if c not in table]
    if missing:
        parts = table["item_id"].astype(str).str.rsplit("/", n=3, expand=True)
        if parts.shape[1] != 4 or parts.isna().any().any():
            raise ValueError("predictions.parquet lacks columns "
                             f"{missing} and its item_id values are not image/probe/level/variant")
        for k, column in enumerate(ID_COLUMNS):
            if column in missing:
                table[column] = parts[k]
        notes.append(f"columns {missing} recovered from item_id")
    table["model"] = table["model"].astype(str)
    table["image_id"] = table["image_id"].astype(str)
    table["probe"] = table["probe"].astype(str)
    table["level"] = pd.to_numeric(table["level"]).astype("int64")
    table["variant"] = table["variant"].astype(str)
    duplicated = table.duplicated(["model", "item_id"], keep="last")
    if duplicated.any():
        notes.append(f"{int(duplicated.sum())} repeated (model, item_id) rows: kept the last")
        table = table[~duplicated]
    return table.reset_index(drop=True), notes


def finite_rows(predictions: pd.DataFrame) -> pd.Series:
    """Whether each prediction came from finite model outputs.

    The ``finite`` column where the table has one; else (a table written before it
    existed) whether the probabilities and logits it holds are finite.
    """
    if "finite" in predictions:
        return predictions["finite"].astype(bool)
    finite = pd.Series(True, index=predictions.index)
    for column in ("true_logit", "true_prob", "pred_logit", "pred_prob"):
        if column in predictions:
            values = pd.to_numeric(predictions[column], errors="coerce").to_numpy(float)
            finite &= np.isfinite(values)
    return finite


def non_finite_notes(predictions: pd.DataFrame) -> list[str]:
    """One note per model with NaN or infinite outputs: how many, and what became of them."""
    finite = finite_rows(predictions)
    notes = []
    for model, group in finite.groupby(predictions["model"].astype(str), sort=False):
        bad = int((~group).sum())
        if bad == len(group):
            notes.append(f"model {model} is missing from the accuracy table: every one of "
                         f"its {bad} outputs is NaN or infinite")
        elif bad:
            notes.append(f"model {model}: {bad} of its {len(group)} outputs are NaN or "
                         "infinite; they are left out of the accuracy table and never "
                         "counted correct")
    return notes
