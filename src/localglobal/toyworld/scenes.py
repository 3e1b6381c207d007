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
level (:func:`figure_ground_colours`), so its silhouette is an edge that survives
smoothing the texture away. The texture is a fine (structure of 2–13 frame pixels),
high-contrast modulation of the object's colour that averages out to that colour: a
texture-removing smoother leaves a flat silhouette and no colour cue behind.

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

import cv2
import numpy as np

from localglobal.labels import TOYWORLD_IDS, TOYWORLD_SHAPES, LabelSpace, get_label_space

SHAPES: tuple[str, ...] = TOYWORLD_SHAPES
"""Class names in output order; class k is shape ``SHAPES[k]`` with texture ``TEXTURES[k]``."""

TEXTURES: tuple[str, ...] = (
    "stripes", "dots", "checkers", "hatch", "noise",
    "zigzag", "rings", "plus", "bricks", "triangles",
)
"""Texture family owned by each class, in class order."""

DISTRACTORS: tuple[str, ...] = ("grain", "clouds", "veins", "plain")
"""Background texture families that belong to no class."""

NUM_CLASSES = len(SHAPES)

# Object size: radius of the circle that bounds the rotated silhouette, frame pixels.
RADIUS_RANGE = (60.0, 100.0)
# Gap between that circle and the border of the central crop, frame pixels.
CROP_MARGIN = 6.0
# Pose variation: a silhouette is stretched by s along its own x axis and 1/s along y,
# with log s uniform in [-STRETCH_LOG, STRETCH_LOG].
STRETCH_LOG = math.log(1.12)
# Half the peak-to-peak amplitude of the texture modulation, 0–255 levels.
TEXTURE_AMPLITUDE = (35.0, 50.0)
# Largest chromatic share of a texture's modulation direction (the rest is luminance).
TEXTURE_TINT = 0.5
# Smallest RGB distance between the object's colour and the background's colours.
MIN_FIGURE_GROUND = 80.0
# Smallest grey-level difference between them, so the silhouette is a luminance edge.
MIN_FIGURE_GROUND_LUMA = 60.0


def class_ids() -> tuple[str, ...]:
    """Class ids (``"t00_circle"`` …), which sort in class order like ImageNet wnids."""
    return TOYWORLD_IDS


def toyworld_label_space() -> LabelSpace:
    """The toy world's ten classes: the built-in label space ``toyworld``."""
    return get_label_space("toyworld")


# --------------------------------------------------------------------------- shapes


def _circle(n: int = 96, radius: float = 1.0, centre: tuple[float, float] = (0.0, 0.0)):
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    return np.stack([centre[0] + radius * np.cos(t), centre[1] + radius * np.sin(t)], axis=1)


def _regular(n: int, radius: float = 1.0, phase: float = -np.pi / 2) -> np.ndarray:
    t = phase + np.arange(n) * 2.0 * np.pi / n
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _star(points: int = 5, outer: float = 1.0, inner: float = 0.42) -> np.ndarray:
    t = -np.pi / 2 + np.arange(2 * points) * np.pi / points
    r = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _heart(n: int = 96) -> np.ndarray:
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    points = np.stack([x, y], axis=1)
    points -= (points.max(axis=0) + points.min(axis=0)) / 2
    return points / np.linalg.norm(points, axis=1).max()


def _centred(points: np.ndarray) -> np.ndarray:
    """Shift a polygon so its bounding box is centred and scale it into the unit disc."""
    points = np.asarray(points, dtype=np.float64)
    points = points - (points.max(axis=0) + points.min(axis=0)) / 2
    return points / np.linalg.norm(points, axis=1).max()


# Each shape is a list of (polygon, fill) drawn in order: fill 1 adds, 0 cuts a hole.
# Polygons are in unit coordinates (x right, y down) inside the unit disc.
_SHAPE_PARTS: dict[str, list[tuple[np.ndarray, int]]] = {
    "circle": [(_circle(), 1)],
    "square": [(_regular(4, phase=np.pi / 4), 1)],
    "triangle": [(_regular(3), 1)],
    "star": [(_star(), 1)],
    "cross": [(_centred([(-0.3, -1), (0.3, -1), (0.3, -0.3), (1, -0.3), (1, 0.3), (0.3, 0.3),
                         (0.3, 1), (-0.3, 1), (-0.3, 0.3), (-1, 0.3), (-1, -0.3), (-0.3, -0.3)]),
               1)],
    "crescent": [(_circle(), 1), (_circle(radius=0.82, centre=(0.42, 0.0)), 0)],
    "heart": [(_heart(), 1)],
    "ring": [(_circle(), 1), (_circle(radius=0.55), 0)],
    "arrow": [(_centred([(-1, -0.24), (0.15, -0.24), (0.15, -0.62), (1, 0), (0.15, 0.62),
                         (0.15, 0.24), (-1, 0.24)]), 1)],
    "lshape": [(_centred([(0, 0), (0.45, 0), (0.45, 1.05), (1.05, 1.05), (1.05, 1.5),
                          (0, 1.5)]), 1)],
}

