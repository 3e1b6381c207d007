"""Canny edges as the shape proxy: the thesis's auto-Canny, in the model-input frame.

The image is denoised with OpenCV's non-local means for colour images (``h`` 30,
``hColor`` 10, template window 7, search window 21), converted to grey, and Canny
is run with thresholds set from the grey image's median ``v``:
``lower = max(0, (1 − σ)·v)`` and ``upper = min(255, (1 + σ)·v)``, σ = 0.9.
Masks are boolean arrays indexed (row, col), the same frame as boxes and relevance.

>>> image = np.zeros((64, 64, 3), np.uint8); image[16:48, 16:48] = 200
>>> mask, record = auto_canny(image, denoise=False)
>>> mask.shape, bool(mask[16:48, 16].any()), bool(mask[:8].any())
((64, 64), True, False)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from localglobal.data.geometry import box_mask


@dataclass(frozen=True)
class EdgeRecord:
    """The thresholds an auto-Canny used.

    Attributes:
        median: median of the (denoised) grey image, 0–255.
        lower, upper: Canny hysteresis thresholds from the median and ``sigma``.
        sigma: spread of the thresholds around the median.
    """

    median: float
    lower: float
    upper: float
    sigma: float


def canny_thresholds(median: float, sigma: float = 0.9) -> tuple[float, float]:
    """``(max(0, (1 − σ)·v), min(255, (1 + σ)·v))`` for median ``v``."""
    return max(0.0, (1.0 - sigma) * float(median)), min(255.0, (1.0 + sigma) * float(median))


def auto_canny(image: np.ndarray, sigma: float = 0.9, *, denoise: bool = True,
               h: float = 30.0, h_color: float = 10.0, template_window: int = 7,
               search_window: int = 21) -> tuple[np.ndarray, EdgeRecord]:
    """Edges of an RGB image by the thesis's auto-Canny.

    Args:
        image: H×W×3 uint8 RGB (the model-input image, so edges share its frame).
        sigma: threshold spread around the median.
        denoise: apply non-local-means denoising first (the thesis did).
        h, h_color, template_window, search_window: ``cv2.fastNlMeansDenoisingColored``
            parameters.

    Returns:
        H×W boolean mask (True on edge pixels, indexed row, col) and the thresholds.
    """
    import cv2

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"edges need an H×W×3 uint8 RGB image, got {image.shape} {image.dtype}")
    # OpenCV's colour denoiser works in Lab converted from BGR; feed it BGR as the thesis
    # (cv2.imread) did.
    bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    if denoise:
        bgr = cv2.fastNlMeansDenoisingColored(bgr, None, float(h), float(h_color),
                                              int(template_window), int(search_window))
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    median = float(np.median(grey))
    lower, upper = canny_thresholds(median, sigma)
    # Canny floors its thresholds (L1 gradient), which matches the thesis's int() of them.
    mask = cv2.Canny(grey, lower, upper) > 0
    return mask, EdgeRecord(median=median, lower=lower, upper=upper, sigma=float(sigma))


def edge_counts(mask: np.ndarray, box: tuple[float, float, float, float]) -> dict[str, int]:
    """Edge pixels in all, inside and outside a box.

    Args:
        mask: S×S boolean edge mask (row, col).
        box: ``(x0, y0, x1, y1)`` in the same frame, pixels, exclusive ends (a pixel is
            inside when its centre is); NaN for no box.

    Returns:
        ``{"n_edge", "n_edge_in_box", "n_edge_out_box"}``.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        raise ValueError(f"edge masks are square (rows, cols), got {mask.shape}")
    inside = int(np.count_nonzero(mask & box_mask(box, mask.shape[0])))
    total = int(np.count_nonzero(mask))
    return {"n_edge": total, "n_edge_in_box": inside, "n_edge_out_box": total - inside}


def pack_mask(mask: np.ndarray) -> np.ndarray:
    """A boolean mask as bits (``np.packbits`` of the row-major flattening), uint8."""
    return np.packbits(np.asarray(mask, dtype=bool).ravel())


def unpack_mask(packed: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`pack_mask` for a mask of ``shape`` (rows, cols)."""
    rows, cols = (int(v) for v in shape)
    bits = np.unpackbits(np.asarray(packed, dtype=np.uint8), count=rows * cols)
    return bits.reshape(rows, cols).astype(bool)
