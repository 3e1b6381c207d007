"""Rendering of the toy world: a textured shape on a background of distractor textures.

Each of the ten classes is a **shape** (a silhouette with a distinct outline) and owns
one **texture family** (a periodic or random pattern recognisable from a small
patch). An image shows one object: a shape at a random position, scale and rotation,
filled with a texture, over a background made of smooth colour fields and textures
that belong to no class. Which family fills the object is chosen by the caller, so
the world can make texture predict the class (the family is the class's own), make
it uninformative (a family drawn at random), or put the cues in conflict (the family
of another class).

The object's colour differs clearly from the background's, in colour and in grey
level (:func:`~localglobal.toyworld.backgrounds.figure_ground_colours`), so its
silhouette is an edge that survives smoothing the texture away. The texture is a fine
(structure of 2–13 frame pixels), high-contrast modulation of the object's colour that
averages out to that colour: a texture-removing smoother leaves a flat silhouette and
no colour cue behind. The shapes are in :mod:`~localglobal.toyworld.shapes`, the
textures in :mod:`~localglobal.toyworld.textures`, the grounds in
:mod:`~localglobal.toyworld.backgrounds`.

Geometry is specified in *frame pixels*: the pixels of the model-input frame that
torchvision's ``Resize(resize)`` + ``CenterCrop(crop)`` produce. Whatever the image's
size, the object lies wholly inside the central crop, and texture periods are the
same in the frame.

>>> rng = np.random.default_rng(0)
>>> rgb, box = render_image(rng, shape_class=3, texture_class=3, size=256)
>>> rgb.shape, rgb.dtype
((256, 256, 3), dtype('uint8'))
>>> toyworld_label_space().wnids[3]
't03_star'
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from localglobal.labels import TOYWORLD_IDS, LabelSpace, get_label_space
from localglobal.toyworld.backgrounds import DISTRACTORS, background, figure_ground_colours
from localglobal.toyworld.shapes import SHAPES, outline_mask, shape_mask
from localglobal.toyworld.textures import (
    TEXTURE_AMPLITUDE,
    texture_colour_axis,
    texture_pattern,
)

NUM_CLASSES = len(SHAPES)

# Object size: radius of the circle that bounds the rotated silhouette, frame pixels.
RADIUS_RANGE = (60.0, 100.0)
# Gap between that circle and the border of the central crop, frame pixels.
CROP_MARGIN = 6.0
# Pose variation: a silhouette is stretched by s along its own x axis and 1/s along y,
# with log s uniform in [-STRETCH_LOG, STRETCH_LOG].
STRETCH_LOG = math.log(1.12)


def class_ids() -> tuple[str, ...]:
    """Class ids (``"t00_circle"`` …), which sort in class order like ImageNet wnids."""
    return TOYWORLD_IDS


def toyworld_label_space() -> LabelSpace:
    """The toy world's ten classes: the built-in label space ``toyworld``."""
    return get_label_space("toyworld")


def _as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int | np.integer):
        return int(size), int(size)
    width, height = (int(v) for v in size)
    return width, height


def object_placement(rng: np.random.Generator, size: tuple[int, int], resize: int = 256,
                     crop: int = 224) -> tuple[tuple[float, float], float, float, float]:
    """Draw where the object goes so that it lies inside the central crop.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    size : tuple[int, int]
        ``(width, height)`` of the image in pixels.
    resize, crop : int
        The model-input frame (shorter side resized, then centre crop).

    Returns
    -------
    tuple[tuple[float, float], float, float, float]
        ``(centre, radius, angle, scale)``: centre ``(x, y)`` and bounding radius in
        image pixels, rotation in radians, and image pixels per frame pixel.
    """
    width, height = size
    scale = min(width, height) / resize
    radius_frame = rng.uniform(*RADIUS_RANGE)
    half_crop = crop / 2.0
    reach = max(half_crop - radius_frame - CROP_MARGIN, 0.0)
    offset = rng.uniform(-reach, reach, 2)
    centre = (width / 2.0 + offset[0] * scale, height / 2.0 + offset[1] * scale)
    return centre, radius_frame * scale, rng.uniform(0.0, 2.0 * np.pi), scale


