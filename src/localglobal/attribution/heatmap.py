"""Heat-map overlays: relevance in a diverging colour map over the image.

Relevance is scaled symmetrically by the 99th percentile of |R| (so a few extreme
pixels do not wash out the rest) and clipped to [−1, 1]; positive relevance is red,
negative blue, zero white (matplotlib's ``bwr``). The colour is blended over a
grey version of the image with an opacity that grows with |R|, so the object stays
visible where relevance is small. Canny edges are a thin, partly transparent dark
line (:data:`EDGE_OPACITY`) that darkens the relevance colour under it without
replacing it, and the box is outlined (:class:`OverlayStyle`). :func:`heatmap_figure`
draws an overlay with its colour scale in relevance units; the overlay's colours map
to relevance through :func:`scale_relevance` (:data:`SCALE_LABEL`).

Heat maps are stored as ``heatmaps/<model>/<name>.png`` (:func:`heatmap_name`).

>>> rgb = overlay(image_rgb, relevance, edges=edge_mask, box=(10, 12, 80, 90))  # doctest: +SKIP
>>> rgb.shape, rgb.dtype                                                         # doctest: +SKIP
((224, 224, 3), dtype('uint8'))
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from localglobal.io.atomic import safe_name

EDGE_COLOUR = (0, 0, 0)
EDGE_OPACITY = 0.4
"""Share of the edge colour in an edge pixel: the relevance colour keeps the rest."""
BOX_COLOUR = (0, 200, 0)
PERCENTILE = 99.0
"""Percentile of |R| that maps to full colour."""
CMAP = "bwr"
SCALE_LABEL = "R ÷ the image's 99th percentile of |R|"
"""What the colours of an overlay measure, for the colour bar of stored overlays."""


@dataclass(frozen=True)
class OverlayStyle:
    """How :func:`overlay` draws relevance, edges and the box.

    Attributes
    ----------
    cmap : str
        A diverging matplotlib colour map name.
    percentile : float
        Of |R|, in percent, mapped to full colour (clipped beyond).
    edge_colour, edge_opacity : tuple of int, float
        Edges are blended in this colour with this opacity (0…1), so that the
        relevance under an edge stays visible.
    box_colour, box_thickness : tuple of int, int
        The box is outlined in this colour, this many pixels wide inside it (two by
        default, so that the outline survives a figure that shows the overlay smaller).
    """

    cmap: str = CMAP
    percentile: float = PERCENTILE
    edge_colour: tuple[int, int, int] = EDGE_COLOUR
    edge_opacity: float = EDGE_OPACITY
    box_colour: tuple[int, int, int] = BOX_COLOUR
    box_thickness: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.edge_opacity <= 1.0:
            raise ValueError(f"edge_opacity must be in [0, 1], got {self.edge_opacity}")


@functools.lru_cache(maxsize=8)
def _lookup_table(cmap: str) -> np.ndarray:
    import matplotlib

    colours = matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3]
    return np.round(colours * 255).astype(np.uint8)


def _finite_map(relevance: np.ndarray) -> np.ndarray:
    """H×W float64 relevance (C×H×W summed over channels), NaN and infinity as zero."""
    relevance = np.asarray(relevance, dtype=np.float64)
    if relevance.ndim == 3:
        relevance = relevance.sum(axis=0)
    if relevance.ndim != 2:
        raise ValueError(f"relevance must be H×W or C×H×W, got shape {relevance.shape}")
    return np.where(np.isfinite(relevance), relevance, 0.0)


def relevance_bound(relevance: np.ndarray, percentile: float = PERCENTILE) -> float:
    """The |R| that maps to full colour: its ``percentile``, else its maximum; 0 for an
    all-zero map.

    Parameters
    ----------
    relevance : numpy.ndarray
        H×W (or C×H×W, summed over channels) relevance.
    percentile : float
        Of |R|, in percent.
    """
    magnitude = np.abs(_finite_map(relevance))
    bound = float(np.percentile(magnitude, percentile))
    if bound <= 0 or not math.isfinite(bound):
        bound = float(magnitude.max())
    return bound


def scale_relevance(relevance: np.ndarray, percentile: float = PERCENTILE) -> np.ndarray:
    """Relevance divided by the ``percentile`` of |R| and clipped to [−1, 1].

    Parameters
    ----------
    relevance : numpy.ndarray
        H×W (or C×H×W, summed over channels) relevance.
    percentile : float
        Of |R|, in percent, mapped to full colour.

    Returns
    -------
    numpy.ndarray
        H×W float64 in [−1, 1]; zeros for an all-zero map. NaN and infinity
        count as zero.
    """
    finite = _finite_map(relevance)
    bound = relevance_bound(finite, percentile)
    if bound <= 0:
        return np.zeros_like(finite)
    return np.clip(finite / bound, -1.0, 1.0)


def colourise(relevance: np.ndarray, cmap: str = CMAP, percentile: float = PERCENTILE
              ) -> np.ndarray:
    """The relevance map alone in a symmetric diverging colour map: H×W×3 uint8 RGB."""
    scaled = scale_relevance(relevance, percentile)
    index = np.round((scaled + 1.0) * 127.5).astype(np.intp)
    return _lookup_table(cmap)[index]


def _draw_box(image: np.ndarray, box: Sequence[float], colour: tuple[int, int, int],
              thickness: int) -> None:
    if any(not math.isfinite(float(v)) for v in box):
        return
    height, width = image.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    # The outline runs along the box's inside edge, pixel centres inside the box.
    c0, c1 = max(0, math.ceil(x0 - 0.5)), min(width, math.ceil(x1 - 0.5))
    r0, r1 = max(0, math.ceil(y0 - 0.5)), min(height, math.ceil(y1 - 0.5))
    if c1 <= c0 or r1 <= r0:
        return
    t = max(1, thickness)
    image[r0:min(r0 + t, r1), c0:c1] = colour
    image[max(r1 - t, r0):r1, c0:c1] = colour
    image[r0:r1, c0:min(c0 + t, c1)] = colour
    image[r0:r1, max(c1 - t, c0):c1] = colour


def overlay(image_rgb: np.ndarray, relevance: np.ndarray, edges: np.ndarray | None = None,
            box: Sequence[float] | None = None, style: OverlayStyle = OverlayStyle()
            ) -> np.ndarray:
    """Relevance over the image, with edges and the object's box.

    Parameters
    ----------
    image_rgb : numpy.ndarray
        H×W×3 uint8 RGB image in the input frame.
    relevance : numpy.ndarray
        H×W (or C×H×W) relevance of that image.
    edges : numpy.ndarray, optional
        Optional H×W boolean edge mask, blended into the relevance colour.
    box : Sequence[float], optional
        Optional ``(x0, y0, x1, y1)`` box (pixels, x1/y1 exclusive), outlined inside.
    style : OverlayStyle, optional
        The colour map and its scale, the edges' colour and opacity, the box's colour
        and thickness.

    Returns
    -------
    numpy.ndarray
        H×W×3 uint8 RGB overlay.
    """
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be H×W×3 uint8, got {image.shape} {image.dtype}")
    scaled = scale_relevance(relevance, style.percentile)
    if scaled.shape != image.shape[:2]:
        raise ValueError(f"relevance {scaled.shape} does not match image {image.shape[:2]}")
    colour = _lookup_table(style.cmap)[np.round((scaled + 1.0) * 127.5).astype(np.intp)]
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    background = np.repeat((0.5 * grey + 127.5)[..., None], 3, axis=2)
    opacity = np.sqrt(np.abs(scaled))[..., None]
    out = np.round(opacity * colour + (1.0 - opacity) * background).astype(np.uint8)
    if edges is not None:
        edges = np.asarray(edges, dtype=bool)
        if edges.shape != out.shape[:2]:
            raise ValueError(f"edge mask {edges.shape} does not match image {out.shape[:2]}")
        blended = ((1.0 - style.edge_opacity) * out[edges]
                   + style.edge_opacity * np.asarray(style.edge_colour, dtype=np.float64))
        out[edges] = np.round(blended).astype(np.uint8)
    if box is not None:
        _draw_box(out, box, style.box_colour, style.box_thickness)
    return out


def heatmap_figure(image_rgb: np.ndarray, relevance: np.ndarray,
                   edges: np.ndarray | None = None, box: Sequence[float] | None = None, *,
                   cmap: str = CMAP, percentile: float = PERCENTILE,
                   title: str | None = None) -> Any:
    """One overlay (:func:`overlay`) with its colour bar in relevance units.

    The colour scale is symmetric about zero: full red at the ``percentile`` of |R|,
    full blue at minus it, white at 0; relevance beyond is clipped.

    Parameters
    ----------
    image_rgb : numpy.ndarray
        H×W×3 uint8 RGB image in the input frame.
    relevance : numpy.ndarray
        H×W (or C×H×W, summed over channels) relevance of that image.
    edges : numpy.ndarray, optional
        Optional H×W boolean edge mask.
    box : Sequence[float], optional
        Optional ``(x0, y0, x1, y1)`` box in pixels.
    cmap : str
        A diverging matplotlib colour map name.
    percentile : float
        Of |R|, in percent, mapped to full colour.
    title : str, optional
        Optional axes title.

    Returns
    -------
    Any
        A :class:`matplotlib.figure.Figure` (no GUI backend is touched).
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    bound = relevance_bound(relevance, percentile)
    fig = Figure(figsize=(4.2, 3.4), layout="constrained")
    ax = fig.subplots()
    style = OverlayStyle(cmap=cmap, percentile=percentile)
    ax.imshow(overlay(image_rgb, relevance, edges, box, style), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize="medium")
    scale = ScalarMappable(Normalize(-(bound or 1.0), bound or 1.0), cmap=cmap)
    fig.colorbar(scale, ax=ax, shrink=0.85,
                 label=f"relevance (|R| clipped at its {percentile:g}th percentile)")
    return fig


def heatmap_name(item: Mapping[str, Any]) -> str:
    """File stem of an item's heat map.

    Parameters
    ----------
    item : mapping
        ``image_id``, ``probe``, ``level`` and ``variant`` of the item.

    Returns
    -------
    str
        The image id for originals, else ``<image_id>__<probe>_<level>_<variant>``,
        made safe for a file name.
    """
    if item["probe"] == "original":
        return safe_name(str(item["image_id"]))
    return safe_name(f"{item['image_id']}__{item['probe']}_{item['level']}_{item['variant']}")
