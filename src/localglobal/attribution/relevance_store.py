"""Storing relevance maps: per shard while explaining, then one memory-mapped array per model.

While a model is explained, each shard's maps go to ``<shard folder>/<name>.maps.npy``
(float16, the shard's explained items in order), written before the shard's table,
so a finished shard always has its maps. At the end they are copied, shard by shard
through a memory map, into

``relevance/<model>.npy``
    N×H×W float16 channel-summed relevance (values beyond float16's ±65504
    saturate, NaN and infinity are stored as 0), readable with
    ``np.load(path, mmap_mode="r")``;
``relevance/<model>.index.parquet``
    its rows: ``image_id, control, row, item_id, probe``.

Model names are made safe for file names (``timm:x`` → ``timm_x``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from localglobal.errors import CorruptArtifactError, MissingInputError
from localglobal.io.atomic import atomic_path, safe_name, write_npy, write_table

INDEX_COLUMNS: list[str] = ["image_id", "control", "row", "item_id", "probe"]
"""The columns of ``relevance/<model>.index.parquet``."""

FLOAT16_MAX = float(np.finfo(np.float16).max)
RELEVANCE_FOLDER = "relevance"

MAPS_COLUMN = "maps_file"
"""Shard-table column naming the shard's maps file (dropped from ``attributions.parquet``)."""
MAP_ROW_COLUMN = "map_row"
"""Shard-table column: the row in that file (−1 for rows without a map of their own)."""


def to_float16(maps: np.ndarray) -> np.ndarray:
    """Maps as stored: NaN and infinity become 0, the rest saturates at float16's range."""
    stored = np.where(np.isfinite(maps), maps, 0.0)
    return np.clip(stored, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)


def write_shard_maps(folder: Path, item_ids: Sequence[str], maps: np.ndarray) -> str:
    """Store one shard's maps atomically; returns the file name (unique to the items).

    Parameters
    ----------
    folder : Path
        The shard folder of the pass.
    item_ids : sequence of str
        The explained items, in the order of ``maps``.
    maps : numpy.ndarray
        K×H×W float16 maps.
    """
    digest = hashlib.sha256("\n".join(item_ids).encode()).hexdigest()[:16]
    name = f"{digest}.maps.npy"
    write_npy(folder / name, maps)
    return name


def shard_map_parts(table: pd.DataFrame, control: str, folder: Path,
                    ) -> list[tuple[str, Path, list[str]]]:
    """The maps files of one pass's shard rows, for :func:`write_relevance`.

    Parameters
    ----------
    table : pandas.DataFrame
        The pass's rows, with :data:`MAPS_COLUMN` and :data:`MAP_ROW_COLUMN`.
    control : str
        The pass's control (its rows own a map; the ``shuffled-edges`` rows do not).
    folder : Path
        The pass's shard folder.

    Returns
    -------
    list of (str, Path, list of str)
        ``(control, maps file, item ids in file order)``, in the table's order.
    """
    if table.empty:
        return []
    own = table[table["control"] == control]
    if "proxy" in own:  # rows scored against another proxy share the canny row's map
        own = own[own["proxy"] == "canny"]
    return [(control, folder / str(name),
             group.sort_values(MAP_ROW_COLUMN)["item_id"].astype(str).tolist())
            for name, group in own.groupby(MAPS_COLUMN, sort=False)]


def relevance_paths(root: Path, model: str) -> tuple[Path, Path]:
    """``relevance/<model>.npy`` and its index under the run directory ``root``."""
    stem = safe_name(model)
    folder = root / RELEVANCE_FOLDER
    return folder / f"{stem}.npy", folder / f"{stem}.index.parquet"


def write_relevance(root: Path, model: str, parts: Sequence[tuple[str, Path, list[str]]],
                    probes: dict[str, tuple[str, str]], size: int) -> tuple[Path, Path]:
    """Assemble the shards' maps into ``relevance/<model>.npy`` and its index, atomically.

    The array is written through a memory map into a temporary file that is renamed
    into place, so memory stays bounded by one shard and readers never see a partial
    file.

    Parameters
    ----------
    root : Path
        The run directory.
    model : str
        The model's name.
    parts : sequence of (str, Path, list of str)
        ``(control, shard maps file, its item ids)`` in the order the rows go.
    probes : dict
        item_id → ``(image_id, probe)``.
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
    for _, path, _ in parts:
        if not path.exists():
            raise MissingInputError(f"{path}: the relevance maps of a finished shard are "
                                    "missing; run `localglobal attribute --force` to redo them")
    total = sum(len(ids) for _, _, ids in parts)
    destination, index_path = relevance_paths(root, model)
    rows: list[dict] = []
    with atomic_path(destination) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16,
                                          shape=(total, size, size))
        for control, path, item_ids in parts:
            maps = np.load(path, mmap_mode="r")
            if len(maps) != len(item_ids):
                raise CorruptArtifactError(f"{path}: {len(maps)} maps for {len(item_ids)} "
                                           "items; run `localglobal attribute --force`")
            start = len(rows)
            array[start:start + len(maps)] = maps
            for offset, item_id in enumerate(item_ids):
                image_id, probe = probes.get(item_id, (item_id.split("/")[0], ""))
                rows.append({"image_id": image_id, "control": control,
                             "row": start + offset, "item_id": item_id, "probe": probe})
        array.flush()
        del array
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    index["row"] = index["row"].astype("int64")
    write_table(index_path, index)
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
