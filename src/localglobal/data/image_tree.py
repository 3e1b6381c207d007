"""The image tree: finding ``<root>/<split>/<wnid>/<image>`` files and checking them.

:func:`scan_images` lists the images of a label space's classes without opening any;
:func:`check_image` opens one, decodes it fully with Pillow and says what it is, or
why it cannot be used (unreadable, truncated, corrupt, or larger than Pillow's
decompression-bomb limit). CMYK, greyscale and PNG-named-JPEG images are fine: they
decode to RGB later and are only counted.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
from PIL import Image, ImageFile

from localglobal.errors import MissingInputError, is_machine_error
from localglobal.labels import LabelSpace

# --------------------------------------------------------------------------- scanning


@dataclass
class ImageTree:
    """The images found under a root, per class, before any is opened.

    Attributes
    ----------
    images : pandas.DataFrame
        One row per image: image_id, path, split, wnid (sorted by split, wnid, name).
    outside_label_space : list of str
        Class folders skipped because the label space lacks them.
    duplicates : list of dict
        Image ids found more than once (the first split listed wins).
    missing_classes : list of str
        Label-space classes without any folder.
    """

    images: pd.DataFrame
    outside_label_space: list[str] = field(default_factory=list)
    duplicates: list[dict[str, str]] = field(default_factory=list)
    missing_classes: list[str] = field(default_factory=list)


def scan_images(root: str | os.PathLike[str], splits: Sequence[str],
                extensions: Sequence[str], space: LabelSpace) -> ImageTree:
    """List ``<root>/<split>/<wnid>/<image>`` files of the label space's classes.

    Parameters
    ----------
    root : path-like
        The image root.
    splits : sequence of str
        Split folder names, in order of preference for duplicate ids.
    extensions : sequence of str
        Accepted file extensions, case-insensitive, with the dot.
    space : LabelSpace
        The label space; class folders outside it are skipped and listed.

    Raises
    ------
    MissingInputError
        The root or a split folder does not exist.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise MissingInputError(f"{root}: image root not found")
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
            raise MissingInputError(f"{folder}: split folder not found (index.splits = "
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


# --------------------------------------------------------------------------- checks


class ImageRef(NamedTuple):
    """An image file and what identifies its content cheaply (size, modification time)."""

    path: str
    size: int
    mtime_ns: int

    @property
    def key(self) -> str:
        """A stable identity: a changed file gets a new one, so its check is redone."""
        return f"{self.path}|{self.size}|{self.mtime_ns}"


def image_ref(path: str) -> ImageRef:
    """The :class:`ImageRef` of ``path`` (size -1 when it cannot be stat'ed)."""
    try:
        stat = os.stat(path)
    except OSError as error:
        if is_machine_error(error):
            raise
        return ImageRef(path, -1, 0)
    return ImageRef(path, stat.st_size, stat.st_mtime_ns)


CHECK_COLUMNS = ("path", "ok", "reason", "width", "height", "mode", "format")
"""The fields of a check record (:func:`check_image`)."""


def check_image(path: str) -> dict[str, Any]:
    """Open an image, decode it fully and report what it is.

    Parameters
    ----------
    path : str
        The image file.

    Returns
    -------
    dict
        ``path``, ``ok``, ``reason`` (why it cannot be used), ``width``, ``height``
        (pixels, as stored), ``mode`` (PIL mode: RGB, L, CMYK, …) and ``format`` (the
        format found in the data: JPEG, PNG, …).

    Raises
    ------
    OSError
        A failure of the machine (see :func:`localglobal.errors.is_machine_error`);
        any other problem is the image's and goes into ``reason``.
    """
    record: dict[str, Any] = {"path": path, "ok": False, "reason": "", "width": 0,
                              "height": 0, "mode": "", "format": ""}
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must fail, not pad with grey
    try:
        with warnings.catch_warnings():
            # Past Pillow's limit (Image.MAX_IMAGE_PIXELS) an image is refused, not
            # decoded: a tiny file can hold a huge picture.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                record.update(width=image.size[0], height=image.size[1], mode=image.mode,
                              format=image.format or "")
                image.load()
                if image.mode != "RGB":
                    image.convert("RGB")
        record["ok"] = True
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        record["reason"] = (f"refused by Pillow's decompression-bomb limit of "
                            f"{Image.MAX_IMAGE_PIXELS} pixels: {error}")
    except (OSError, SyntaxError, ValueError) as error:
        if is_machine_error(error):
            raise
        text = str(error)
        if "truncated" in text.lower():
            record["reason"] = f"truncated image: {text}"
        elif isinstance(error, FileNotFoundError | IsADirectoryError):
            record["reason"] = f"unreadable: {text}"
        else:
            record["reason"] = f"corrupt or unreadable image: {text}"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return record


def check_images(refs: Sequence[ImageRef | str]) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """:func:`check_image` for a batch of images (one shard's work).

    Returns
    -------
    (pandas.DataFrame, list)
        Every image's record (:data:`CHECK_COLUMNS`) and ``(path, reason)`` of those
        that cannot be used (bad input: reported, never retried).
    """
    records = [check_image(ref if isinstance(ref, str) else ref.path) for ref in refs]
    table = pd.DataFrame(records, columns=list(CHECK_COLUMNS))
    return table, [(r["path"], r["reason"]) for r in records if not r["ok"]]


def first_per_class(root: str | os.PathLike[str], splits: Sequence[str],
                    extensions: Sequence[str], space: LabelSpace, per_class: int | None
                    ) -> list[tuple[str, str, str]]:
    """``(image_id, path, wnid)`` of the first ``per_class`` images of each class.

    They stand in for the seeded draw of the index stage where only the count and a
    few images to time matter (``localglobal run --dry-run``); ``per_class=None``
    takes every image.

    Raises
    ------
    MissingInputError
        The root or a split folder does not exist.
    """
    key = (str(root), tuple(splits), tuple(extensions), space.name, per_class)
    if key not in _FIRST:
        tree = scan_images(root, splits, extensions, space)
        chosen = []
        for _, group in tree.images.groupby("wnid", sort=True):
            take = group if per_class is None else group.head(per_class)
            chosen += [(str(r.image_id), str(r.path), str(r.wnid)) for r in take.itertuples()]
        _FIRST.clear()  # one tree at a time: the stages of one estimate share it
        _FIRST[key] = chosen
    return _FIRST[key]


_FIRST: dict[tuple, list[tuple[str, str, str]]] = {}