_SUBPIXEL_BITS = 4


def shape_mask(shape: str | int, size: tuple[int, int], centre: tuple[float, float],
               radius: float, angle: float, stretch: float = 1.0) -> np.ndarray:
    """Anti-aliased coverage of a rotated, scaled shape.

    Parameters
    ----------
    shape : str or int
        Shape name or class index.
    size : tuple[int, int]
        ``(width, height)`` of the mask in pixels.
    centre : tuple[float, float]
        ``(x, y)`` of the shape's centre in pixels.
    radius : float
        Radius of the circle that bounds the shape, pixels.
    angle : float
        Rotation in radians (counter-clockwise on screen).
    stretch : float
        Aspect change: the shape is scaled by ``stretch`` along its own x
        axis and by ``1 / stretch`` along y before rotation, then shrunk so it
        stays inside ``radius``.

    Returns
    -------
    numpy.ndarray
        Height × width uint8 coverage, 0 outside and 255 inside.
    """
    name = SHAPES[shape] if isinstance(shape, int | np.integer) else shape
    if name not in _SHAPE_PARTS:
        raise ValueError(f"unknown shape {shape!r}; shapes: {', '.join(SHAPES)}")
    width, height = size
    mask = np.zeros((height, width), dtype=np.uint8)
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = np.array([[cos, sin], [-sin, cos]])
    scale = float(1 << _SUBPIXEL_BITS)
    aspect = np.array([stretch, 1.0 / stretch]) / max(stretch, 1.0 / stretch)
    for polygon, fill in _SHAPE_PARTS[name]:
        points = (polygon * aspect) @ rotation * radius + np.asarray(centre)
        # Pixel centres sit at integer coordinates in OpenCV; ours at +0.5.
        fixed = np.round((points - 0.5) * scale).astype(np.int32)
        cv2.fillPoly(mask, [fixed], 255 * fill, lineType=cv2.LINE_AA, shift=_SUBPIXEL_BITS)
    return mask


# --------------------------------------------------------------------------- textures


def _soft(signed_distance: np.ndarray) -> np.ndarray:
    """Coverage from a signed distance in pixels (positive inside): a 1-pixel ramp."""
    return np.clip(signed_distance + 0.5, 0.0, 1.0)


def _square_wave(phase: np.ndarray) -> np.ndarray:
    """A square wave of period 1 with softened edges, values in [0, 1]."""
    return np.clip(0.5 + 2.0 * np.sin(2.0 * np.pi * phase), 0.0, 1.0)


