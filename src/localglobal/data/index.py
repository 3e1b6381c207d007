"""The ``index`` stage: find the images, attach their boxes, draw the sample.

Images are found under ``<root>/<split>/<wnid>/<image>`` for the configured splits
and extensions (Imagenette in any of its sizes, Imagewoof, ImageNet, the toy
world); only classes of the configured label space are kept. Boxes from
``boxes.parquet`` are joined by image id (the file stem).

The sample is ``index.per_class`` images per class, drawn with ``run.seed`` from
the class's candidates (only images with a box when ``index.require_box``) sorted
by image id, so the draw never depends on the order the file system lists
files in; each class has its own random stream, so adding a class does not change
the others' draws. Only drawn images are opened: each is fully decoded once, and
one that cannot be (unreadable, truncated, corrupt) is reported and replaced by
the class's next candidate. CMYK, greyscale and PNG-named-JPEG images are fine:
they decode to RGB later and are only counted.

Every object's box is brought into the model-input frame: VOC indices become pixel
edges, are rescaled from the size the XML states to the image's actual size (the
Imagenette 320 and 160 variants are downscaled copies whose XML still gives the
original size; XML and image must agree in aspect ratio), then mapped by
:func:`~localglobal.data.geometry.frame_transform`. ``samples.parquet`` holds the
union box and every object's box in that frame.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, ImageFile

from localglobal.data.classes import LabelSpace, get_label_space
from localglobal.data.geometry import frame_transform, union_box
from localglobal.store import ShardStore, atomic_path, write_json

#: Columns of ``samples.parquet``: the contract's (``image_id`` … ``boxes_input``; boxes
#: in the model-input frame, float pixel edges, x1/y1 exclusive, NaN without a box),
#: then the number of objects, whether the image has a usable box, the size the XML
#: states, the factors that took XML coordinates to the file's actual size, the
#: decoded PIL mode and format, and the image's position in its class's draw order.
SAMPLE_SCHEMA = pa.schema([
    ("image_id", pa.string()),
    ("path", pa.string()),
    ("split", pa.string()),
    ("wnid", pa.string()),
    ("class_index", pa.int64()),
    ("class_name", pa.string()),
    ("width", pa.int64()),
    ("height", pa.int64()),
    ("box_x0", pa.float64()),
    ("box_y0", pa.float64()),
    ("box_x1", pa.float64()),
    ("box_y1", pa.float64()),
    ("boxes_input", pa.list_(pa.list_(pa.float64()))),
    ("n_objects", pa.int64()),
    ("has_box", pa.bool_()),
    ("xml_width", pa.int64()),
    ("xml_height", pa.int64()),
    ("box_scale_x", pa.float64()),
    ("box_scale_y", pa.float64()),
    ("mode", pa.string()),
    ("format", pa.string()),
    ("draw_rank", pa.int64()),
])


class ImageIndexError(ValueError):
    """The image tree cannot be indexed (missing folder, nothing to draw from)."""


# --------------------------------------------------------------------------- scanning


@dataclass
class ImageTree:
    """The images found under a root, per class, before any is opened.

    Attributes:
        images: one row per image: image_id, path, split, wnid (sorted by wnid, image_id).
        outside_label_space: class folders skipped because the label space lacks them.
        duplicates: image ids found more than once (the first split listed wins).
        missing_classes: label-space classes without any folder.
    """

    images: pd.DataFrame
    outside_label_space: list[str] = field(default_factory=list)
    duplicates: list[dict[str, str]] = field(default_factory=list)
    missing_classes: list[str] = field(default_factory=list)


def scan_images(root: str | os.PathLike[str], splits: Sequence[str],
                extensions: Sequence[str], space: LabelSpace) -> ImageTree:
    """List ``<root>/<split>/<wnid>/<image>`` files of the label space's classes.

    Args:
        root: the image root.
        splits: split folder names, in order of preference for duplicate ids.
        extensions: accepted file extensions, case-insensitive, with the dot.
        space: the label space; class folders outside it are skipped and listed.

    Raises:
        ImageIndexError: the root or a split folder does not exist.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ImageIndexError(f"{root}: image root not found")
    accepted = tuple(ext.lower() for ext in extensions)
    rows: list[tuple[str, str, str, str]] = []
    seen: dict[str, str] = {}
    tree = ImageTree(pd.DataFrame())
    present: set[str] = set()
    outside: set[str] = set()
    for split in splits:
        folder = root / split
        if not folder.is_dir():
            available = sorted(p.name for p in root.iterdir() if p.is_dir())
            raise ImageIndexError(f"{folder}: split folder not found (index.splits = "
                              f"{list(splits)}; folders under {root}: {available})")
        class_dirs = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
        for wnid in class_dirs:
            if wnid not in space:
                outside.add(wnid)
                continue
            present.add(wnid)
            names = sorted(entry.name for entry in os.scandir(folder / wnid)
                           if entry.is_file() and entry.name.lower().endswith(accepted))
            for name in names:
                image_id = os.path.splitext(name)[0]
                if image_id in seen:
                    tree.duplicates.append({"image_id": image_id, "kept": seen[image_id],
                                            "skipped": str(folder / wnid / name)})
                    continue
                path = str((folder / wnid / name).resolve())
                seen[image_id] = path
                rows.append((image_id, path, split, wnid))
    tree.images = pd.DataFrame(rows, columns=["image_id", "path", "split", "wnid"])
    tree.outside_label_space = sorted(outside)
    tree.missing_classes = [w for w in space.wnids if w not in present]
    return tree


