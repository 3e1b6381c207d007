"""The boxes table: one row per annotated object, read from VOC XML files.

``boxes.parquet`` has these columns (part of the interface):

======================  ==========================================================
``image_id``            stem of the XML file's name (``n01440764_10026``)
``wnid``                the image's synset: from the image id, else the folder or
                        archive name, else the object's ``<name>``
``width, height,        ``<size>`` of the annotated image in pixels (0 when the
depth``                 file does not give it)
``object_index``        position of the object among the file's ``<object>``s
``name``                the object's ``<name>``
``xmin … ymax``         the ``<bndbox>`` values as written (ImageNet: 0-based
                        inclusive pixel indices; :func:`~localglobal.data.geometry.voc_to_edges`
                        converts), clipped to the image where they leave it
``truncated,            flags of the object (0 when absent)
difficult, pose``
``source``              where the file came from: ``archive member:XML member``,
                        or the XML file's path relative to the source folder
======================  ==========================================================

:func:`read_xml_items` reads a batch of XML files into an *objects* table: the rows
above plus ``problem`` and ``note``, with a row for every object skipped (no
``<bndbox>``, non-numeric or inverted coordinates, wholly outside the image) and one
(``object_index`` -1) for every file skipped, so that a stored shard holds everything
the report needs. :func:`summarize` turns the objects tables into ``boxes.parquet``'s
rows and the report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa

from localglobal.errors import BadInputError, describe_error, is_machine_error
from localglobal.io.voc import RawObject, RawSize, read_fields

BOX_COLUMNS: tuple[str, ...] = (
    "image_id", "wnid", "width", "height", "depth", "object_index", "name",
    "xmin", "ymin", "xmax", "ymax", "truncated", "difficult", "pose", "source",
)
"""Columns of ``boxes.parquet``, in order (part of the interface)."""

BOX_SCHEMA = pa.schema([
    ("image_id", pa.string()), ("wnid", pa.string()), ("width", pa.int32()),
    ("height", pa.int32()), ("depth", pa.int32()), ("object_index", pa.int32()),
    ("name", pa.string()), ("xmin", pa.float64()), ("ymin", pa.float64()),
    ("xmax", pa.float64()), ("ymax", pa.float64()), ("truncated", pa.int8()),
    ("difficult", pa.int8()), ("pose", pa.string()), ("source", pa.string()),
])

OBJECT_SCHEMA = BOX_SCHEMA.append(pa.field("problem", pa.string())).append(
    pa.field("note", pa.string()))
"""The objects table of :func:`read_xml_items`: the boxes' columns, ``problem`` (why the
object or, with ``object_index`` -1, the whole file was skipped; empty for a box) and
``note`` (a clipped box)."""

MAX_LISTED_CLIPPED = 1000
"""Clipped boxes listed by name in the report (all are counted)."""

_WNID = re.compile(r"n\d{8}")
_WNID_PREFIX = re.compile(r"(n\d{8})_")
_NAN = float("nan")


class XmlItem(NamedTuple):
    """One VOC XML file to read: its bytes (from an archive) or its path (in a folder).

    Attributes
    ----------
    source : str
        How rows and the report name it (``Annotation/n01.tar.gz:Annotation/n01/x.xml``).
    member : str
        Its path inside the archive or folder; the stem is the image id.
    wnid : str or None
        The synset of the surrounding archive or folder, if known.
    data : bytes or None
        The file's bytes, or None to read ``path``.
    path : str or None
        The file on disk.
    """

    source: str
    member: str
    wnid: str | None = None
    data: bytes | None = None
    path: str | None = None


class Problem(NamedTuple):
    """Something skipped while listing a source, before any XML was parsed.

    ``kind`` is ``file`` (an unsafe, duplicate, linked or oversized member),
    ``archive`` (a corrupt inner archive, one past a cap) or ``ignored`` (a member
    that is neither XML nor archive: counted only); ``xml`` says whether it was an XML
    file (it then counts as read).
    """

    kind: str
    name: str
    reason: str = ""
    xml: bool = False


def folder_wnid(path: str, default: str | None = None) -> str | None:
    """The synset a member's folder names (``…/n01440764/x.xml``), else ``default``."""
    parts = path.rsplit("/", 2)
    return parts[-2] if len(parts) >= 2 and _WNID.fullmatch(parts[-2]) else default


def wnid_of_label(label: str) -> str | None:
    """The synset an archive's name starts with (``n01440764.tar.gz``), if any."""
    stem = label.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    match = _WNID.match(stem)
    return match.group(0) if match else None


# --------------------------------------------------------------------------- one file


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("ascii")
    return value.strip() if value and (value[0].isspace() or value[-1].isspace()) else value


