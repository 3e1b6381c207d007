"""Test support: a small ImageNet-format dataset with known boxes, written on demand.

:func:`build_fixture` writes ``<root>/images/<split>/<wnid>/<image_id>.JPEG`` (a
coloured rectangle or ellipse on a noisy background, in varied sizes and aspect
ratios, some images with two or three objects) and a matching
``<root>/Annotation.tar.gz`` laid out like ImageNet's: an outer tar holding one
``Annotation/<wnid>.tar.gz`` per class, each holding
``Annotation/<wnid>/<image_id>.xml`` VOC files whose boxes are exactly the drawn
objects. Tests of every stage run on it; with ``bad_annotations`` and ``bad_images``
it also carries every kind of broken input the data stages must survive. (The toy
world writes its files with the same writers, :func:`localglobal.io.voc.voc_xml` and
:func:`localglobal.io.tar.tar_bytes`.)

Import it as ``from imagenet_fixture import build_fixture`` (``tests/`` is on the
test path, see ``pythonpath`` in ``pyproject.toml``).

>>> info = build_fixture(tmp_path, wnids=["n01440764", "n02102040"])  # doctest: +SKIP
>>> info.boxes["n01440764_10000"]                                      # doctest: +SKIP
[(12, 30, 70, 81)]
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from localglobal.io.tar import tar_bytes
from localglobal.io.voc import voc_xml
from localglobal.labels import get_label_space

#: (width, height) of the images, cycled through: landscape, portrait, square,
#: wide and tall, mostly smaller than the default 224-pixel crop, one larger.
DEFAULT_SIZES: tuple[tuple[int, int], ...] = (
    (160, 120), (120, 160), (200, 100), (96, 96), (300, 250), (90, 170), (150, 110),
)

#: The label space the classes come from.
LABEL_SPACE = "imagenette"

#: Every n-th image of a class holds two or three objects.
MULTI_OBJECT_EVERY = 3

#: The seed of everything random (sizes are cycled, positions drawn).
SEED = 0

_COLOURS = ((235, 60, 50), (50, 200, 90), (60, 90, 235), (240, 210, 40), (210, 60, 220),
            (40, 220, 220))

VocBox = tuple[int, int, int, int]  # xmin, ymin, xmax, ymax: inclusive 0-based pixel indices


@dataclass
class FixtureInfo:
    """What :func:`build_fixture` wrote.

    Attributes:
        root: the fixture's folder.
        images: the image root (``<images>/<split>/<wnid>/<image_id>.JPEG``).
        annotations: the nested ``Annotation.tar.gz``.
        label_space: name of the label space the classes belong to.
        wnids: the classes, in label-space order.
        splits: the split folders written.
        paths: image id → image file.
        sizes: image id → (width, height) of the written image, pixels.
        boxes: image id → its objects' VOC boxes (inclusive pixel indices) as written
            to the annotations; images in ``unboxed`` have none.
        split_of, wnid_of: image id → split, class.
        unboxed: image ids written without an annotation file.
        bad_annotations: case → how the annotations report names the broken file
            (``malformed``, ``no_bndbox``, ``non_numeric``, ``inverted``, ``mixed``,
            ``outside``, ``outside_clipped``, ``billion_laughs``, ``traversal``,
            ``absolute``, ``outer_traversal``, ``corrupt_archive``).
        bad_images: case → image path (``truncated``, ``unreadable``, ``cmyk``,
            ``greyscale``, ``png_named_jpeg``).
        expected: counts the annotations stage must report for this fixture
            (``files_read``, ``objects``, ``files_skipped``, ``objects_skipped``,
            ``archives_skipped``, ``boxes_clipped``).
    """

    root: Path
    images: Path
    annotations: Path
    label_space: str
    wnids: tuple[str, ...]
    splits: tuple[str, ...]
    paths: dict[str, Path] = field(default_factory=dict)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    boxes: dict[str, list[VocBox]] = field(default_factory=dict)
    split_of: dict[str, str] = field(default_factory=dict)
    wnid_of: dict[str, str] = field(default_factory=dict)
    unboxed: list[str] = field(default_factory=list)
    bad_annotations: dict[str, str] = field(default_factory=dict)
    bad_images: dict[str, Path] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)

    def image_ids(self, split: str | None = None, wnid: str | None = None,
                  boxed: bool | None = None) -> list[str]:
        """Image ids written, filtered by split, class and whether they have a box; sorted."""
        return sorted(
            image_id for image_id in self.paths
            if (split is None or self.split_of[image_id] == split)
            and (wnid is None or self.wnid_of[image_id] == wnid)
            and (boxed is None or (image_id in self.boxes) == boxed)
        )


def draw_image(width: int, height: int, n_objects: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, list[VocBox]]:
    """A noisy dark background with ``n_objects`` bright rectangles or ellipses.

    Returns:
        The H×W×3 uint8 RGB image and each object's exact extent as a VOC box
        (inclusive pixel indices of its first and last covered column and row).
    """
    background = rng.integers(0, 80, size=(height, width, 3), dtype=np.uint8)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    boxes: list[VocBox] = []
    for k in range(n_objects):
        box_w = int(rng.integers(max(4, width // 5), max(5, (width * 3) // 5)))
        box_h = int(rng.integers(max(4, height // 5), max(5, (height * 3) // 5)))
        x0 = int(rng.integers(0, width - box_w))
        y0 = int(rng.integers(0, height - box_h))
        corners = [x0, y0, x0 + box_w - 1, y0 + box_h - 1]
        colour = _COLOURS[int(rng.integers(len(_COLOURS)))]
        mask = Image.new("L", (width, height), 0)
        mask_draw = ImageDraw.Draw(mask)
        if k % 2 == 0:
            draw.rectangle(corners, fill=colour)
            mask_draw.rectangle(corners, fill=255)
        else:
            draw.ellipse(corners, fill=colour)
            mask_draw.ellipse(corners, fill=255)
        rows, cols = np.nonzero(np.asarray(mask))
        boxes.append((int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())))
    return np.asarray(image), boxes


def _jpeg(image: np.ndarray | Image.Image, mode: str = "RGB", quality: int = 92) -> bytes:
    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    if pil.mode != mode:
        pil = pil.convert(mode)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def build_fixture(
    root: str | Path,
    *,
    wnids: Sequence[str] | None = None,
    per_class: int = 4,
    splits: Sequence[str] = ("train", "val"),
    unboxed_every: int = 0,
    bad_annotations: bool = False,
    bad_images: bool = False,
) -> FixtureInfo:
    """Write a small ImageNet-format dataset with a matching nested ``Annotation.tar.gz``.

    The images cycle through :data:`DEFAULT_SIZES`, every :data:`MULTI_OBJECT_EVERY`-th
    holds several objects, and everything random is drawn with :data:`SEED`.

    Parameters
    ----------
    root
        Output folder (created).
    wnids
        Classes to write (default: every class of :data:`LABEL_SPACE`).
    per_class
        Images per class and split.
    splits
        Split folders to write.
    unboxed_every
        Every n-th image of a class gets no annotation file (0: none).
    bad_annotations
        Add the broken annotation cases (see :attr:`FixtureInfo.bad_annotations`) to
        the first class's archive.
    bad_images
        Add the broken and unusual images (see :attr:`FixtureInfo.bad_images`) to the
        first class's first split, each with a valid annotation.

    Returns
    -------
    FixtureInfo
        What was written.
    """
    root = Path(root)
    space = get_label_space(LABEL_SPACE)
    chosen = tuple(wnids) if wnids is not None else tuple(space.wnids)
    unknown = [w for w in chosen if w not in space]
    if unknown:
        raise ValueError(f"classes {unknown} are not in label space {LABEL_SPACE!r}")
    chosen = tuple(sorted(chosen, key=space.index_of))
    sizes = DEFAULT_SIZES
    info = FixtureInfo(root=root, images=root / "images", annotations=root / "Annotation.tar.gz",
                       label_space=LABEL_SPACE, wnids=chosen, splits=tuple(splits))
    rng = np.random.default_rng(SEED)
    xml_members: dict[str, list[tuple[str, bytes]]] = {w: [] for w in chosen}

    for class_number, wnid in enumerate(chosen):
        for split_number, split in enumerate(splits):
            folder = info.images / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(per_class):
                image_id = f"{wnid}_{(split_number + 1) * 10000 + k}"
                width, height = sizes[(class_number * per_class + k + split_number) % len(sizes)]
                multi = k % MULTI_OBJECT_EVERY == MULTI_OBJECT_EVERY - 1
                n_objects = int(rng.integers(2, 4)) if multi else 1
                pixels, boxes = draw_image(width, height, n_objects, rng)
                path = folder / f"{image_id}.JPEG"
                path.write_bytes(_jpeg(pixels))
                _record(info, image_id, path, split, wnid, (width, height))
                if unboxed_every > 0 and k % unboxed_every == unboxed_every - 1:
                    info.unboxed.append(image_id)
                    continue
                info.boxes[image_id] = boxes
                xml_members[wnid].append(
                    (f"Annotation/{wnid}/{image_id}.xml", voc_xml(image_id, width, height, boxes)))

    if bad_images and chosen and splits:
        _add_bad_images(info, chosen[0], splits[0], rng, xml_members)

    outer: list[tuple[str, bytes]] = []
    for wnid in chosen:
        members = xml_members[wnid]
        if bad_annotations and wnid == chosen[0]:
            members = members + _bad_annotation_members(info, wnid)
        outer.append((f"Annotation/{wnid}.tar.gz", tar_bytes(members)))
    if bad_annotations and chosen:
        _add_bad_archives(info, chosen[0], outer)
    info.annotations.parent.mkdir(parents=True, exist_ok=True)
    info.annotations.write_bytes(tar_bytes(outer))
    _expect(info, bad_annotations)
    return info


def _record(info: FixtureInfo, image_id: str, path: Path, split: str, wnid: str,
            size: tuple[int, int]) -> None:
    info.paths[image_id] = path
    info.sizes[image_id] = size
    info.split_of[image_id] = split
    info.wnid_of[image_id] = wnid


def _add_bad_images(info: FixtureInfo, wnid: str, split: str, rng: np.random.Generator,
                    xml_members: dict[str, list[tuple[str, bytes]]]) -> None:
    folder = info.images / split / wnid
    cases = ("truncated", "unreadable", "cmyk", "greyscale", "png_named_jpeg")
    for number, case in enumerate(cases):
        image_id = f"{wnid}_{90000 + number}"
        width, height = DEFAULT_SIZES[number % len(DEFAULT_SIZES)]
        pixels, boxes = draw_image(width, height, 1, rng)
        path = folder / f"{image_id}.JPEG"
        if case == "truncated":
            data = _jpeg(pixels)
            data = data[: len(data) * 3 // 5]
        elif case == "unreadable":
            data = rng.integers(0, 256, size=2048, dtype=np.uint8).tobytes()
        elif case == "cmyk":
            data = _jpeg(pixels, mode="CMYK")
        elif case == "greyscale":
            data = _jpeg(pixels, mode="L")
        else:
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, format="PNG")
            data = buffer.getvalue()
        path.write_bytes(data)
        _record(info, image_id, path, split, wnid, (width, height))
        info.boxes[image_id] = boxes
        info.bad_images[case] = path
        xml_members[wnid].append(
            (f"Annotation/{wnid}/{image_id}.xml", voc_xml(image_id, width, height, boxes)))


_BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<annotation><filename>&lol9;</filename><size><width>100</width><height>100</height></size>
<object><name>&lol9;</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>
</bndbox></object></annotation>
"""