def draw_order(image_ids: Sequence[str], seed: int, wnid: str) -> list[str]:
    """The order in which a class's candidates are drawn: a seeded permutation.

    The candidates are sorted first, and the random stream is derived from the
    seed and the class, so the order depends on nothing else.
    """
    ordered = sorted(image_ids)
    rng = np.random.default_rng([seed % 2**64, zlib.crc32(wnid.encode("utf-8"))])
    return [ordered[i] for i in rng.permutation(len(ordered))]


# --------------------------------------------------------------------------- images


def check_image(path: str) -> dict[str, Any]:
    """Open an image, decode it fully and report what it is.

    Returns:
        ``path``, ``ok``, ``reason`` (why it failed, or a note), ``width``,
        ``height`` (pixels, as stored), ``mode`` (PIL mode, e.g. RGB, L, CMYK) and
        ``format`` (the format found in the data, e.g. JPEG, PNG).
    """
    record: dict[str, Any] = {"path": path, "ok": False, "reason": "", "width": 0,
                              "height": 0, "mode": "", "format": ""}
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail, not pad with grey
    try:
        with Image.open(path) as image:
            record.update(width=image.size[0], height=image.size[1], mode=image.mode,
                          format=image.format or "")
            image.load()
            if image.mode != "RGB":
                image.convert("RGB")
        record["ok"] = True
    except Image.DecompressionBombError as error:
        record["reason"] = f"refused: {error}"
    except (OSError, SyntaxError, ValueError) as error:
        text = str(error)
        if "truncated" in text:
            record["reason"] = f"truncated image: {text}"
        elif isinstance(error, FileNotFoundError | PermissionError):
            record["reason"] = f"unreadable: {text}"
        else:
            record["reason"] = f"corrupt or unreadable image: {text}"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return record


def check_images(paths: list[str]) -> list[dict[str, Any]]:
    """:func:`check_image` for a chunk of paths (a work unit)."""
    return [check_image(path) for path in paths]


# --------------------------------------------------------------------------- boxes


@dataclass(frozen=True)
class FrameBoxes:
    """An image's boxes in the model-input frame.

    Attributes:
        boxes: N×4 ``(x0, y0, x1, y1)`` per object, pixel edges in the frame, clipped
            (a box outside the frame is empty).
        union: the union of the non-empty boxes, NaN when there is none.
        scale_x, scale_y: factors applied to bring XML coordinates to the image's
            actual size.
        problem: why the boxes cannot be used (empty when they can).
    """

    boxes: np.ndarray
    union: tuple[float, float, float, float]
    scale_x: float
    scale_y: float
    problem: str = ""


