"""What the ``attribute`` stage writes: the rows of ``attributions.parquet`` and the relevance maps.

``attributions.parquet`` has one row per (model, control, item). Columns (names are
part of the interface, DESIGN.md "Contracts"): ``model, control, method, image_id,
target, logit``, then every statistic
:func:`~localglobal.attribution.regions.region_statistics` returns (whatever the
regions module adds flows through as a column, ``finite`` among them), then
``item_id, probe, level, variant, proxy``. ``method`` names the attribution method
(``lrp-epsilon-plus-flat``); ``control`` is ``none``, ``random-weights`` or
``shuffled-edges``. ``proxy`` names the shape proxy the edge statistics are computed
against: ``canny`` (the edges stage's masks; every control) or ``outline`` (the true
object outlines, where the data know them; trained models only).

While a model is explained, each shard's maps go to ``<shard folder>/<name>.maps.npy``
(float16, the shard's explained items in order), written before the shard's table,
so a finished shard always has its maps. At the end they are copied, shard by shard
through a memory map (so memory stays bounded by one shard), into a temporary file
renamed into place (so readers never see a partial file):

``relevance/<model>.npy``
    N×H×W float16 channel-summed relevance (values beyond float16's ±65504
    saturate, NaN and infinity are stored as 0), readable with
    ``np.load(path, mmap_mode="r")``;
``relevance/<model>.index.parquet``
    its rows: ``image_id, control, row, item_id, probe``.

Model names are made safe for file names (``timm:x`` → ``timm_x``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from localglobal.attribution.controls import CONTROLS, EXPLAINED_CONTROLS
from localglobal.attribution.regions import RegionStatistics
from localglobal.errors import CorruptArtifactError, MissingInputError
from localglobal.io.atomic import atomic_path, safe_name, write_npy, write_table

LEADING_COLUMNS: tuple[str, ...] = ("model", "control", "method", "image_id", "target", "logit")
TRAILING_COLUMNS: tuple[str, ...] = ("item_id", "probe", "level", "variant", "proxy")
_TEXT = ("model", "control", "method", "image_id", "item_id", "probe", "variant", "proxy")


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
    return _typed(table[[*LEADING_COLUMNS, *stat_columns(table), *TRAILING_COLUMNS]])


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


INDEX_COLUMNS: list[str] = ["image_id", "control", "row", "item_id", "probe"]
"""The columns of ``relevance/<model>.index.parquet``."""

FLOAT16_MAX = float(np.finfo(np.float16).max)
RELEVANCE_FOLDER = "relevance"

MAPS_COLUMN = "maps_file"
"""Shard-table column: the shard's maps file for the rows with a map of their own, in
the order of its maps; empty for the others (``shuffled-edges``, ``outline``)."""
BATCH_SIZE_COLUMN = "_batch_size"
"""Shard-table column: the batch size the row's map was computed with (running out of
memory halves it)."""
SHARD_COLUMNS: tuple[str, ...] = (MAPS_COLUMN, BATCH_SIZE_COLUMN)
"""The shard-table columns dropped from ``attributions.parquet``."""


def to_float16(maps: np.ndarray) -> np.ndarray:
    """Maps as stored: NaN and infinity become 0, the rest saturates at float16's range."""
    stored = np.where(np.isfinite(maps), maps, 0.0)
    return np.clip(stored, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)


def write_shard_maps(folder: Path, item_ids: Sequence[str], maps: np.ndarray) -> str:
    """Store one shard's K×H×W float16 maps of ``item_ids`` atomically in ``folder``.

    Returns the file name, unique to the items.
    """
    digest = hashlib.sha256("\n".join(item_ids).encode()).hexdigest()[:16]
    name = f"{digest}.maps.npy"
    write_npy(folder / name, maps)
    return name


def relevance_paths(root: Path, model: str) -> tuple[Path, Path]:
    """``relevance/<model>.npy`` and its index under the run directory ``root``."""
    stem = safe_name(model)
    folder = root / RELEVANCE_FOLDER
    return folder / f"{stem}.npy", folder / f"{stem}.index.parquet"


def write_relevance(root: Path, model: str, table: pd.DataFrame, folders: dict[str, Path],
                    size: int) -> tuple[Path, Path]:
    """Assemble the shards' maps into ``relevance/<model>.npy`` and its index.

    Parameters
    ----------
    root : Path
        The run directory.
    model : str
        The model's name.
    table : pandas.DataFrame
        The model's shard rows (with :data:`SHARD_COLUMNS`); those with a map of their
        own go into the array, pass by pass in the order of ``folders``, shard by shard
        in the table's order.
    folders : dict
        control → the pass's shard folder (where its maps files are).
    size : int
        The side of the maps.

    Returns
    -------
    (Path, Path)
        The array and its index.

    Raises
    ------
    MissingInputError, CorruptArtifactError
        A shard's maps file is gone or does not fit its items (the shard folder was
        tampered with).
    """
    parts = []  # (maps file, its rows in file order)
    own = table[table[MAPS_COLUMN] != ""] if len(table) \
        else pd.DataFrame(columns=["control", *SHARD_COLUMNS])
    for control, folder in folders.items():
        for name, rows in own[own["control"] == control].groupby(MAPS_COLUMN, sort=False):
            parts.append((folder / str(name), rows))
    for path, _ in parts:
        if not path.exists():
            raise MissingInputError(f"{path}: the relevance maps of a finished shard are "
                                    "missing; run `localglobal attribute --force` to redo them")
    destination, index_path = relevance_paths(root, model)
    dtype = np.dtype("<f2")
    with atomic_path(destination) as tmp, open(tmp, "wb") as handle:
        # Written through the file, not a sparse memory map: a full disk is an OSError
        # on write (a MachineError naming the file), never a SIGBUS on a mapped page.
        np.lib.format.write_array_header_1_0(handle, {
            "descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
            "shape": (sum(len(rows) for _, rows in parts), size, size)})
        for path, rows in parts:
            maps = np.load(path, mmap_mode="r")
            if len(maps) != len(rows) or maps.shape[1:] != (size, size):
                raise CorruptArtifactError(f"{path}: {len(maps)} maps for {len(rows)} "
                                           f"items (maps of {tuple(maps.shape[1:])}, expected "
                                           f"{size}×{size}); run "
                                           "`localglobal attribute --force`")
            handle.write(np.ascontiguousarray(maps, dtype=dtype).tobytes())
        handle.flush()
        os.fsync(handle.fileno())
    index = pd.concat([rows for _, rows in parts]) if parts \
        else pd.DataFrame(columns=INDEX_COLUMNS)
    index = index.assign(row=np.arange(len(index), dtype="int64"))[INDEX_COLUMNS]
    write_table(index_path, index.reset_index(drop=True))
    return destination, index_path


def load_relevance(root: Path, model: str) -> tuple[np.ndarray, pd.DataFrame]:
    """A model's stored relevance maps (memory-mapped, N×H×W float16) and their index.

    Raises
    ------
    MissingInputError
        The attribute stage has not stored this model's maps.
    """
    path, index_path = relevance_paths(root, model)
    if not path.exists() or not index_path.exists():
        raise MissingInputError(f"{path}: missing; run `localglobal attribute --run {root}`")
    return np.load(path, mmap_mode="r"), pd.read_parquet(index_path)