def _bad_annotation_members(info: FixtureInfo, wnid: str) -> list[tuple[str, bytes]]:
    """Broken XML members for the first class's archive; records how the report names them."""
    archive = f"Annotation/{wnid}.tar.gz"
    cases: dict[str, tuple[str, bytes]] = {}

    def member(case: str, data: bytes, name: str | None = None) -> None:
        name = name or f"Annotation/{wnid}/{wnid}_bad_{case}.xml"
        cases[case] = (name, data)

    def single(case: str, box: Sequence[object], width: int = 100, height: int = 80) -> None:
        image_id = f"{wnid}_bad_{case}"
        member(case, voc_xml(image_id, width, height, [box]))

    member("malformed", b"<annotation><size><width>100</width></size><object><name>x"
                        b"</name></annotation>")
    member("no_bndbox", b"<annotation><size><width>100</width><height>80</height></size>"
                        b"<object><name>" + wnid.encode() + b"</name></object></annotation>")
    single("non_numeric", ("abc", 10, 50, 60))
    single("inverted", (60, 10, 20, 50))
    single("outside", (150, 10, 180, 50))  # wholly right of a 100-pixel-wide image
    single("outside_clipped", (-5, 10, 140, 50))  # sticks out on both sides: clipped
    member("mixed", voc_xml(f"{wnid}_bad_mixed", 100, 80, [(10, 10, 40, 40), (70, 10, 30, 40)]))
    member("billion_laughs", _BILLION_LAUGHS)
    safe = voc_xml(f"{wnid}_bad_traversal", 100, 80, [(1, 1, 10, 10)])
    member("traversal", safe, name=f"../../escaped/{wnid}_bad_traversal.xml")
    member("absolute", safe, name=str((info.root / "escaped-absolute.xml").resolve()))
    for case, (name, _data) in cases.items():
        info.bad_annotations[case] = f"{archive}:{name}"
    return list(cases.values())