def boxes_in_frame(voc_boxes: np.ndarray, xml_size: tuple[int, int],
                   image_size: tuple[int, int], resize: int, crop: int) -> FrameBoxes:
    """Map VOC boxes into the model-input frame of the actual image.

    Args:
        voc_boxes: N×4 ``(xmin, ymin, xmax, ymax)``, inclusive 0-based pixel indices
            in the image the XML describes.
        xml_size: ``(width, height)`` the XML states (0s when unknown: taken to be
            the actual size).
        image_size: ``(width, height)`` of the actual image file.
        resize, crop: the frame's parameters (see :func:`frame_transform`).

    Returns:
        The :class:`FrameBoxes`; ``problem`` is set when the XML size and the image
        disagree in aspect ratio (the boxes belong to another version of the image)
        or when no box reaches into the frame.
    """
    width, height = image_size
    xml_width, xml_height = xml_size
    voc = np.asarray(voc_boxes, dtype=np.float64).reshape(-1, 4)
    edges = voc + np.array([0.0, 0.0, 1.0, 1.0])  # inclusive indices → pixel edges
    if xml_width > 0 and xml_height > 0:
        scale_x, scale_y = width / xml_width, height / xml_height
        # Rounding a resized side to whole pixels moves its factor by at most
        # 0.5 / side; allow twice that (some tools truncate instead).
        tolerance = 1.0 / xml_width + 1.0 / xml_height + 1e-9
        if abs(scale_x - scale_y) > tolerance:
            return FrameBoxes(np.zeros((0, 4)), (np.nan,) * 4, scale_x, scale_y,
                              f"the XML describes a {xml_width}×{xml_height} image but the "
                              f"file is {width}×{height}: not the same picture")
    else:
        scale_x = scale_y = 1.0
    scaled = edges * np.array([scale_x, scale_y, scale_x, scale_y])
    transform = frame_transform(width, height, resize, crop)
    mapped = transform.map_boxes(scaled)
    union = tuple(float(v) for v in union_box(mapped))
    problem = "" if len(mapped) and not np.isnan(union[0]) else \
        "no box reaches into the model-input frame"
    return FrameBoxes(mapped, union, scale_x, scale_y, problem)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the draw


@dataclass(frozen=True)
class Drawn:
    """One drawn image: its decode record, its boxes in the frame and its XML size."""

    image_id: str
    record: dict[str, Any]
    frame: FrameBoxes | None
    xml_size: tuple[int, int]
    rank: int


@dataclass
class IndexResult:
    """The drawn sample (``samples.parquet`` rows) and the report."""

    samples: pa.Table
    report: dict[str, Any]


