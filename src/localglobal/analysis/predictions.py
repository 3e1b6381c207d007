"""The predictions table as the analysis reads it: id columns recovered, types fixed."""

from __future__ import annotations

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
    if "condition" not in table:  # written before probes had condition labels
        table["condition"] = table["level"].astype(str)
    table["condition"] = table["condition"].astype(str)
    duplicated = table.duplicated(["model", "item_id"], keep="last")
    if duplicated.any():
        notes.append(f"{int(duplicated.sum())} repeated (model, item_id) rows: kept the last")
        table = table[~duplicated]
    return table.reset_index(drop=True), notes
