"""The model-input frame: where torchvision's Resize + CenterCrop moves every pixel.

Boxes, edges, relevance and perturbations all live in the frame that the model
sees: the image's shorter side resized to ``resize`` pixels (aspect ratio kept,
the longer side truncated to an integer as torchvision does), then a centred
``crop`` × ``crop`` square cut out (padded with zeros where the resized image is
smaller than the crop).

Coordinates are continuous pixel-edge coordinates in pixels: a box
``(x0, y0, x1, y1)`` covers columns ``x0 ≤ x < x1`` and rows ``y0 ≤ y < y1``, so a
box of one pixel at column 5 is ``(5, 6)``. Boxes read from VOC XML use inclusive
0-based pixel indices; :func:`voc_to_edges` converts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrameTransform:
    """How an image of ``width`` × ``height`` pixels maps into the input frame.

    Attributes
    ----------
    width, height : int
        Original image size in pixels.
    resized_width, resized_height : int
        Size after resizing the shorter side.
    crop : int
        Side of the square input frame in pixels.
    left, top : int
        Position of the frame's origin in the resized image, in pixels
        (negative where the crop pads a resized side shorter than ``crop``).
    """

    width: int
    height: int
    resized_width: int
    resized_height: int
    crop: int
    left: int
    top: int

    @property
    def scale_x(self) -> float:
        return self.resized_width / self.width

    @property
    def scale_y(self) -> float:
        return self.resized_height / self.height

    def map_box(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """Map an ``(x0, y0, x1, y1)`` box from original pixels into the frame, clipped.

        A box that falls wholly outside the frame comes back empty (x0 == x1 or
        y0 == y1).
        """
        x0, y0, x1, y1 = box
        fx0 = x0 * self.scale_x - self.left
        fx1 = x1 * self.scale_x - self.left
        fy0 = y0 * self.scale_y - self.top
        fy1 = y1 * self.scale_y - self.top
        clip = float(self.crop)
        fx0, fx1 = (min(max(v, 0.0), clip) for v in (fx0, fx1))
        fy0, fy1 = (min(max(v, 0.0), clip) for v in (fy0, fy1))
        return (fx0, fy0, max(fx0, fx1), max(fy0, fy1))

    def map_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`map_box` for an N×4 array."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scale = np.array([self.scale_x, self.scale_y, self.scale_x, self.scale_y])
        offset = np.array([self.left, self.top, self.left, self.top], dtype=np.float64)
        mapped = np.clip(boxes * scale - offset, 0.0, float(self.crop))
        mapped[:, 2] = np.maximum(mapped[:, 2], mapped[:, 0])
        mapped[:, 3] = np.maximum(mapped[:, 3], mapped[:, 1])
        return mapped


def resized_size(width: int, height: int, resize: int) -> tuple[int, int]:
    """Size ``(width, height)`` after torchvision's ``Resize(resize)`` (shorter side).

    The shorter side becomes ``resize``; the longer one is ``int(resize * long / short)``
    (truncated, as torchvision computes it).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = resize, int(resize * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def frame_transform(width: int, height: int, resize: int = 256, crop: int = 224) -> FrameTransform:
    """The :class:`FrameTransform` for an image of ``width`` × ``height`` pixels."""
    resized_width, resized_height = resized_size(width, height, resize)
    # torchvision's center_crop pads first when the image is smaller than the crop,
    # putting (crop - side) // 2 pixels of zeros before the image.
    if resized_width < crop:
        left = -((crop - resized_width) // 2)
    else:
        left = round((resized_width - crop) / 2.0)
    if resized_height < crop:
        top = -((crop - resized_height) // 2)
    else:
        top = round((resized_height - crop) / 2.0)
    return FrameTransform(width, height, resized_width, resized_height, crop, left, top)


def voc_to_edges(xmin: float, ymin: float, xmax: float, ymax: float) -> tuple[float, ...]:
    """Convert inclusive 0-based pixel indices (VOC ``<bndbox>``) to pixel edges."""
    return (float(xmin), float(ymin), float(xmax) + 1.0, float(ymax) + 1.0)


def union_box(boxes: np.ndarray) -> tuple[float, float, float, float]:
    """The smallest box containing every non-empty box of an N×4 array.

    Returns ``(nan, nan, nan, nan)`` when there is none.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if not keep.any():
        return (np.nan, np.nan, np.nan, np.nan)
    kept = boxes[keep]
    return (kept[:, 0].min(), kept[:, 1].min(), kept[:, 2].max(), kept[:, 3].max())


def box_mask(box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """A ``size`` × ``size`` boolean mask (rows, cols) of the pixels a box covers.

    A pixel is inside when its centre is: row r with ``y0 ≤ r + 0.5 < y1``.
    A NaN box gives an empty mask.
    """
    mask = np.zeros((size, size), dtype=bool)
    if any(np.isnan(v) for v in box):
        return mask
    x0, y0, x1, y1 = box
    centres = np.arange(size) + 0.5
    cols = (centres >= x0) & (centres < x1)
    rows = (centres >= y0) & (centres < y1)
    mask[np.ix_(rows, cols)] = True
    return mask
