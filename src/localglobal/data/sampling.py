"""Drawing the sample: a balanced, seeded draw of images per class, with their boxes.

The sample is ``per_class`` images per class, drawn with the seed from the class's
candidates (only images with a box when ``require_box``) sorted by image id, so the
draw never depends on the order the file system lists files in; each class has its
own random stream, so adding a class does not change the others' draws. Only drawn
images are opened: each is checked once (see
:func:`~localglobal.data.image_tree.check_image`), and one that cannot be used is
reported and replaced by the class's next candidate. ``samples.parquet`` holds every
drawn image with the union box and every object's box in the model-input frame.
"""

from __future__ import annotations

import os
import zlib
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from localglobal.data.frame_boxes import BoxGroups, FrameBoxes, boxes_in_frame, group_boxes
from localglobal.data.image_tree import ImageTree, check_images, scan_images
from localglobal.errors import MissingInputError
from localglobal.labels import LabelSpace

SAMPLE_SCHEMA = pa.schema([
    ("image_id", pa.string()), ("path", pa.string()), ("split", pa.string()),
    ("wnid", pa.string()), ("class_index", pa.int64()), ("class_name", pa.string()),
    ("width", pa.int64()), ("height", pa.int64()),
    ("box_x0", pa.float64()), ("box_y0", pa.float64()), ("box_x1", pa.float64()),
    ("box_y1", pa.float64()), ("boxes_input", pa.list_(pa.list_(pa.float64()))),
    ("n_objects", pa.int64()), ("has_box", pa.bool_()),
    ("xml_width", pa.int64()), ("xml_height", pa.int64()),
    ("box_scale_x", pa.float64()), ("box_scale_y", pa.float64()),
    ("mode", pa.string()), ("format", pa.string()), ("draw_rank", pa.int64()),
])
"""Columns of ``samples.parquet``: the contract's (``image_id`` … ``boxes_input``; boxes
in the model-input frame, float pixel edges, x1/y1 exclusive, NaN without a box), then
the number of objects, whether the image has a usable box, the size the XML states,
the factors that took XML coordinates to the file's actual size, the decoded PIL mode
and format, and the image's position in its class's draw order."""

Checker = Callable[[list[str]], dict[str, dict[str, Any]]]
"""``check(paths) -> {path: record}`` with :func:`~localglobal.data.image_tree.check_image`'s
records."""


def draw_order(image_ids: Sequence[str], seed: int, wnid: str) -> list[str]:
    """The order in which a class's candidates are drawn: a seeded permutation.

    The candidates are sorted first, and the random stream is derived from the seed
    and the class, so the order depends on nothing else.
    """
    ordered = sorted(image_ids)
    rng = np.random.default_rng([seed % 2**64, zlib.crc32(wnid.encode("utf-8"))])
    return [ordered[i] for i in rng.permutation(len(ordered))]


@dataclass(frozen=True)
class SampleOptions:
    """What is scanned and how the sample is drawn: the ``index`` section and the frame.

    Attributes
    ----------
    splits, extensions : sequence of str
        The split folders and file extensions scanned.
    per_class : int or None
        Images to draw per class (None: every candidate, in id order).
    require_box : bool
        Draw only images with a usable box.
    seed : int
        The draw's seed.
    resize, crop : int
        The model-input frame.
    """

    splits: Sequence[str] = ("train",)
    extensions: Sequence[str] = (".jpeg",)
    per_class: int | None = 3
    require_box: bool = True
    seed: int = 1
    resize: int = 256
    crop: int = 224


def check_serially(paths: list[str]) -> dict[str, dict[str, Any]]:
    """A :data:`Checker` that checks the images in this process."""
    table, _bad = check_images(paths)
    return {record["path"]: record for record in table.to_dict("records")}


@dataclass(frozen=True)
class Drawn:
    """One drawn image: its check record, its boxes in the frame and its XML size."""

    image_id: str
    record: dict[str, Any]
    frame: FrameBoxes | None
    xml_size: tuple[int, int]
    rank: int


@dataclass
class Draw:
    """The outcome of :func:`draw_sample`.

    Attributes
    ----------
    images : pandas.DataFrame
        Every image found (the tree's), with ``has_box``.
    by_class : dict
        wnid → its candidates.
    chosen : dict
        wnid → the images drawn.
    problems : list of dict
        ``path``, ``image_id``, ``reason`` of every drawn image that was skipped.
    checked : dict
        path → check record of every image opened.
    """

    images: pd.DataFrame
    by_class: dict[str, list[str]]
    chosen: dict[str, list[Drawn]]
    problems: list[dict[str, Any]] = field(default_factory=list)
    checked: dict[str, dict[str, Any]] = field(default_factory=dict)


def _candidates(images: pd.DataFrame, require_box: bool) -> dict[str, list[str]]:
    by_class: dict[str, list[str]] = {}
    for wnid, group in images.groupby("wnid", sort=False):
        chosen = group.loc[group["has_box"], "image_id"] if require_box else group["image_id"]
        by_class[str(wnid)] = list(chosen)
    return by_class


