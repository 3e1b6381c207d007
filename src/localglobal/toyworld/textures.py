"""The toy world's texture families: fine, high-contrast patterns, one per class.

A family is a periodic or random pattern recognisable from a small patch: stripes,
dots, checkers, hatching, binary noise, zigzags, rings, plus signs, bricks and
triangles. Its structure is 2–13 frame pixels, so a texture-removing smoother wipes it
out; its orientation, phase and frequency are drawn per image within the family's
range. :func:`texture_colour_axis` is the colour direction along which a pattern
modulates the object's colour.

>>> y, x = np.mgrid[0:32, 0:32].astype(np.float32)
>>> pattern = texture_pattern(np.random.default_rng(0), "dots", x, y)
>>> pattern.shape, pattern.dtype, float(pattern.min()) >= 0.0
((32, 32), dtype('float32'), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

TEXTURES: tuple[str, ...] = (
    "stripes", "dots", "checkers", "hatch", "noise",
    "zigzag", "rings", "plus", "bricks", "triangles",
)
"""Texture family owned by each class, in class order."""

# Half the peak-to-peak amplitude of the texture modulation, 0–255 levels.
TEXTURE_AMPLITUDE = (35.0, 50.0)
# Largest chromatic share of a texture's modulation direction (the rest is luminance).
TEXTURE_TINT = 0.5


class _Grid(NamedTuple):
    """Where a pattern is evaluated, in frame pixels: shifted (x, y) and rotated (u, v)."""

    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray


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


# Each family draws its own parameters from the generator, in this order, after the
# orientation and the phase that every family shares.


def _stripes(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    return _square_wave(grid.u / rng.uniform(6.0, 10.0))


def _dots(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    spacing = rng.uniform(7.0, 10.0)
    lu, lv = _lattice(grid.u, grid.v, spacing)
    return _soft(spacing * rng.uniform(0.22, 0.3) - np.hypot(lu, lv))


def _checkers(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    cell = rng.uniform(4.0, 6.5)
    return np.clip(0.5 + 3.0 * np.sin(np.pi * grid.u / cell) * np.sin(np.pi * grid.v / cell),
                   0.0, 1.0)


def _hatch(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    spacing, half_width = rng.uniform(6.0, 9.0), 0.9
    lu, lv = _lattice(grid.u, grid.v, spacing)
    return np.maximum(_soft(half_width - np.abs(lu)), _soft(half_width - np.abs(lv)))


def _noise(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    # Binary noise in cells of two frame pixels, not rotated.
    cell = 2.0
    ci = np.floor(grid.x / cell).astype(np.int64)
    cj = np.floor(grid.y / cell).astype(np.int64)
    ci -= ci.min()
    cj -= cj.min()
    table = rng.random((int(cj.max()) + 1, int(ci.max()) + 1)) < 0.5
    return table[cj, ci].astype(np.float32)


def _zigzag(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    period, wavelength = rng.uniform(7.0, 10.0), rng.uniform(9.0, 13.0)
    triangle = 2.0 * np.abs(grid.v / wavelength - np.floor(grid.v / wavelength + 0.5))
    return _square_wave((grid.u + 0.5 * period * triangle) / period)


def _rings(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    spacing = rng.uniform(10.0, 13.0)
    lu, lv = _lattice(grid.u, grid.v, spacing)
    return _soft(0.9 - np.abs(np.hypot(lu, lv) - spacing * 0.3))


def _plus(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    spacing = rng.uniform(9.0, 12.0)
    arm, half_width = spacing * 0.36, 0.9
    lu, lv = _lattice(grid.u, grid.v, spacing)
    horizontal = np.minimum(_soft(half_width - np.abs(lv)), _soft(arm - np.abs(lu)))
    vertical = np.minimum(_soft(half_width - np.abs(lu)), _soft(arm - np.abs(lv)))
    return np.maximum(horizontal, vertical)


def _bricks(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    height = rng.uniform(6.0, 8.0)
    length = 2.2 * height
    row = np.floor(grid.v / height)
    lu = grid.u + (row % 2) * length / 2
    du = (lu / length - np.round(lu / length)) * length
    dv = (grid.v / height - np.round(grid.v / height)) * height
    return np.maximum(_soft(0.8 - np.abs(du)), _soft(0.8 - np.abs(dv)))


def _triangles(rng: np.random.Generator, grid: _Grid) -> np.ndarray:
    spacing = rng.uniform(9.0, 12.0)
    inradius = spacing * 0.16
    lu, lv = _lattice(grid.u, grid.v, spacing)
    # Inside an equilateral triangle: within ``inradius`` of the centre along its
    # three edge normals.
    normals = [(0.0, 1.0), (-0.8660254, -0.5), (0.8660254, -0.5)]
    distance = np.min([inradius - (nx * lu + ny * lv) for nx, ny in normals], axis=0)
    return _soft(distance)


_PATTERNS: dict[str, Callable[[np.random.Generator, _Grid], np.ndarray]] = {
    "stripes": _stripes, "dots": _dots, "checkers": _checkers, "hatch": _hatch,
    "noise": _noise, "zigzag": _zigzag, "rings": _rings, "plus": _plus,
    "bricks": _bricks, "triangles": _triangles,
}


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
    if name not in _PATTERNS:
        raise ValueError(f"unknown texture family {family!r}; families: {', '.join(TEXTURES)}")
    angle = rng.uniform(0.0, np.pi)
    cos, sin = math.cos(angle), math.sin(angle)
    x = x / scale + rng.uniform(0.0, 64.0)
    y = y / scale + rng.uniform(0.0, 64.0)
    grid = _Grid(x, y, cos * x + sin * y, -sin * x + cos * y)
    return _PATTERNS[name](rng, grid).astype(np.float32)


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
