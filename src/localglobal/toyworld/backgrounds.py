"""The toy world's grounds: the object's colour against the background's, and the
background itself (a colour gradient, clouds and a texture that belongs to no class).

The object's colour differs clearly from the background's, in colour and in grey
level (:func:`figure_ground_colours`), so its silhouette is an edge that survives
smoothing the texture away.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

DISTRACTORS: tuple[str, ...] = ("grain", "clouds", "veins", "plain")
"""Background texture families that belong to no class."""

# Smallest RGB distance between the object's colour and the background's colours.
MIN_FIGURE_GROUND = 80.0
# Smallest grey-level difference between them, so the silhouette is a luminance edge.
MIN_FIGURE_GROUND_LUMA = 60.0


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