def draw_sample(tree: ImageTree, groups: BoxGroups, space: LabelSpace, options: SampleOptions,
                check: Checker = check_serially) -> Draw:
    """Draw ``options.per_class`` usable images per class, replacing the ones that fail.

    Parameters
    ----------
    tree : ImageTree
        The images found.
    groups : dict
        Their boxes (:func:`~localglobal.data.frame_boxes.group_boxes`).
    space : LabelSpace
        The label space (its order is the classes').
    options : SampleOptions
        Images per class, whether a box is required, the seed and the frame.
    check : callable
        Opens a round's drawn images (:data:`Checker`); the stage spreads it on shards.
    """
    per_class, seed = options.per_class, options.seed
    images = tree.images.assign(has_box=tree.images["image_id"].isin(groups.keys()))
    info = images.set_index("image_id")
    by_class = _candidates(images, options.require_box)
    classes = [w for w in space.wnids if w in by_class]
    queues = {w: deque(draw_order(by_class[w], seed, w) if per_class is not None
                       else sorted(by_class[w])) for w in classes}
    targets = {w: per_class if per_class is not None else len(by_class[w]) for w in classes}
    draw = Draw(images, by_class, {w: [] for w in classes})
    ranks: dict[str, int] = {}
    while True:
        taken: dict[str, list[str]] = {}
        for wnid in classes:
            need = targets[wnid] - len(draw.chosen[wnid])
            while need > 0 and queues[wnid]:
                image_id = queues[wnid].popleft()
                ranks[image_id] = len(by_class[wnid]) - len(queues[wnid]) - 1
                taken.setdefault(wnid, []).append(image_id)
                need -= 1
        if not taken:
            return draw
        paths = [info.at[i, "path"] for picks in taken.values() for i in picks]
        todo = [p for p in paths if p not in draw.checked]
        if todo:
            draw.checked.update(check(todo))
        for wnid, picks in taken.items():
            for image_id in picks:
                drawn = _accept(image_id, info.at[image_id, "path"], draw, groups, options,
                                ranks[image_id])
                if drawn is not None:
                    draw.chosen[wnid].append(drawn)


def _accept(image_id: str, path: str, draw: Draw, groups: BoxGroups, options: SampleOptions,
            rank: int) -> Drawn | None:
    """The drawn image, or None (reported) when it cannot be used."""
    record = draw.checked[path]
    if not record["ok"]:
        draw.problems.append({"path": path, "image_id": image_id, "reason": record["reason"]})
        return None
    frame, xml_size = None, (0, 0)
    if image_id in groups:
        voc, xml_size = groups[image_id]
        frame = boxes_in_frame(voc, xml_size, (int(record["width"]), int(record["height"])),
                               options.resize, options.crop)
        if frame.problem:
            draw.problems.append({"path": path, "image_id": image_id,
                                  "reason": f"box unusable: {frame.problem}"})
            if options.require_box:
                return None
            frame = None
    return Drawn(image_id, record, frame, xml_size, rank)


# --------------------------------------------------------------------------- outputs


def sample_table(draw: Draw, space: LabelSpace) -> pa.Table:
    """``samples.parquet``'s rows (:data:`SAMPLE_SCHEMA`), by class then image id."""
    info = draw.images.set_index("image_id")
    columns: dict[str, list[Any]] = {name: [] for name in SAMPLE_SCHEMA.names}
    nan4 = (np.nan,) * 4
    for wnid in space.wnids:
        for drawn in sorted(draw.chosen.get(wnid, []), key=lambda d: d.image_id):
            frame, record = drawn.frame, drawn.record
            boxed = frame is not None
            values = {
                "image_id": drawn.image_id, "path": info.at[drawn.image_id, "path"],
                "split": info.at[drawn.image_id, "split"], "wnid": wnid,
                "class_index": space.index_of(wnid), "class_name": space.name_of(wnid),
                "width": int(record["width"]), "height": int(record["height"]),
                **dict(zip(("box_x0", "box_y0", "box_x1", "box_y1"),
                           (float(v) for v in (frame.union if boxed else nan4)), strict=True)),
                "boxes_input": frame.boxes.tolist() if boxed else [],
                "n_objects": len(frame.boxes) if boxed else 0, "has_box": boxed,
                "xml_width": drawn.xml_size[0] if boxed else None,
                "xml_height": drawn.xml_size[1] if boxed else None,
                "box_scale_x": frame.scale_x if boxed else np.nan,
                "box_scale_y": frame.scale_y if boxed else np.nan,
                "mode": record["mode"], "format": record["format"], "draw_rank": drawn.rank,
            }
            for name, value in values.items():
                columns[name].append(value)
    return pa.table({name: pa.array(columns[name], type=SAMPLE_SCHEMA.field(name).type)
                     for name in SAMPLE_SCHEMA.names}, schema=SAMPLE_SCHEMA)


