"""The toy world's shapes: ten silhouettes with distinct outlines, one per class.

A shape is drawn anti-aliased at any position, scale, rotation and stretch
(:func:`shape_mask`); its true outline is the boundary of its silhouette
(:func:`outline_mask`), the shape proxy that needs no edge detector.

>>> mask = shape_mask("star", (64, 64), (32.0, 32.0), 24.0, 0.0)
>>> mask.shape, int(mask.max())
((64, 64), 255)
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from localglobal.labels import TOYWORLD_SHAPES

SHAPES: tuple[str, ...] = TOYWORLD_SHAPES
"""Class names in output order; class k is shape ``SHAPES[k]`` with texture ``TEXTURES[k]``."""


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