def build_index(root: str | os.PathLike[str], boxes: pd.DataFrame, space: LabelSpace, *,
                splits: Sequence[str] = ("train",), extensions: Sequence[str] = (".jpeg",),
                per_class: int | None = 3, require_box: bool = True, seed: int = 1,
                resize: int = 256, crop: int = 224, workers: int = 1,
                store: ShardStore | None = None, chunk_size: int = 64,
                executor: str = "process") -> IndexResult:
    """Scan the image tree, join boxes and draw the sample.

    Args:
        root: image root with ``<split>/<wnid>/<image>`` folders.
        boxes: ``boxes.parquet`` rows (image_id, width, height, xmin, ymin, xmax, ymax).
        space: the label space (class index and name come from it).
        splits, extensions: what to scan.
        per_class: images to draw per class (None: every candidate).
        require_box: draw only images with a usable box.
        seed: the draw's seed.
        resize, crop: the model-input frame.
        workers: processes for decoding the drawn images.
        store: finished decode checks, kept for resume.
        chunk_size: images per decode work unit.
        executor: ``process`` or ``ray``.

    Raises:
        ImageIndexError: missing folders, or nothing to draw from.
    """
    from localglobal.executor import parallel_map

    tree = scan_images(root, splits, extensions, space)
    images = tree.images
    box_groups = _group_boxes(boxes, set(images["image_id"]))
    images = images.assign(has_box=images["image_id"].isin(box_groups.keys()))
    info = images.set_index("image_id")

    by_class: dict[str, list[str]] = {}
    for wnid, group in images.groupby("wnid", sort=False):
        candidates = group.loc[group["has_box"], "image_id"] if require_box else group["image_id"]
        by_class[str(wnid)] = list(candidates)
    classes = [w for w in space.wnids if w in by_class]
    queues = {
        w: deque(draw_order(by_class[w], seed, w) if per_class is not None
                 else sorted(by_class[w]))
        for w in classes
    }
    targets = {w: (per_class if per_class is not None else len(by_class[w])) for w in classes}

    checked: dict[str, dict[str, Any]] = {}
    chosen: dict[str, list[Drawn]] = {w: [] for w in classes}
    problems: list[dict[str, Any]] = []
    rank: dict[str, int] = {}
    draws: dict[str, int] = dict.fromkeys(classes, 0)
    while True:
        taken: dict[str, list[str]] = {}
        for wnid in classes:
            need = targets[wnid] - len(chosen[wnid])
            picks = []
            while need > 0 and queues[wnid]:
                image_id = queues[wnid].popleft()
                rank[image_id] = draws[wnid]
                draws[wnid] += 1
                picks.append(image_id)
                need -= 1
            if picks:
                taken[wnid] = picks
        if not taken:
            break
        paths = [info.at[i, "path"] for picks in taken.values() for i in picks
                 if info.at[i, "path"] not in checked]
        for record in _check_all(paths, workers, store, chunk_size, executor, parallel_map):
            checked[record["path"]] = record
        for wnid, picks in taken.items():
            for image_id in picks:
                path = info.at[image_id, "path"]
                record = checked[path]
                if not record["ok"]:
                    problems.append({"path": path, "image_id": image_id,
                                     "reason": record["reason"]})
                    continue
                frame = None
                xml_size = (0, 0)
                if image_id in box_groups:
                    voc, xml_size = box_groups[image_id]
                    frame = boxes_in_frame(voc, xml_size, (record["width"], record["height"]),
                                           resize, crop)
                    if frame.problem:
                        problems.append({"path": path, "image_id": image_id,
                                         "reason": f"box unusable: {frame.problem}"})
                        if require_box:
                            continue
                        frame = None
                chosen[wnid].append(Drawn(image_id, record, frame, xml_size, rank[image_id]))

    if not any(chosen.values()):
        raise ImageIndexError(
            _nothing_drawn_message(root, splits, tree, images, require_box, space))
    samples = _sample_table(chosen, info, space)
    report = _report(root, splits, space, tree, images, by_class, chosen, problems, checked,
                     per_class, require_box, seed)
    return IndexResult(samples, report)


def _group_boxes(boxes: pd.DataFrame, image_ids: set[str]
                 ) -> dict[str, tuple[np.ndarray, tuple[int, int]]]:
    """Boxes of the given images: image id → (N×4 VOC boxes, XML (width, height))."""
    if boxes is None or not len(boxes):
        return {}
    needed = boxes[boxes["image_id"].isin(image_ids)]
    order = ["image_id", "object_index"] if "object_index" in needed else ["image_id"]
    needed = needed.sort_values(order, kind="stable")  # each image's rows together
    groups: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}
    coords = needed[["xmin", "ymin", "xmax", "ymax"]].to_numpy(dtype=np.float64)
    ids = needed["image_id"].to_numpy()
    widths = needed["width"].to_numpy()
    heights = needed["height"].to_numpy()
    start = 0
    for end in range(1, len(ids) + 1):
        if end == len(ids) or ids[end] != ids[start]:
            groups[str(ids[start])] = (coords[start:end],
                                       (int(widths[start]), int(heights[start])))
            start = end
    return groups


