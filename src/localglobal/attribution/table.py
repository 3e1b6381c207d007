"""The rows of ``attributions.parquet``: one per (model, control, item).

Columns (names are part of the interface, DESIGN.md "Contracts"): ``model, control,
method, image_id, target, logit``, then every statistic
:func:`~localglobal.attribution.regions.region_statistics` returns (whatever the
regions module adds flows through as a column, ``finite`` among them), then
``item_id, probe, level, variant, proxy``. ``method`` names the attribution method
(``lrp-epsilon-plus-flat``); ``control`` is ``none``, ``random-weights`` or
``shuffled-edges``. ``proxy`` names the shape proxy the edge statistics are computed
against: ``canny`` (the edges stage's masks; every control) or ``outline`` (the true
object outlines, where the data know them; trained models only).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pandas as pd

from localglobal.attribution.controls import CONTROLS, EXPLAINED_CONTROLS
from localglobal.attribution.regions import RegionStatistics

LEADING_COLUMNS: tuple[str, ...] = ("model", "control", "method", "image_id", "target", "logit")
TRAILING_COLUMNS: tuple[str, ...] = ("item_id", "probe", "level", "variant", "proxy")
_TEXT = ("model", "control", "method", "image_id", "item_id", "probe", "variant", "proxy")
PROXIES: tuple[str, ...] = ("canny", "outline")
"""The shape proxies of the ``proxy`` column."""


def stat_row(model: str, control: str, method: str, item: dict[str, Any], target: int,
             logit: float, stats: RegionStatistics, proxy: str = "canny") -> dict[str, Any]:
    """One row: the item's identity, the explained class and logit, every statistic."""
    return {"model": model, "control": control, "method": method,
            "image_id": item["image_id"], "target": int(target), "logit": float(logit),
            **stats.as_dict(), "item_id": item["item_id"], "probe": item["probe"],
            "level": int(item["level"]), "variant": str(item["variant"]), "proxy": proxy}


def stat_columns(table: pd.DataFrame | None = None) -> list[str]:
    """The statistics columns: those of ``table`` that are not identity columns, in order.

    Without a table (or for an empty one), the fields of
    :class:`~localglobal.attribution.regions.RegionStatistics`.
    """
    fixed = {*LEADING_COLUMNS, *TRAILING_COLUMNS}
    if table is None or table.columns.empty:
        return list(RegionStatistics.undefined().as_dict())
    return [c for c in table.columns if c not in fixed]


def attributions_table(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The models' rows as one typed table, controls in :data:`CONTROLS` order.

    Parameters
    ----------
    tables : sequence of pandas.DataFrame
        Rows of :func:`stat_row` (per model; other columns are kept as statistics).

    Returns
    -------
    pandas.DataFrame
        Identity columns as text and int64, ``finite`` boolean, every other
        statistic float64; within a model the ``none`` rows first, then
        ``random-weights``, then ``shuffled-edges``, each in item order.
    """
    parts = [t for t in tables if len(t)]
    if not parts:
        columns = [*LEADING_COLUMNS, *stat_columns(), *TRAILING_COLUMNS]
        return _typed(pd.DataFrame({c: pd.Series(dtype="object") for c in columns}))
    ordered = []
    for part in parts:
        rank = part["control"].map({c: i for i, c in enumerate(CONTROLS)})
        ordered.append(part.iloc[rank.argsort(kind="stable")])
    table = pd.concat(ordered, ignore_index=True)
    if "proxy" not in table:
        table["proxy"] = "canny"
    table["proxy"] = table["proxy"].fillna("canny")
    stats = stat_columns(table)
    return _typed(table[[*LEADING_COLUMNS, *stats, *TRAILING_COLUMNS]])


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    table = table.copy()
    for column in _TEXT:
        table[column] = table[column].astype(str)
    for column in ("target", "level"):
        table[column] = table[column].astype("int64")
    table["logit"] = table["logit"].astype("float64")
    for column in stat_columns(table):
        if column == "finite":
            table[column] = table[column].astype(bool)
        elif not pd.api.types.is_bool_dtype(table[column]):
            # Counts are floats so that an undefined map can hold NaN; a statistic that
            # is not a number (a label, should the regions module add one) stays as it is.
            with contextlib.suppress(TypeError, ValueError):
                table[column] = table[column].astype("float64")
    return table.reset_index(drop=True)


def non_finite_maps(table: pd.DataFrame) -> pd.DataFrame:
    """``model, control, item_id`` of every explained map that held NaN or infinity."""
    if table.empty or "finite" not in table:
        return pd.DataFrame(columns=["model", "control", "item_id"])
    explained = table["control"].isin(EXPLAINED_CONTROLS)
    return table.loc[explained & ~table["finite"].astype(bool),
                     ["model", "control", "item_id"]].reset_index(drop=True)