def render_image(rng: np.random.Generator, shape_class: int, texture_class: int | None,
                 size: int | tuple[int, int] = 256, *, resize: int = 256,
                 crop: int = 224, with_outline: bool = False,
                 ) -> tuple[Any, ...]:
    """Render one toy-world image: a textured shape over a distractor background.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator; the image is a deterministic function of its state.
    shape_class : int
        Class index whose shape the object has (0–9).
    texture_class : int, optional
        Class index whose texture family fills the object (0–9), or
        ``None`` for a plain fill (the object's colour alone).
    size : int | tuple[int, int]
        Image side, or ``(width, height)``, in pixels; the shorter side should
        be at least ``resize`` so the frame is a downscale.
    resize, crop : int
        The model-input frame the object is placed inside.
    with_outline : bool
        Also return the object's true outline (:func:`outline_mask`).

    Returns
    -------
    tuple[Any, ...]
        ``(rgb, box)``: height × width × 3 uint8 RGB, and the object's box as
        0-based inclusive pixel indices ``(xmin, ymin, xmax, ymax)`` (the VOC
        convention) of the pixels at least half covered; with ``with_outline``,
        ``(rgb, box, outline)``, the outline a height × width boolean mask.
    """
    for value, what in ((shape_class, "shape_class"), (texture_class, "texture_class")):
        if value is None and what == "texture_class":
            continue
        if not 0 <= int(value) < NUM_CLASSES:
            raise ValueError(f"{what} must be in 0..{NUM_CLASSES - 1}, got {value}")
    width, height = _as_size(size)
    centre, radius, angle, scale = object_placement(rng, (width, height), resize, crop)
    stretch = math.exp(rng.uniform(-STRETCH_LOG, STRETCH_LOG))
    mask = shape_mask(int(shape_class), (width, height), centre, radius, angle, stretch)

    figure, ground = figure_ground_colours(rng)
    distractor = DISTRACTORS[int(rng.integers(len(DISTRACTORS)))]
    image = background(rng, (width, height), ground, distractor, scale)

    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if texture_class is None:
        fill = np.broadcast_to(figure, (r1 - r0, c1 - c0, 3))
    else:
        y, x = np.mgrid[r0:r1, c0:c1].astype(np.float32)
        pattern = texture_pattern(rng, int(texture_class), x, y, scale)
        direction = texture_colour_axis(rng)
        amplitude = rng.uniform(*TEXTURE_AMPLITUDE)
        fill = figure + (2.0 * pattern[..., None] - 1.0) * amplitude * direction
    alpha = mask[r0:r1, c0:c1, None].astype(np.float32) / 255.0
    region = image[r0:r1, c0:c1]
    image[r0:r1, c0:c1] = region + alpha * (fill - region)
    rgb = np.clip(np.rint(image), 0, 255).astype(np.uint8)

    covered = mask >= 128
    rows = np.flatnonzero(covered.any(axis=1))
    cols = np.flatnonzero(covered.any(axis=0))
    box = (int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1]))
    if with_outline:
        return rgb, box, outline_mask(covered)
    return rgb, box


def draw_texture_class(rng: np.random.Generator, shape_class: int,
                       texture_match: float) -> int | None:
    """The texture family of an object of class ``shape_class``.

    With probability ``texture_match`` it is the class's own family; otherwise it is
    drawn uniformly from the ten families and a plain fill (``None``), so at
    ``texture_match = 0`` the texture carries no information about the class and
    some objects have no texture at all.
    """
    if not 0.0 <= texture_match <= 1.0:
        raise ValueError(f"texture_match must be in [0, 1], got {texture_match}")
    if rng.random() < texture_match:
        return int(shape_class)
    drawn = int(rng.integers(NUM_CLASSES + 1))
    return None if drawn == NUM_CLASSES else drawn
