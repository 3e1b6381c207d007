"""Writing the toy world in ImageNet format.

``build_world(out, world)`` writes::

    OUT/train/<class id>/<class id>_<n>.JPEG     images (JPEG, quality 95 by default)
    OUT/val/<class id>/<class id>_<n>.JPEG
    OUT/Annotation.tar.gz                        one <class id>.tar.gz per class, each with
                                                 Annotation/<class id>/<image>.xml (VOC)
    OUT/cue-conflict/stimuli.csv                 path, shape_wnid, texture_wnid
    OUT/cue-conflict/<shape id>/<image>.png      shape of one class, texture of another
    OUT/labels.txt                               the label space (``wnid name`` per line)
    OUT/outlines.npz                             each train and val object's true outline:
                                                 one boolean mask per image id, in the
                                                 image's own pixels
    OUT/world.json                               the configuration, written last

so the pipeline's ``annotations`` and ``index`` stages read it exactly as they read
ImageNet. Every image is a deterministic function of the seed, its split, class and
number, whatever order they are written in. A folder that already holds a world
built with the same configuration is left as it is.

>>> build_world("world", WorldConfig(train_per_class=2, val_per_class=1))  # doctest: +SKIP
PosixPath('world')
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from localglobal.errors import ConfigError
from localglobal.io.atomic import (
    atomic_path,
    write_bytes_atomic,
    write_json,
    write_npz,
    write_text_atomic,
)
from localglobal.io.tar import tar_bytes
from localglobal.io.voc import voc_xml
from localglobal.toyworld.scenes import (
    NUM_CLASSES,
    class_ids,
    draw_texture_class,
    render_image,
)
from localglobal.toyworld.shapes import SHAPES

if __import__("sys").version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_SPLIT_CODES = {"train": 0, "val": 1, "cue-conflict": 2}
OUTLINES_FILE = "outlines.npz"
"""The world's true outlines (image id → boolean mask in image pixels)."""
STIMULI_COLUMNS = ("path", "shape_wnid", "texture_wnid")


#: ``<source><database>`` of the toy world's VOC files.
TOY_DATABASE = "localglobal toy world"

class WorldConfig(BaseModel):
    """What a toy world contains.

    Image sizes vary so that the Resize + CenterCrop path is exercised; the object
    always lies inside the central crop of the frame given by ``resize`` and ``crop``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    sizes: tuple[tuple[int, int], ...] = Field(
        ((256, 256), (320, 256), (256, 320), (288, 288)),
        description="(width, height) choices in pixels, drawn uniformly per image",
    )
    train_per_class: int = Field(20, ge=0)
    val_per_class: int = Field(5, ge=0)
    texture_match: float = Field(
        1.0, ge=0.0, le=1.0,
        description="probability that an object's texture is its class's own family",
    )
    cue_conflict_per_pair: int = Field(
        2, ge=0, description="cue-conflict images per (shape, other texture) pair"
    )
    jpeg_quality: int = Field(95, ge=1, le=100)
    resize: int = Field(256, ge=1)
    crop: int = Field(224, ge=1)

    @field_validator("sizes")
    @classmethod
    def _large_enough(cls, sizes: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        if not sizes:
            raise ValueError("at least one image size is needed")
        for width, height in sizes:
            if min(width, height) < 32:
                raise ValueError(f"image size {width}×{height} is too small")
        return sizes


def load_world_config(path: str | os.PathLike[str] | None = None) -> WorldConfig:
    """Read a world configuration from TOML (its ``[world]`` table, or the top level).

    Parameters
    ----------
    path : path-like, optional
        The TOML file; None gives the defaults.

    Returns
    -------
    WorldConfig

    Raises
    ------
    ConfigError
        The file is missing, not UTF-8 TOML, or sets an unknown or invalid key; the
        message (one line) names the file and every such key.
    """
    if path is None:
        return WorldConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such world configuration file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    data = data.get("world", data)
    try:
        return WorldConfig.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            key = ".".join(str(part) for part in item["loc"]) or "(top level)"
            message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
            problems.append(f"{key}: {message}")
        raise ConfigError(f"{path}: invalid world configuration: "
                          + "; ".join(problems)) from None


def image_rng(world: WorldConfig, split: str, class_index: int, number: int):
    """The random generator of one image (independent of the order of writing)."""
    return np.random.default_rng([world.seed, _SPLIT_CODES[split], class_index, number])


def _encode(rgb: np.ndarray, suffix: str, quality: int) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix == ".JPEG" else []
    ok, encoded = cv2.imencode(".jpg" if suffix == ".JPEG" else ".png", rgb[..., ::-1], params)
    if not ok:  # pragma: no cover - OpenCV always encodes a valid array
        raise RuntimeError("image encoding failed")
    return encoded.tobytes()


def _draw_size(rng: np.random.Generator, world: WorldConfig) -> tuple[int, int]:
    width, height = world.sizes[int(rng.integers(len(world.sizes)))]
    return int(width), int(height)


def _write_class(out: Path, world: WorldConfig, class_index: int,
                 outlines: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """Write one class's train and val images; return (stem, VOC XML bytes) of each.

    Each object's true outline goes into ``outlines`` under the image's stem.
    """
    wnid = class_ids()[class_index]
    annotations = []
    number = 0
    for split, count in (("train", world.train_per_class), ("val", world.val_per_class)):
        folder = out / split / wnid
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(count):
            rng = image_rng(world, split, class_index, number)
            texture = draw_texture_class(rng, class_index, world.texture_match)
            width, height = _draw_size(rng, world)
            rgb, box, outline = render_image(rng, class_index, texture, (width, height),
                                             resize=world.resize, crop=world.crop,
                                             with_outline=True)
            stem = f"{wnid}_{number:05d}"
            outlines[stem] = outline
            write_bytes_atomic(folder / f"{stem}.JPEG", _encode(rgb, ".JPEG", world.jpeg_quality))
            annotations.append((stem, voc_xml(stem, width, height, [box], name=wnid,
                                              folder=wnid, database=TOY_DATABASE)))
            number += 1
    return annotations


def _write_cue_conflict(out: Path, world: WorldConfig) -> pd.DataFrame:
    """Cue-conflict images: every shape with every other class's texture."""
    ids = class_ids()
    folder = out / "cue-conflict"
    rows = []
    for shape in range(NUM_CLASSES):
        (folder / ids[shape]).mkdir(parents=True, exist_ok=True)
        number = 0
        for texture in range(NUM_CLASSES):
            if texture == shape:
                continue
            for copy in range(world.cue_conflict_per_pair):
                rng = image_rng(world, "cue-conflict", shape, number)
                number += 1
                # The stimuli share one size so that no size cue differs between them.
                size = world.sizes[0]
                rgb, _box = render_image(rng, shape, texture, size, resize=world.resize,
                                         crop=world.crop)
                name = f"{ids[shape]}/{SHAPES[shape]}{copy + 1}-{SHAPES[texture]}{copy + 1}.png"
                write_bytes_atomic(folder / name, _encode(rgb, ".png", 0))
                rows.append((name, ids[shape], ids[texture]))
    stimuli = pd.DataFrame(rows, columns=list(STIMULI_COLUMNS))
    with atomic_path(folder / "stimuli.csv") as tmp:
        stimuli.to_csv(tmp, index=False)
    return stimuli