def _to_int(text: str | bytes | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
        return int(value) if math.isfinite(value) and value == int(value) else None


def _flag(text: str | bytes | None) -> int:
    if text == b"0" or text == "0":
        return 0
    value = _to_int(text)
    return value if value is not None and -128 <= value <= 127 else 0


def _coordinates(texts: Sequence[Any]) -> tuple[float, float, float, float] | str:
    """The four ``<bndbox>`` values, or why they cannot be used."""
    try:
        xmin, ymin, xmax, ymax = map(float, texts)
        if not math.isfinite(xmin + ymin + xmax + ymax):
            raise ValueError
    except (TypeError, ValueError):
        shown = {k: _text(v) if v is not None else None
                 for k, v in zip(("xmin", "ymin", "xmax", "ymax"), texts, strict=True)}
        missing = [k for k, v in shown.items() if v is None]
        return (f"<bndbox> has no {', '.join(missing)}" if missing
                else f"non-numeric coordinates {shown}")
    if xmin > xmax or ymin > ymax:
        return f"inverted box xmin={xmin:g} xmax={xmax:g} ymin={ymin:g} ymax={ymax:g}"
    return xmin, ymin, xmax, ymax


def _clip(box: tuple[float, float, float, float], width: int, height: int
          ) -> tuple[tuple[float, float, float, float], str] | str:
    """The box clipped to the image (inclusive indices: the last column is width - 1),
    with a note when it was clipped; or why it lies wholly outside."""
    xmin, ymin, xmax, ymax = box
    clipped = (max(xmin, 0.0), max(ymin, 0.0), min(xmax, float(width - 1)),
               min(ymax, float(height - 1)))
    if clipped[0] > clipped[2] or clipped[1] > clipped[3]:
        return (f"box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) lies outside the "
                f"{width}×{height} image")
    note = "" if clipped == box else (f"box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) clipped "
                                      f"to the {width}×{height} image")
    return clipped, note


class ObjectRows:
    """Columns of the objects table, filled one XML file at a time.

    Plain lists and one Arrow table at the end are several times faster than a data
    frame per file.

    Parameters
    ----------
    fast : bool
        Read canonical files with the scanner (see :func:`~localglobal.io.voc.read_fields`).
    """

    def __init__(self, fast: bool = True) -> None:
        self.rows: list[tuple[Any, ...]] = []  # one tuple per row: cheaper than columns
        self.fast = fast
        self.bad: list[tuple[str, str]] = []

    def add_file(self, data: bytes, member: str, source: str, wnid: str | None = None) -> None:
        """Parse one VOC XML file and add a row per object (or one for the skipped file).

        Parameters
        ----------
        data : bytes
            The file's bytes.
        member : str
            Its path inside the archive or folder; its stem is the image id.
        source : str
            The ``source`` of its rows (also how the report names it).
        wnid : str, optional
            The synset of the surrounding archive or folder, if known.
        """
        base = member.rsplit("/", 1)[-1]
        image_id = base[:-4] if base[-4:].lower() == ".xml" else base
        try:
            size, objects = read_fields(data, fast=self.fast)
            self._add_objects(size, objects, image_id, source, wnid)
        except BadInputError as error:
            self.skip_file(image_id, source, str(error))
        except Exception as error:  # one odd file must not fail the others
            if is_machine_error(error):
                raise
            self.skip_file(image_id, source, f"unreadable: {describe_error(error)}")

    def skip_file(self, image_id: str, source: str, reason: str) -> None:
        """Record a file skipped as a whole (a row with ``object_index`` -1)."""
        self.rows.append((image_id, "", 0, 0, 0, -1, "", _NAN, _NAN, _NAN, _NAN, 0, 0, "",
                          source, reason, ""))
        self.bad.append((source, reason))

    def _add_objects(self, size: RawSize | None, objects: list[RawObject], image_id: str,
                     source: str, folder: str | None) -> None:
        if not objects:
            raise BadInputError("no <object> in the file")
        width = height = depth = None
        if size is not None:
            width, height, depth = _to_int(size[0]), _to_int(size[1]), _to_int(size[2])
        known_size = width is not None and height is not None and width > 0 and height > 0
        if not known_size:
            width = height = 0
        prefix = _WNID_PREFIX.match(image_id)
        file_wnid = prefix.group(1) if prefix else folder
        width, height, depth = int(width or 0), int(height or 0), depth or 0
        start = len(self.rows)
        append = self.rows.append
        issues: list[str] = []
        for index, (name, pose, truncated, difficult, *texts) in enumerate(objects):
            name = _text(name)
            wnid = file_wnid or (name if _WNID.fullmatch(name) else "")
            outcome = "no <bndbox>" if all(t is None for t in texts) else _coordinates(texts)
            note = ""
            if known_size and not isinstance(outcome, str):
                clipped = _clip(outcome, width, height)
                outcome, note = (clipped, "") if isinstance(clipped, str) else clipped
            if isinstance(outcome, str):
                issues.append(outcome)
                problem, outcome = outcome, (_NAN, _NAN, _NAN, _NAN)
            else:
                problem = ""
            append((image_id, wnid, width, height, depth, index, name, *outcome,
                    _flag(truncated), _flag(difficult), _text(pose), source, problem, note))
        if len(issues) == len(objects):
            del self.rows[start:]  # the file is skipped as a whole
            reasons = sorted(set(issues))
            raise BadInputError("; ".join(reasons) if len(reasons) <= 3 else
                           f"{reasons[0]} (and {len(reasons) - 1} other problems)")

    def table(self) -> pa.Table:
        """The rows so far as an Arrow table with :data:`OBJECT_SCHEMA`."""
        columns = list(zip(*self.rows, strict=True)) if self.rows else \
            [[] for _ in OBJECT_SCHEMA.names]
        return pa.table([pa.array(values, type=field.type)
                         for values, field in zip(columns, OBJECT_SCHEMA, strict=True)],
                        schema=OBJECT_SCHEMA)


def read_xml_items(items: Iterable[XmlItem], fast: bool = True
                   ) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Read a batch of XML files (one shard's work) into their objects table.

    Parameters
    ----------
    items : iterable of XmlItem
        The files, with their bytes or their paths.
    fast : bool
        Use the canonical scanner where it applies.

    Returns
    -------
    (pandas.DataFrame, list)
        The objects table (:data:`OBJECT_SCHEMA`) and ``(source, reason)`` of every file
        skipped as a whole (bad input: reported, never retried).

    Raises
    ------
    OSError
        A failure of the machine (see :func:`localglobal.errors.is_machine_error`)
        while reading a file; any other unreadable file is skipped.
    """
    rows = ObjectRows(fast)
    for item in items:
        data = item.data
        if data is None:
            try:
                data = Path(item.path or item.source).read_bytes()
            except OSError as error:
                if is_machine_error(error):
                    raise
                member = item.member.rsplit("/", 1)[-1]
                rows.skip_file(member[:-4] if member.lower().endswith(".xml") else member,
                               item.source, f"unreadable: {describe_error(error)}")
                continue
        rows.add_file(data, item.member, item.source, item.wnid)
    return rows.table().to_pandas(), rows.bad


# --------------------------------------------------------------------------- the report


def summarize(objects: pd.DataFrame, problems: Sequence[Problem] = ()
              ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The rows of ``boxes.parquet`` and the report, from the objects tables.

    Parameters
    ----------
    objects : pandas.DataFrame
        Every shard's objects table (:func:`read_xml_items`), in source order.
    problems : sequence of Problem
        What was skipped while listing the source.

    Returns
    -------
    (pandas.DataFrame, dict)
        The boxes (:data:`BOX_COLUMNS`, one row per object) and the report: files
        read, objects, files, objects and archives skipped and why, boxes clipped.
    """
    if not len(objects):
        objects = OBJECT_SCHEMA.empty_table().to_pandas()
    good = (objects["problem"] == "").to_numpy()
    whole_file = (objects["object_index"] == -1).to_numpy()
    boxes = objects.loc[good, list(BOX_COLUMNS)].reset_index(drop=True)
    clipped = objects.loc[good & (objects["note"] != "").to_numpy()]
    skipped_objects = objects.loc[~good & ~whole_file]
    skipped_files = [{"file": p.name, "reason": p.reason} for p in problems if p.kind == "file"]
    skipped_files += [{"file": f, "reason": r} for f, r in
                      zip(objects.loc[whole_file, "source"], objects.loc[whole_file, "problem"],
                          strict=True)]
    skipped_archives = [{"file": p.name, "reason": p.reason} for p in problems
                        if p.kind == "archive"]
    listed = clipped.head(MAX_LISTED_CLIPPED)
    details = {
        "files_read": int(objects["source"].nunique()) + sum(p.xml for p in problems
                                                             if p.kind == "file"),
        "files_with_boxes": int(boxes["source"].nunique()),
        "objects": len(boxes),
        "files_skipped": len(skipped_files),
        "objects_skipped": len(skipped_objects),
        "archives_skipped": len(skipped_archives),
        "boxes_clipped": len(clipped),
        "size_unknown": int(boxes.loc[boxes["width"] == 0, "source"].nunique()),
        "ignored_members": sum(p.kind == "ignored" for p in problems),
        "skipped_files": skipped_files,
        "skipped_objects": [{"file": f, "object_index": int(i), "reason": r} for f, i, r in
                            zip(skipped_objects["source"], skipped_objects["object_index"],
                                skipped_objects["problem"], strict=True)],
        "skipped_archives": skipped_archives,
        "clipped_boxes": [{"file": f, "object_index": int(i), "reason": r} for f, i, r in
                          zip(listed["source"], listed["object_index"], listed["note"],
                              strict=True)],
        "clipped_boxes_listed": len(listed),
    }
    return boxes, details
