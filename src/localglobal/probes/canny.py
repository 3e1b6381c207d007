"""Canny edges as the shape proxy: the thesis's auto-Canny, in the model-input frame.

The image is denoised with OpenCV's non-local means for colour images (``h`` 30,
``hColor`` 10, template window 7, search window 21), converted to grey, and Canny
is run with thresholds set from the grey image's median ``v``:
``lower = max(0, (1 − σ)·v)`` and ``upper = min(255, (1 + σ)·v)``, σ = 0.9.
Masks are boolean arrays indexed (row, col), the same frame as boxes and relevance.

The median rule saturates: on a bright image (v ≥ 134 with σ = 0.9) the upper
threshold is clipped to 255, and on a dark one both thresholds approach 0, so the
number of edges follows the image's brightness. Two rules that do not saturate are
selectable with :attr:`CannySettings.thresholds`:

* ``"otsu"``: upper = Otsu's threshold of the grey image, lower = ``otsu_ratio`` ×
  upper (a common heuristic: the grey level that best splits object and background
  sets the gradient needed for an edge);
* ``"percentile"``: lower and upper = the ``percentiles`` of the image's non-zero
  gradient magnitudes, computed as Canny computes them (3×3 Sobel, L1 norm), so a
  fixed share of the textured pixels can seed edges whatever the brightness.

:func:`empty_mask` flags a mask without edge pixels (overall or inside the box),
which leaves the edge-based LRP measures undefined.

>>> image = np.zeros((64, 64, 3), np.uint8); image[16:48, 16:48] = 200
>>> mask, record = auto_canny(image, CannySettings(denoise=False))
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

    Attributes
    ----------
    median : float
        Median of the (denoised) grey image, 0–255.
    lower, upper : float
        Canny hysteresis thresholds from the median and ``sigma``.
    sigma : float
        Spread of the thresholds around the median.
    rule : str
        The threshold rule (``"auto"``, ``"otsu"`` or ``"percentile"``).
    """

    median: float
    lower: float
    upper: float
    sigma: float
    rule: str = "auto"


#: The threshold rules :func:`auto_canny` accepts.
THRESHOLD_RULES = ("auto", "otsu", "percentile")


@dataclass(frozen=True)
class CannySettings:
    """How :func:`auto_canny` finds edges: the denoising and the threshold rule.

    The defaults are the thesis's; the fields are those of the configuration's
    ``edges`` section.

    Attributes
    ----------
    sigma : float
        Threshold spread around the median (``thresholds = "auto"``).
    thresholds : str
        ``"auto"`` (the thesis's median rule), ``"otsu"`` or ``"percentile"`` (see the
        module docstring).
    percentiles : tuple[float, float]
        Lower and upper percentile of the non-zero gradient magnitudes.
    otsu_ratio : float
        Lower / upper threshold of the Otsu rule.
    denoise : bool
        Apply non-local-means denoising first (the thesis did).
    h, h_color, template_window, search_window : float, float, int, int
        ``cv2.fastNlMeansDenoisingColored`` parameters.
    """

    sigma: float = 0.9
    thresholds: str = "auto"
    percentiles: tuple[float, float] = (70.0, 90.0)
    otsu_ratio: float = 0.5
    denoise: bool = True
    h: float = 30.0
    h_color: float = 10.0
    template_window: int = 7
    search_window: int = 21


def canny_thresholds(median: float, sigma: float = 0.9) -> tuple[float, float]:
    """``(max(0, (1 − σ)·v), min(255, (1 + σ)·v))`` for median ``v``."""
    return max(0.0, (1.0 - sigma) * float(median)), min(255.0, (1.0 + sigma) * float(median))


def gradient_magnitude(grey: np.ndarray) -> np.ndarray:
    """The gradient magnitude Canny thresholds: 3×3 Sobel, L1 norm ``|dx| + |dy|``.

    Parameters
    ----------
    grey : numpy.ndarray
        H×W uint8 grey image.

    Returns
    -------
    numpy.ndarray
        H×W float32 magnitudes (OpenCV's Canny replicates the border, as here).
    """
    import cv2

    dx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    dy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    return np.abs(dx) + np.abs(dy)