def _lattice(u: np.ndarray, v: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates relative to the nearest lattice point, pixels."""
    return (u / spacing - np.round(u / spacing)) * spacing, \
        (v / spacing - np.round(v / spacing)) * spacing


def texture_pattern(rng: np.random.Generator, family: str | int, x: np.ndarray, y: np.ndarray,
                    scale: float = 1.0) -> np.ndarray:
    """A texture family's pattern at the given pixel coordinates.

    Orientation, phase and frequency are drawn from ``rng`` within the family's range.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    family : str or int
        Texture family name (one of :data:`TEXTURES`) or class index.
    x, y : numpy.ndarray
        Pixel coordinates (arrays of one shape), in image pixels.
    scale : float
        Image pixels per frame pixel; the family's periods are in frame pixels.

    Returns
    -------
    numpy.ndarray
        Float32 array of ``x``'s shape with values in [0, 1].
    """
    name = TEXTURES[family] if isinstance(family, int | np.integer) else family
    angle = rng.uniform(0.0, np.pi)
    cos, sin = math.cos(angle), math.sin(angle)
    x = x / scale + rng.uniform(0.0, 64.0)
    y = y / scale + rng.uniform(0.0, 64.0)
    u = cos * x + sin * y
    v = -sin * x + cos * y
    if name == "stripes":
        pattern = _square_wave(u / rng.uniform(6.0, 10.0))
    elif name == "dots":
        spacing = rng.uniform(7.0, 10.0)
        lu, lv = _lattice(u, v, spacing)
        pattern = _soft(spacing * rng.uniform(0.22, 0.3) - np.hypot(lu, lv))
    elif name == "checkers":
        cell = rng.uniform(4.0, 6.5)
        pattern = np.clip(0.5 + 3.0 * np.sin(np.pi * u / cell) * np.sin(np.pi * v / cell),
                          0.0, 1.0)
    elif name == "hatch":
        spacing, half_width = rng.uniform(6.0, 9.0), 0.9
        lu, lv = _lattice(u, v, spacing)
        pattern = np.maximum(_soft(half_width - np.abs(lu)), _soft(half_width - np.abs(lv)))
    elif name == "noise":
        # Binary noise in cells of two frame pixels, not rotated.
        cell = 2.0
        ci = np.floor(x / cell).astype(np.int64)
        cj = np.floor(y / cell).astype(np.int64)
        ci -= ci.min()
        cj -= cj.min()
        table = rng.random((int(cj.max()) + 1, int(ci.max()) + 1)) < 0.5
        pattern = table[cj, ci].astype(np.float32)
    elif name == "zigzag":
        period, wavelength = rng.uniform(7.0, 10.0), rng.uniform(9.0, 13.0)
        triangle = 2.0 * np.abs(v / wavelength - np.floor(v / wavelength + 0.5))
        pattern = _square_wave((u + 0.5 * period * triangle) / period)
    elif name == "rings":
        spacing = rng.uniform(10.0, 13.0)
        lu, lv = _lattice(u, v, spacing)
        pattern = _soft(0.9 - np.abs(np.hypot(lu, lv) - spacing * 0.3))
    elif name == "plus":
        spacing = rng.uniform(9.0, 12.0)
        arm, half_width = spacing * 0.36, 0.9
        lu, lv = _lattice(u, v, spacing)
        horizontal = np.minimum(_soft(half_width - np.abs(lv)), _soft(arm - np.abs(lu)))
        vertical = np.minimum(_soft(half_width - np.abs(lu)), _soft(arm - np.abs(lv)))
        pattern = np.maximum(horizontal, vertical)
    elif name == "bricks":
        height = rng.uniform(6.0, 8.0)
        length = 2.2 * height
        row = np.floor(v / height)
        lu = u + (row % 2) * length / 2
        du = (lu / length - np.round(lu / length)) * length
        dv = (v / height - np.round(v / height)) * height
        pattern = np.maximum(_soft(0.8 - np.abs(du)), _soft(0.8 - np.abs(dv)))
    elif name == "triangles":
        spacing = rng.uniform(9.0, 12.0)
        inradius = spacing * 0.16
        lu, lv = _lattice(u, v, spacing)
        # Inside an equilateral triangle: within ``inradius`` of the centre along its
        # three edge normals.
        normals = [(0.0, 1.0), (-0.8660254, -0.5), (0.8660254, -0.5)]
        distance = np.min([inradius - (nx * lu + ny * lv) for nx, ny in normals], axis=0)
        pattern = _soft(distance)
    else:
        raise ValueError(f"unknown texture family {family!r}; families: {', '.join(TEXTURES)}")
    return pattern.astype(np.float32)


_LUMINANCE = np.array([1.0, 1.0, 1.0]) / math.sqrt(3.0)
_OPPONENT_A = np.array([1.0, -1.0, 0.0]) / math.sqrt(2.0)
_OPPONENT_B = np.array([1.0, 1.0, -2.0]) / math.sqrt(6.0)


def texture_colour_axis(rng: np.random.Generator) -> np.ndarray:
    """The RGB direction along which a texture modulates the object's colour.

    Mostly luminance, tinted by a random hue (up to :data:`TEXTURE_TINT` of the
    direction), so that the pattern, not its colour, identifies the family; the
    modulation averages out to the object's colour, so smoothing the texture away
    leaves no colour cue behind.

    Returns
    -------
    numpy.ndarray
        RGB vector of length √3 (so that its mean absolute channel is about 1).
    """
    hue = rng.uniform(0.0, 2.0 * np.pi)
    tint = rng.uniform(0.0, TEXTURE_TINT)
    chroma = math.cos(hue) * _OPPONENT_A + math.sin(hue) * _OPPONENT_B
    direction = math.sqrt(1.0 - tint**2) * _LUMINANCE + tint * chroma
    return direction / np.linalg.norm(direction) * math.sqrt(3.0)


def _smooth_noise(rng: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: a ``cells``-wide random grid, resized bicubically."""
    width, height = size
    grid = rng.uniform(-1.0, 1.0, (cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(35.0, 220.0, 3)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Grey level of RGB colours (ITU-R BT.601, as OpenCV's RGB→grey), 0–255."""
    return np.asarray(rgb, dtype=np.float64) @ np.array([0.299, 0.587, 0.114])


def figure_ground_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw the object's colour and the two colours of the background gradient.

    Each background colour differs from the object's by at least
    :data:`MIN_FIGURE_GROUND` in RGB and :data:`MIN_FIGURE_GROUND_LUMA` in grey level,
    so the silhouette is an edge in colour and in grey (where edge detectors look).

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        ``(figure, ground)``: a 3-vector and a 2×3 array of RGB colours, 0–255.
    """
    figure = _random_colour(rng)
    grounds = []
    for _ in range(2):
        candidate = _random_colour(rng)
        for _ in range(1000):
            if (np.linalg.norm(candidate - figure) >= MIN_FIGURE_GROUND
                    and abs(luma(candidate) - luma(figure)) >= MIN_FIGURE_GROUND_LUMA):
                break
            candidate = _random_colour(rng)
        grounds.append(candidate)
    return figure, np.stack(grounds)


def background(rng: np.random.Generator, size: tuple[int, int], colours: np.ndarray,
               distractor: str, scale: float = 1.0) -> np.ndarray:
    """A background: a two-colour gradient, low-frequency clouds and a distractor texture.

    Parameters
    ----------
    rng : numpy.random.Generator
        Random generator.
    size : tuple[int, int]
        ``(width, height)`` in pixels.
    colours : numpy.ndarray
        2×3 RGB colours (0–255) that the gradient runs between.
    distractor : str
        One of :data:`DISTRACTORS`.
    scale : float
        Image pixels per frame pixel.

    Returns
    -------
    numpy.ndarray
        Height × width × 3 float32 RGB in 0–255 levels (not clipped).
    """
    width, height = size
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    ramp = (math.cos(angle) * x + math.sin(angle) * y) / max(width, height)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    image = colours[0] + ramp[..., None] * (colours[1] - colours[0])
    image += 12.0 * _smooth_noise(rng, size, 4)[..., None]
    if distractor == "grain":
        image += rng.normal(0.0, rng.uniform(3.0, 6.0), (height, width, 1))
    elif distractor == "clouds":
        tint = rng.uniform(-1.0, 1.0, 3)
        image += 18.0 * _smooth_noise(rng, size, int(rng.integers(10, 16)))[..., None] * tint
    elif distractor == "veins":
        turbulence = _smooth_noise(rng, size, 6)
        period = rng.uniform(22.0, 34.0) * scale
        image += 10.0 * np.sin(2 * np.pi * (x + 30.0 * scale * turbulence) / period)[..., None]
    elif distractor != "plain":
        raise ValueError(f"unknown distractor {distractor!r}; known: {', '.join(DISTRACTORS)}")
    return image.astype(np.float32)


# --------------------------------------------------------------------------- images


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


OUTLINE_WIDTH = 3
"""Width of the true outline in image pixels (about that of a Canny edge and its blur)."""


def outline_mask(silhouette: np.ndarray, width: int = OUTLINE_WIDTH) -> np.ndarray:
    """The boundary pixels of a silhouette: the true outline of the object, as a mask.

    Parameters
    ----------
    silhouette : numpy.ndarray
        H×W boolean mask of the object's pixels.
    width : int
        The outline's width in pixels (a morphological gradient of that size).

    Returns
    -------
    numpy.ndarray
        H×W boolean mask: the pixels within about ``width / 2`` of the silhouette's edge.

    >>> square = np.zeros((9, 9), bool); square[2:7, 2:7] = True
    >>> int(outline_mask(square, 2).sum()) > 0, bool(outline_mask(square, 2)[4, 4])
    (True, False)
    """
    kernel = np.ones((max(1, width), max(1, width)), np.uint8)
    shape = silhouette.astype(np.uint8)
    gradient = cv2.morphologyEx(shape, cv2.MORPH_GRADIENT, kernel)
    return gradient.astype(bool)


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