def read_stimuli(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a cue-conflict folder's ``stimuli.csv`` (columns path, shape_wnid, texture_wnid).

    Paths are relative to the folder; a missing column or file is an error naming it.
    """
    path = Path(folder) / "stimuli.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no cue-conflict stimuli list")
    stimuli = pd.read_csv(path, dtype=str)
    missing = [c for c in STIMULI_COLUMNS if c not in stimuli.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    return stimuli


def _is_built(out: Path, world: WorldConfig) -> bool:
    record = out / "world.json"
    if not record.exists() or not (out / OUTLINES_FILE).exists():
        return False
    try:
        return json.loads(record.read_text(encoding="utf-8")) == world.model_dump(mode="json")
    except (OSError, ValueError):
        return False


def build_world(out: str | os.PathLike[str], world: WorldConfig | None = None) -> Path:
    """Write a toy world in ImageNet format into ``out`` (see the module docstring).

    Parameters
    ----------
    out : str | os.PathLike[str]
        Output folder, created if needed.
    world : WorldConfig, optional
        What to write; ``None`` takes :class:`WorldConfig`'s defaults.

    Returns
    -------
    Path
        ``out`` as a :class:`~pathlib.Path`. A folder already holding a world with the
        same configuration is returned untouched; one holding another world is rebuilt.
    """
    from localglobal.console import progress_bar

    world = world or WorldConfig()
    out = Path(out)
    if _is_built(out, world):
        return out
    (out / "world.json").unlink(missing_ok=True)
    for stale in ("train", "val", "cue-conflict"):
        if (out / stale).exists():
            shutil.rmtree(out / stale)
    out.mkdir(parents=True, exist_ok=True)
    inner = []
    outlines: dict[str, np.ndarray] = {}
    with progress_bar(transient=True) as progress:
        task = progress.add_task("toy world", total=NUM_CLASSES + 1)
        for class_index, wnid in enumerate(class_ids()):
            members = [(f"Annotation/{wnid}/{stem}.xml", xml)
                       for stem, xml in _write_class(out, world, class_index, outlines)]
            inner.append((f"{wnid}.tar.gz", tar_bytes(members)))
            progress.advance(task)
        _write_cue_conflict(out, world)
        progress.advance(task)
    write_bytes_atomic(out / "Annotation.tar.gz", tar_bytes(inner))
    write_npz(out / OUTLINES_FILE, **outlines)
    space_lines = [f"{wnid} {name}" for wnid, name in zip(class_ids(), SHAPES, strict=True)]
    write_text_atomic(out / "labels.txt", "\n".join(space_lines) + "\n")
    write_json(out / "world.json", world.model_dump(mode="json"))
    return out