def nothing_drawn_message(root: Any, tree: ImageTree, draw: Draw, space: LabelSpace,
                          options: SampleOptions) -> str:
    """Why no image could be drawn, and what to check."""
    where = f"{root} (splits {list(options.splits)})"
    images = draw.images
    if not len(images):
        extra = (f"; class folders there are outside label space {space.name!r}: "
                 f"{tree.outside_label_space[:5]}" if tree.outside_label_space else "")
        return f"{where}: no images of label space {space.name!r} found{extra}"
    if options.require_box and not images["has_box"].any():
        return (f"{where}: none of the {len(images)} images has a box in boxes.parquet; check "
                "that data.annotations belongs to these images, or draw them without boxes: "
                "`localglobal index ROOT --run DIR --no-require-box`, or require_box = false "
                "under [index] in the run's config.toml")
    return f"{where}: no image could be drawn (every candidate was unreadable or had no usable box)"


def _extension_matches(path: str, image_format: str) -> bool:
    extension = os.path.splitext(path)[1].lower()
    expected = {".jpeg": "JPEG", ".jpg": "JPEG", ".png": "PNG", ".bmp": "BMP",
                ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF"}
    return expected.get(extension, image_format) == image_format


def _class_entries(space: LabelSpace, tree: ImageTree, draw: Draw, per_class: int | None
                   ) -> dict[str, dict[str, Any]]:
    images = draw.images
    found = images.groupby("wnid").size().to_dict() if len(images) else {}
    with_box = images[images["has_box"]].groupby("wnid").size().to_dict() if len(images) else {}
    classes: dict[str, dict[str, Any]] = {}
    for wnid in space.wnids:
        if wnid not in found and wnid not in tree.missing_classes:
            continue
        sampled = len(draw.chosen.get(wnid, []))
        entry = {"name": space.name_of(wnid), "class_index": space.index_of(wnid),
                 "found": int(found.get(wnid, 0)), "with_box": int(with_box.get(wnid, 0)),
                 "candidates": len(draw.by_class.get(wnid, [])), "sampled": sampled}
        if per_class is not None and sampled < per_class and wnid not in tree.missing_classes:
            entry["shortfall"] = per_class - sampled
        classes[wnid] = entry
    return classes


def sample_report(root: Any, space: LabelSpace, tree: ImageTree, draw: Draw,
                  options: SampleOptions) -> dict[str, Any]:
    """The index report: what was found, drawn and skipped, per class and in all."""
    images = draw.images
    drawn = [d for picks in draw.chosen.values() for d in picks]
    modes = Counter(d.record["mode"] for d in drawn if d.record["mode"] != "RGB")
    mismatched = [{"path": r["path"], "format": r["format"]} for r in draw.checked.values()
                  if r["ok"] and r["format"] and not _extension_matches(r["path"], r["format"])]
    rescaled = sum(1 for d in drawn if d.frame is not None
                   and (d.frame.scale_x != 1.0 or d.frame.scale_y != 1.0))
    return {
        "root": str(root), "splits": list(options.splits), "label_space": space.name,
        "per_class": options.per_class, "require_box": options.require_box,
        "seed": options.seed,
        "images_found": len(images),
        "images_with_box": int(images["has_box"].sum()) if len(images) else 0,
        "images_opened": len(draw.checked), "sampled": len(drawn),
        "classes": _class_entries(space, tree, draw, options.per_class),
        "classes_missing": tree.missing_classes,
        "folders_outside_label_space": tree.outside_label_space,
        "duplicate_ids": tree.duplicates,
        "n_problems": len(draw.problems), "problems": draw.problems,
        "decoded_to_rgb": dict(modes), "format_mismatch": mismatched,
        "boxes_rescaled": rescaled,
    }


# --------------------------------------------------------------------------- all of it


@dataclass
class IndexResult:
    """The drawn sample (``samples.parquet``'s rows) and the report."""

    samples: pa.Table
    report: dict[str, Any]


def build_index(root: str | os.PathLike[str], boxes: pd.DataFrame | None, space: LabelSpace,
                options: SampleOptions = SampleOptions(), check: Checker = check_serially
                ) -> IndexResult:
    """Scan the image tree, join the boxes and draw the sample.

    Parameters
    ----------
    root : path-like
        The image root with ``<split>/<wnid>/<image>`` folders.
    boxes : pandas.DataFrame or None
        ``boxes.parquet``'s rows (image_id, object_index, width, height, xmin … ymax);
        None (or empty) when there are no annotations.
    space : LabelSpace
        The label space (class index and name come from it).
    options : SampleOptions, optional
        What to scan and how to draw (default: the ``index`` section's defaults).
    check : callable
        How drawn images are opened (:data:`Checker`; in this process by default).

    Raises
    ------
    MissingInputError
        Missing folders, or nothing to draw from.
    """
    tree = scan_images(root, options.splits, options.extensions, space)
    groups = group_boxes(boxes, set(tree.images["image_id"]))
    draw = draw_sample(tree, groups, space, options, check)
    if not any(draw.chosen.values()):
        raise MissingInputError(nothing_drawn_message(root, tree, draw, space, options))
    report = sample_report(root, space, tree, draw, options)
    return IndexResult(sample_table(draw, space), report)
