"""The source images of the probe stages: one record per row of ``samples.parquet``.

A :class:`SourceImage` is what the perturb and edges work needs of a sample (picklable,
small), and :meth:`SourceImage.item_id` is its identity as a unit of resume: the image
id plus a digest of the file's path, size and modification time (and, for edges, its
box), so that an image replaced on disk, or given a new box, is computed again while
every unchanged one is resumed.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from localglobal.errors import BadInputError, CorruptArtifactError

SAMPLE_COLUMNS = ("image_id", "path", "wnid")
"""The columns of ``samples.parquet`` the probe stages need."""

Box = tuple[float, float, float, float]


def file_stamp(path: str) -> str:
    """``path|size|mtime_ns`` of a file (``path|missing`` when it cannot be listed)."""
    try:
        stat = os.stat(path)
    except OSError:
        return f"{path}|missing"
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


@dataclass(frozen=True)
class SourceImage:
    """One sampled image.

    Attributes
    ----------
    image_id, path, wnid : str
        As in ``samples.parquet``.
    class_index : int
        The label (-1 where the table has none).
    split : str
        The dataset split ("" where the table has none).
    box : tuple of float
        The union box in the input frame, ``(x0, y0, x1, y1)``; NaN for none.
    """

    image_id: str
    path: str
    wnid: str
    class_index: int = -1
    split: str = ""
    box: Box = (math.nan, math.nan, math.nan, math.nan)

    def item_id(self, *, with_box: bool = False) -> str:
        """``<image_id>@<digest>``: the image and the version of its file (and box)."""
        text = file_stamp(self.path) + (f"|{self.box}" if with_box else "")
        return f"{self.image_id}@{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _box(record: dict[str, Any]) -> Box:
    values = [record.get(k) for k in ("box_x0", "box_y0", "box_x1", "box_y1")]
    if any(v is None for v in values):
        return (math.nan, math.nan, math.nan, math.nan)
    return tuple(float(v) for v in values)  # type: ignore[return-value]


def source_images(samples: pd.DataFrame, where: str = "samples.parquet",
                  extra: Iterable[str] = ()) -> list[SourceImage]:
    """The samples table as :class:`SourceImage` records, in its order.

    Parameters
    ----------
    samples : pandas.DataFrame
        ``samples.parquet``.
    where : str
        The table's path, for messages.
    extra : iterable of str
        Further columns that must be present.

    Raises
    ------
    CorruptArtifactError
        A needed column is missing, or an image id repeats.
    """
    missing = [c for c in (*SAMPLE_COLUMNS, *extra) if c not in samples.columns]
    if missing:
        raise CorruptArtifactError(f"{where}: lacks column(s) {missing}; run "
                                   "`localglobal index` again")
    ids = samples["image_id"].astype(str)
    repeated = ids[ids.duplicated()].unique().tolist()
    if repeated:
        raise CorruptArtifactError(f"{where}: repeats image ids {repeated[:5]}; ids must be "
                                   "unique (run `localglobal index` again)")
    out = []
    for record in samples.to_dict(orient="records"):
        class_index = record.get("class_index")
        out.append(SourceImage(
            image_id=str(record["image_id"]), path=str(record["path"]),
            wnid=str(record["wnid"]),
            class_index=-1 if class_index is None or pd.isna(class_index) else int(class_index),
            split=str(record.get("split", "") or ""), box=_box(record)))
    return out


def safe_component(value: str, what: str) -> str:
    """``value`` if it can be one component of a file name.

    Raises
    ------
    BadInputError
        Empty, ``.``/``..``, or holding a path separator or a NUL.
    """
    value = str(value)
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\0" in value:
        raise BadInputError(f"{what} {value!r} cannot be used in a file name")
    return value


def input_notes(samples: pd.DataFrame, crop: int
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Sampled images the probes use but a reader should know about.

    Parameters
    ----------
    samples : pandas.DataFrame
        ``samples.parquet`` (``width``, ``height`` and ``mode`` are used when present).
    crop : int
        The side of the input frame.

    Returns
    -------
    (list of dict, list of dict)
        Images whose shorter side is below ``crop``, so the resize enlarges them
        (``image_id, width, height``), and images stored in another colour mode than
        RGB and converted (``image_id, mode``). Empty without the columns.
    """
    small: list[dict[str, Any]] = []
    converted: list[dict[str, Any]] = []
    if {"width", "height"} <= set(samples.columns):
        shorter = np.minimum(samples["width"].to_numpy(), samples["height"].to_numpy())
        for row in samples.loc[shorter < crop, ["image_id", "width", "height"]].itertuples():
            small.append({"image_id": str(row.image_id), "width": int(row.width),
                          "height": int(row.height)})
    if "mode" in samples.columns:
        for row in samples.loc[samples["mode"].astype(str) != "RGB",
                               ["image_id", "mode"]].itertuples():
            converted.append({"image_id": str(row.image_id), "mode": str(row.mode)})
    return small, converted