def _check_all(paths: list[str], workers: int, store: ShardStore | None, chunk_size: int,
               executor: str, parallel_map: Any) -> list[dict[str, Any]]:
    """Decode-check images in chunks, reusing chunks finished before an interruption."""
    records: list[dict[str, Any]] = []
    todo: list[tuple[str, list[str]]] = []
    for start in range(0, len(paths), chunk_size):
        chunk = paths[start:start + chunk_size]
        name = "check-" + hashlib.sha1("\n".join(chunk).encode("utf-8")).hexdigest()[:20]
        if store is not None and store.done(name):
            records.extend(store.get(name).to_dict("records"))
        else:
            todo.append((name, chunk))
    for name, result in parallel_map(_check_unit, todo, workers=min(workers, len(todo)),
                                     executor=executor, description="index: decoding images"):
        records.extend(result)
        if store is not None:
            store.put(name, pd.DataFrame(result))
    return records


def _check_unit(unit: tuple[str, list[str]]) -> tuple[str, list[dict[str, Any]]]:
    name, paths = unit
    return name, check_images(paths)


def _sample_table(chosen: dict[str, list[Drawn]], info: pd.DataFrame,
                  space: LabelSpace) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in SAMPLE_SCHEMA.names}
    for wnid in space.wnids:
        for drawn in sorted(chosen.get(wnid, []), key=lambda d: d.image_id):
            frame, record = drawn.frame, drawn.record
            columns["image_id"].append(drawn.image_id)
            columns["path"].append(info.at[drawn.image_id, "path"])
            columns["split"].append(info.at[drawn.image_id, "split"])
            columns["wnid"].append(wnid)
            columns["class_index"].append(space.index_of(wnid))
            columns["class_name"].append(space.name_of(wnid))
            columns["width"].append(int(record["width"]))
            columns["height"].append(int(record["height"]))
            union = frame.union if frame is not None else (np.nan,) * 4
            for key, value in zip(("box_x0", "box_y0", "box_x1", "box_y1"), union, strict=True):
                columns[key].append(float(value))
            columns["boxes_input"].append(frame.boxes.tolist() if frame is not None else [])
            columns["n_objects"].append(len(frame.boxes) if frame is not None else 0)
            columns["has_box"].append(frame is not None)
            columns["xml_width"].append(drawn.xml_size[0] if frame is not None else None)
            columns["xml_height"].append(drawn.xml_size[1] if frame is not None else None)
            columns["box_scale_x"].append(frame.scale_x if frame is not None else np.nan)
            columns["box_scale_y"].append(frame.scale_y if frame is not None else np.nan)
            columns["mode"].append(record["mode"])
            columns["format"].append(record["format"])
            columns["draw_rank"].append(drawn.rank)
    return pa.table({name: pa.array(columns[name], type=SAMPLE_SCHEMA.field(name).type)
                     for name in SAMPLE_SCHEMA.names}, schema=SAMPLE_SCHEMA)


def _nothing_drawn_message(root: Any, splits: Sequence[str], tree: ImageTree,
                           images: pd.DataFrame, require_box: bool, space: LabelSpace) -> str:
    where = f"{root} (splits {list(splits)})"
    if not len(images):
        extra = (f"; class folders there are outside label space {space.name!r}: "
                 f"{tree.outside_label_space[:5]}" if tree.outside_label_space else "")
        return f"{where}: no images of label space {space.name!r} found{extra}"
    if require_box and not images["has_box"].any():
        return (f"{where}: none of the {len(images)} images has a box in boxes.parquet; check "
                "that the annotations belong to these images, or set index.require_box = false")
    return f"{where}: no image could be drawn (every candidate was unreadable or had no usable box)"