def _add_bad_archives(info: FixtureInfo, wnid: str, outer: list[tuple[str, bytes]]) -> None:
    intact = tar_bytes([(f"Annotation/{wnid}/{wnid}_bad_archive.xml",
                         voc_xml(f"{wnid}_bad_archive", 100, 80, [(1, 1, 10, 10)]))])
    corrupt_name = "Annotation/n99999999.tar.gz"
    outer.append((corrupt_name, intact[: len(intact) // 2]))  # truncated gzip stream
    info.bad_annotations["corrupt_archive"] = corrupt_name
    escape_name = "../outside.tar.gz"
    outer.append((escape_name, intact))
    info.bad_annotations["outer_traversal"] = f"{info.annotations.name}:{escape_name}"


def _expect(info: FixtureInfo, bad_annotations: bool) -> None:
    good_files = len(info.boxes)
    objects = sum(len(b) for b in info.boxes.values())
    expected = {"files_read": good_files, "objects": objects, "files_skipped": 0,
                "objects_skipped": 0, "archives_skipped": 0, "boxes_clipped": 0}
    if bad_annotations:
        # Every broken XML member is read (attempted); of the outer members, the
        # traversal archive is skipped unopened and the corrupt one is skipped whole.
        member_cases = ("malformed", "no_bndbox", "non_numeric", "inverted", "outside",
                        "outside_clipped", "mixed", "billion_laughs", "traversal", "absolute")
        expected["files_read"] += len(member_cases)
        # Kept rows: the clipped box and the good object of the mixed file.
        expected["objects"] += 2
        skipped = ("malformed", "no_bndbox", "non_numeric", "inverted", "outside",
                   "billion_laughs", "traversal", "absolute", "outer_traversal")
        expected["files_skipped"] = len(skipped)
        expected["objects_skipped"] = 1  # the inverted object of the mixed file
        expected["archives_skipped"] = 1
        expected["boxes_clipped"] = 1
    info.expected = expected


def downscale_fixture(info: FixtureInfo, root: str | Path, shorter_side: int) -> FixtureInfo:
    """Copy the fixture's images with their shorter side resized, like Imagenette's
    320- and 160-pixel variants; the annotations stay those of the originals.

    Args:
        info: a fixture from :func:`build_fixture`.
        root: output folder for the new image tree.
        shorter_side: the new shorter side in pixels (the longer one keeps the aspect
            ratio, rounded).

    Returns:
        A :class:`FixtureInfo` for the new tree; ``sizes`` are the new image sizes,
        ``boxes`` and ``annotations`` still those of the original images.
    """
    root = Path(root)
    images = root / "images"
    copy = FixtureInfo(root=root, images=images, annotations=info.annotations,
                       label_space=info.label_space, wnids=info.wnids, splits=info.splits,
                       boxes=dict(info.boxes), split_of=dict(info.split_of),
                       wnid_of=dict(info.wnid_of), unboxed=list(info.unboxed),
                       expected=dict(info.expected))
    for image_id, path in info.paths.items():
        if path in info.bad_images.values():
            continue
        width, height = info.sizes[image_id]
        scale = shorter_side / min(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        target = images / path.relative_to(info.images)
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            target.write_bytes(_jpeg(image.convert("RGB").resize(size, Image.Resampling.LANCZOS)))
        copy.paths[image_id] = target
        copy.sizes[image_id] = size
    return copy