def otsu_thresholds(grey: np.ndarray, ratio: float = 0.5) -> tuple[float, float]:
    """``(ratio·t, t)`` for Otsu's threshold t of the grey image (0 for a flat image)."""
    import cv2

    upper, _ = cv2.threshold(np.ascontiguousarray(grey), 0, 255,
                             cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(ratio) * float(upper), float(upper)


def percentile_thresholds(grey: np.ndarray,
                          percentiles: tuple[float, float] = (70.0, 90.0)) -> tuple[float, float]:
    """The given percentiles of the non-zero gradient magnitudes of a grey image.

    Flat pixels are left out, so that a large uniform background does not pull the
    thresholds to 0 (which would make every faint gradient an edge).

    Returns
    -------
    tuple[float, float]
        ``(lower, upper)``; ``(0.0, 0.0)`` for a flat image, which has no edges.
    """
    low, high = (float(p) for p in percentiles)
    if not 0 <= low < high <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= lower < upper <= 100, got {percentiles}")
    magnitude = gradient_magnitude(grey)
    textured = magnitude[magnitude > 0]
    if textured.size == 0:
        return 0.0, 0.0
    lower, upper = np.percentile(textured, [low, high])
    return float(lower), float(upper)


def auto_canny(image: np.ndarray, settings: CannySettings = CannySettings()
               ) -> tuple[np.ndarray, EdgeRecord]:
    """Edges of an RGB image by the thesis's auto-Canny (or another threshold rule).

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB (the model-input image, so edges share its frame).
    settings : CannySettings, optional
        The denoising and the threshold rule (default: the thesis's).

    Returns
    -------
    tuple[numpy.ndarray, EdgeRecord]
        H×W boolean mask (True on edge pixels, indexed row, col) and the thresholds.

    Raises
    ------
    ValueError
        not an RGB uint8 image, or an unknown threshold rule.
    """
    import cv2

    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"edges need an H×W×3 uint8 RGB image, got {image.shape} {image.dtype}")
    if settings.thresholds not in THRESHOLD_RULES:
        raise ValueError(f"unknown edge threshold rule {settings.thresholds!r}; choose from "
                         f"{', '.join(THRESHOLD_RULES)}")
    # OpenCV's colour denoiser works in Lab converted from BGR; feed it BGR as the thesis
    # (cv2.imread) did.
    bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    if settings.denoise:
        bgr = cv2.fastNlMeansDenoisingColored(
            bgr, None, float(settings.h), float(settings.h_color),
            int(settings.template_window), int(settings.search_window))
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    median = float(np.median(grey))
    if settings.thresholds == "otsu":
        lower, upper = otsu_thresholds(grey, settings.otsu_ratio)
    elif settings.thresholds == "percentile":
        lower, upper = percentile_thresholds(grey, settings.percentiles)
    else:
        lower, upper = canny_thresholds(median, settings.sigma)
    # Canny floors its thresholds (L1 gradient), which matches the thesis's int() of them.
    mask = cv2.Canny(grey, lower, upper) > 0
    return mask, EdgeRecord(median=median, lower=lower, upper=upper,
                            sigma=float(settings.sigma), rule=settings.thresholds)


def empty_mask(mask: np.ndarray, box: tuple[float, float, float, float] | None = None) -> bool:
    """True when an edge mask has no edge pixel (inside ``box`` when one is given).

    An empty mask means the shape proxy failed for the image: every edge-based
    relevance measure of it is undefined, so the image is flagged rather than read
    as "no relevance on edges".

    Parameters
    ----------
    mask : numpy.ndarray
        S×S boolean edge mask (row, col).
    box : tuple[float, float, float, float], optional
        ``(x0, y0, x1, y1)`` in the same frame (exclusive ends), or None for the
        whole mask; a box with NaN holds no pixel, so its mask counts as empty.
    """
    mask = np.asarray(mask, dtype=bool)
    if box is None:
        return not mask.any()
    return edge_counts(mask, box)["n_edge_in_box"] == 0


def edge_counts(mask: np.ndarray, box: tuple[float, float, float, float]) -> dict[str, int]:
    """Edge pixels in all, inside and outside a box.

    Parameters
    ----------
    mask : numpy.ndarray
        S×S boolean edge mask (row, col).
    box : tuple[float, float, float, float]
        ``(x0, y0, x1, y1)`` in the same frame, pixels, exclusive ends (a pixel is
        inside when its centre is); NaN for no box.

    Returns
    -------
    dict[str, int]
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