def _report(root: Any, splits: Sequence[str], space: LabelSpace, tree: ImageTree,
            images: pd.DataFrame, by_class: dict[str, list[str]],
            chosen: dict[str, list[Drawn]], problems: list[dict[str, Any]],
            checked: dict[str, dict[str, Any]],
            per_class: int | None, require_box: bool, seed: int) -> dict[str, Any]:
    found = images.groupby("wnid").size().to_dict() if len(images) else {}
    with_box = images[images["has_box"]].groupby("wnid").size().to_dict() if len(images) else {}
    classes: dict[str, dict[str, Any]] = {}
    for wnid in space.wnids:
        if wnid not in found and wnid not in tree.missing_classes:
            continue
        sampled = len(chosen.get(wnid, []))
        entry = {"name": space.name_of(wnid), "class_index": space.index_of(wnid),
                 "found": int(found.get(wnid, 0)), "with_box": int(with_box.get(wnid, 0)),
                 "candidates": len(by_class.get(wnid, [])), "sampled": sampled}
        if per_class is not None and sampled < per_class and wnid not in tree.missing_classes:
            entry["shortfall"] = per_class - sampled
        classes[wnid] = entry
    drawn = [d.record for picks in chosen.values() for d in picks]
    modes = Counter(r["mode"] for r in drawn if r["mode"] != "RGB")
    mismatched = [
        {"path": r["path"], "format": r["format"]} for r in checked.values()
        if r["ok"] and r["format"] and not _extension_matches(r["path"], r["format"])
    ]
    rescaled = sum(1 for picks in chosen.values() for d in picks
                   if d.frame is not None and (d.frame.scale_x != 1.0 or d.frame.scale_y != 1.0))
    return {
        "root": str(root),
        "splits": list(splits),
        "label_space": space.name,
        "per_class": per_class,
        "require_box": require_box,
        "seed": seed,
        "images_found": len(images),
        "images_with_box": int(images["has_box"].sum()) if len(images) else 0,
        "images_opened": len(checked),
        "sampled": len(drawn),
        "classes": classes,
        "classes_missing": tree.missing_classes,
        "folders_outside_label_space": tree.outside_label_space,
        "duplicate_ids": tree.duplicates,
        "n_problems": len(problems),
        "problems": problems,
        "decoded_to_rgb": dict(modes),
        "format_mismatch": mismatched,
        "boxes_rescaled": rescaled,
    }


def _extension_matches(path: str, image_format: str) -> bool:
    extension = os.path.splitext(path)[1].lower()
    expected = {".jpeg": "JPEG", ".jpg": "JPEG", ".png": "PNG", ".bmp": "BMP",
                ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF"}
    return expected.get(extension, image_format) == image_format


# --------------------------------------------------------------------------- the stage


def index_stage(ctx: Any) -> dict[str, Any]:
    """Write ``samples.parquet`` and ``index-report.json`` for ``config.data.images``."""
    from localglobal.run import StageError

    config = ctx.config
    if not config.data.images:
        raise StageError("index needs an image root: set data.images in the configuration "
                         "or run `localglobal index ROOT --run DIR`")
    space = get_label_space(config.data.label_space)
    boxes = ctx.run.read("boxes", columns=["image_id", "object_index", "width", "height",
                                           "xmin", "ymin", "xmax", "ymax"])
    store = ctx.shards(images=ctx.params_hash)
    try:
        result = build_index(
            config.data.images, boxes, space, splits=config.index.splits,
            extensions=config.index.extensions, per_class=config.index.per_class,
            require_box=config.index.require_box, seed=config.run.seed,
            resize=config.frame.resize, crop=config.frame.crop, workers=ctx.n_workers,
            store=store, chunk_size=config.run.shard_size, executor=config.run.executor)
    except ImageIndexError as error:
        raise StageError(str(error)) from None
    report = result.report
    for problem in report["problems"][:10]:
        ctx.log(f"[yellow]{problem['path']}: {problem['reason']}[/yellow]")
    if report["n_problems"] > 10:
        ctx.log(f"[yellow]… and {report['n_problems'] - 10} more, listed in "
                "index-report.json[/yellow]")
    if report["classes_missing"]:
        ctx.log(f"[yellow]no folder for {len(report['classes_missing'])} classes of "
                f"{space.name!r}: {', '.join(report['classes_missing'])}[/yellow]")
    short = {w: c["shortfall"] for w, c in report["classes"].items() if "shortfall" in c}
    if short:
        ctx.log(f"[yellow]classes with fewer than {config.index.per_class} images: "
                f"{short}[/yellow]")
    write_json(ctx.run.path("index-report.json"), report)
    with atomic_path(ctx.run.table_path("samples")) as tmp:
        pq.write_table(result.samples, tmp)
    return {"images_found": report["images_found"], "images_with_box": report["images_with_box"],
            "sampled": report["sampled"], "problems": report["n_problems"],
            "classes": len(report["classes"])}
