"""Patch occlusion: square patches of one colour on a regular, odd grid.

For patch side ``p`` on a side of ``S`` pixels: ``n = ⌊S/p⌋``, minus 1 if even, so the
grid has an odd number of cells and is centred; margin ``m = ⌊(S − n·p)/2⌋``. Patches
sit on the grid cells ``(r, c)`` whose row and column are both even
(0, 2, …, n−1), at pixel ``(x, y) = (m + c·p, m + r·p)``, enumerated row-major. So
neighbouring patches are one cell apart and never touch. Each patch is a rectangle
``[x0, y0, x1, y1]`` in pixels with exclusive ends.

>>> len(patch_rects(224, 10)), len(patch_rects(224, 70))
(121, 4)
>>> patch_rects(224, 70)[0]
(7, 7, 77, 77)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Rect = tuple[int, int, int, int]
Fill = str | Sequence[int]

GREY = (128, 128, 128)
"""The ``"grey"`` fill: the middle of the 0–255 range."""


@dataclass(frozen=True)
class PatchRecord:
    """What a patch image covers.

    Attributes:
        size: patch side, pixels.
        fill: the configured fill (``"black"``, ``"grey"``, ``"mean"`` or ``[r, g, b]``).
        colour: the RGB colour actually painted.
        rects: the painted rectangles ``[x0, y0, x1, y1]``, exclusive ends, pixels.
    """

    size: int
    fill: str | tuple[int, int, int]
    colour: tuple[int, int, int]
    rects: tuple[Rect, ...]

    def params(self) -> dict[str, object]:
        """The record as ``perturbations.parquet`` stores it: ``{"size", "fill", "rects"}``.

        A ``"mean"`` fill is stored by name: its colour is the per-channel mean of the
        input-frame image, rounded (:func:`fill_colour`), so it is reproduced from the
        original image.
        """
        fill = self.fill if isinstance(self.fill, str) else [int(v) for v in self.fill]
        return {
            "size": int(self.size),
            "fill": fill,
            "rects": [[int(v) for v in rect] for rect in self.rects],
        }


def _axis_grid(side: int, size: int) -> tuple[int, int]:
    """(cells n, margin m) along one axis."""
    if size <= 0:
        raise ValueError(f"patch side must be positive, got {size}")
    n = side // size
    if n == 0:
        raise ValueError(f"patch side {size} is larger than the image side {side}")
    if n % 2 == 0:
        n -= 1
    return n, (side - n * size) // 2


def patch_rects(height: int, size: int, width: int | None = None) -> list[Rect]:
    """The patch rectangles for patch side ``size`` on an image, row-major.

    Args:
        height: image height (the side S of a square image), pixels.
        size: patch side p, pixels.
        width: image width, pixels; defaults to ``height``.

    Returns:
        ``(x0, y0, x1, y1)`` per patch, exclusive ends, in enumeration order (the
        variant index of each single-patch image).

    Raises:
        ValueError: the patch is larger than the image or not positive.
    """
    width = height if width is None else width
    n_rows, margin_y = _axis_grid(height, size)
    n_cols, margin_x = _axis_grid(width, size)
    return [
        (margin_x + c * size, margin_y + r * size,
         margin_x + (c + 1) * size, margin_y + (r + 1) * size)
        for r in range(0, n_rows, 2)
        for c in range(0, n_cols, 2)
    ]


def fill_colour(image: np.ndarray, fill: Fill = "black") -> tuple[int, int, int]:
    """The RGB colour a fill stands for on this image.

    Args:
        image: H×W×3 uint8 RGB (used only by ``"mean"``).
        fill: ``"black"``; ``"grey"`` (128, 128, 128); ``"mean"``, the image's per-channel
            mean rounded to the nearest level; or an ``(r, g, b)`` triple in 0–255.
    """
    if isinstance(fill, str):
        if fill == "black":
            return (0, 0, 0)
        if fill in ("grey", "gray"):
            return GREY
        if fill == "mean":
            means = np.asarray(image, dtype=np.float64).reshape(-1, 3).mean(axis=0)
            return tuple(int(v) for v in np.clip(np.rint(means), 0, 255))  # type: ignore[return-value]
        raise ValueError(f"unknown patch fill {fill!r}; use black, grey, mean or [r, g, b]")
    colour = tuple(int(v) for v in fill)
    if len(colour) != 3 or any(not 0 <= v <= 255 for v in colour):
        raise ValueError(f"patch fill must be three levels in 0–255, got {list(fill)}")
    return colour  # type: ignore[return-value]


def paint(image: np.ndarray, rects: Sequence[Rect], colour: Sequence[int]) -> np.ndarray:
    """A copy of ``image`` with every rectangle filled with ``colour``."""
    out = np.array(image, copy=True)
    for x0, y0, x1, y1 in rects:
        out[y0:y1, x0:x1] = colour
    return out


def _normalised_fill(fill: Fill) -> str | tuple[int, int, int]:
    return fill if isinstance(fill, str) else tuple(int(v) for v in fill)  # type: ignore[return-value]


def patch_images(image: np.ndarray, size: int, fill: Fill = "black",
                 ) -> list[tuple[str, np.ndarray, PatchRecord]]:
    """Every single-patch image and the all-patches image for one patch side.

    Args:
        image: H×W×3 uint8 RGB.
        size: patch side, pixels.
        fill: see :func:`fill_colour`.

    Returns:
        ``(variant, image, record)`` triples: variants ``"0"``, ``"1"``, … for the single
        patches in row-major order, then ``"all"``.
    """
    image = np.asarray(image)
    rects = patch_rects(image.shape[0], size, image.shape[1])
    colour = fill_colour(image, fill)
    configured = _normalised_fill(fill)
    out = [
        (str(k), paint(image, [rect], colour),
         PatchRecord(int(size), configured, colour, (rect,)))
        for k, rect in enumerate(rects)
    ]
    out.append(("all", paint(image, rects, colour),
                PatchRecord(int(size), configured, colour, tuple(rects))))
    return out


def patch(image: np.ndarray, size: int, variant: int | str = "all",
          fill: Fill = "black") -> tuple[np.ndarray, PatchRecord]:
    """One patch image: single patch ``variant`` (its row-major index) or ``"all"``.

    Args:
        image: H×W×3 uint8 RGB.
        size: patch side, pixels.
        variant: index of the single patch, or ``"all"``.
        fill: see :func:`fill_colour`.

    Returns:
        The patched copy and its :class:`PatchRecord`.
    """
    image = np.asarray(image)
    rects = patch_rects(image.shape[0], size, image.shape[1])
    if variant != "all":
        index = int(variant)
        if not 0 <= index < len(rects):
            raise ValueError(f"patch index {index} out of range; side {size} gives "
                             f"{len(rects)} patches")
        rects = [rects[index]]
    colour = fill_colour(image, fill)
    record = PatchRecord(int(size), _normalised_fill(fill), colour, tuple(rects))
    return paint(image, rects, colour), record
