"""Where relevance falls: the thesis's region statistics and localisation metrics.

All functions take a channel-summed relevance map ``R`` (H×W float, the input
frame), and some an edge mask (H×W bool, Canny edges of the same image) and the
object's box ``(x0, y0, x1, y1)`` in continuous pixel edges (x1/y1 exclusive; a
pixel is inside when its centre is, as :func:`localglobal.data.geometry.box_mask`).

Thesis statistics (DESIGN.md, "LRP")
    ``r_mean`` = mean R over all pixels; ``pos_mean`` = mean of R over R > 0;
    ``neg_mean`` = mean of R over R < 0. The *positive region* is R > pos_mean,
    the *negative region* R < neg_mean. ``n_pos`` / ``n_neg`` are their sizes in
    pixels; ``n_pos_on_edges`` / ``n_neg_on_edges`` count the region's pixels that
    are edge pixels inside the box; ``share_*_on_edges`` divide those by the
    region's size.

Localisation metrics (independent of the mean-of-positives cut)
    ``mass_in_box``: positive relevance inside the box over all positive relevance.
    ``rank_accuracy`` (Arras et al. 2022, "CLEVR-XAI"): of the K most relevant
    pixels, K = the box's area in pixels, the fraction inside the box.
    ``pointing_hit``: 1.0 when the most relevant pixel lies inside the box.
    Ties are shared out as random tie-breaking would on average, so neither metric
    favours a pixel order.
    ``auc_edges``: ROC-AUC of R as a score separating the edge pixels inside the box
    from all other pixels (0.5 is chance; ties count one half).

Edge measures that isolate edges from the box
    ``auc_edges`` and the shares on edges reward relevance that merely falls inside
    the box, where the edges are. These compare edges with the rest of the box only:
    ``auc_edges_in_box``: ROC-AUC of R separating the box's edge pixels from the box's
    non-edge pixels (NaN when either set is empty).
    ``edge_enrichment_pos`` / ``edge_enrichment_neg``: the share of the region's
    in-box pixels that are edges, divided by the share of the box's pixels that are
    edges. 1 means no preference for edges, above 1 a preference; NaN when the region
    has no pixel in the box or the box has no edge pixel.

Undefined values are NaN (no positive relevance, an empty box).
A map with NaN or infinity gives ``finite = False`` and NaN everywhere.

Without a box (an image without annotations, ``index.require_box = false``: its box is
NaN) the whole image stands in for it wherever a measure needs no object: the edge
counts and shares count every edge pixel, ``auc_edges`` separates the image's edge
pixels from all its other pixels, and the enrichments divide by the image's edge
density. The measures that mean "on the object" are NaN: :data:`BOX_STATISTICS`
(``mass_in_box``, ``rank_accuracy``, ``pointing_hit``, ``auc_edges_in_box``).

>>> stats = region_statistics(R, edges, (10.0, 12.0, 80.0, 90.0))  # doctest: +SKIP
>>> stats.share_pos_on_edges                                      # doctest: +SKIP
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

Box = tuple[float, float, float, float]

#: Columns :func:`region_statistics` contributes to ``attributions.parquet``.
STAT_COLUMNS: tuple[str, ...] = (
    "r_mean", "pos_mean", "neg_mean", "n_pos", "n_neg", "n_pos_on_edges", "n_neg_on_edges",
    "share_pos_on_edges", "share_neg_on_edges", "mass_in_box", "rank_accuracy",
    "pointing_hit", "auc_edges", "auc_edges_in_box", "edge_enrichment_pos",
    "edge_enrichment_neg", "finite",
)

#: The statistics defined only against the object's box: NaN for an image without one
#: (the edge measures then take the whole image as their region).
BOX_STATISTICS: tuple[str, ...] = (
    "mass_in_box", "rank_accuracy", "pointing_hit", "auc_edges_in_box",
)


@dataclass(frozen=True)
class RegionStatistics:
    """Relevance statistics of one map (see the module docstring for definitions).

    Counts are floats so that a non-finite map can carry NaN in every field.
    """

    r_mean: float
    pos_mean: float
    neg_mean: float
    n_pos: float
    n_neg: float
    n_pos_on_edges: float
    n_neg_on_edges: float
    share_pos_on_edges: float
    share_neg_on_edges: float
    mass_in_box: float
    rank_accuracy: float
    pointing_hit: float
    auc_edges: float
    auc_edges_in_box: float
    edge_enrichment_pos: float
    edge_enrichment_neg: float
    finite: bool

    def as_dict(self) -> dict[str, float | bool]:
        """The statistics keyed by their ``attributions.parquet`` column names."""
        return asdict(self)

    @classmethod
    def undefined(cls) -> RegionStatistics:
        """All-NaN statistics of a map that is not finite."""
        values = {f.name: math.nan for f in fields(cls)}
        values["finite"] = False
        return cls(**values)


def box_mask_hw(box: Box, shape: tuple[int, int]) -> np.ndarray:
    """An H×W boolean mask of the pixels whose centres lie inside ``box``.

    Parameters
    ----------
    box : Box
        ``(x0, y0, x1, y1)`` in pixels, x1/y1 exclusive; NaN gives an empty mask.
    shape : tuple[int, int]
        ``(H, W)`` of the map.
    """
    height, width = shape
    mask = np.zeros((height, width), dtype=bool)
    if any(not math.isfinite(float(v)) for v in box):
        return mask
    x0, y0, x1, y1 = (float(v) for v in box)
    cols = (np.arange(width) + 0.5 >= x0) & (np.arange(width) + 0.5 < x1)
    rows = (np.arange(height) + 0.5 >= y0) & (np.arange(height) + 0.5 < y1)
    mask[np.ix_(rows, cols)] = True
    return mask


def _as_map(relevance: np.ndarray) -> np.ndarray:
    relevance = np.asarray(relevance, dtype=np.float64)
    if relevance.ndim == 3:  # C×H×W: sum the channels
        relevance = relevance.sum(axis=0)
    if relevance.ndim != 2:
        raise ValueError(f"relevance must be H×W or C×H×W, got shape {relevance.shape}")
    return relevance


def _as_mask(mask: np.ndarray | Box, shape: tuple[int, int], what: str) -> np.ndarray:
    if isinstance(mask, np.ndarray) and mask.ndim == 2:
        if mask.shape != shape:
            raise ValueError(f"{what} mask has shape {mask.shape}, relevance {shape}")
        return mask.astype(bool, copy=False)
    return box_mask_hw(tuple(mask), shape)  # type: ignore[arg-type]


def _safe_ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else math.nan


def mass_in_box(relevance: np.ndarray, box: np.ndarray | Box) -> float:
    """Positive relevance inside the box as a share of all positive relevance.

    Parameters
    ----------
    relevance : numpy.ndarray
        H×W map.
    box : numpy.ndarray or Box
        An ``(x0, y0, x1, y1)`` box or an H×W boolean mask.

    Returns
    -------
    float
        A share in [0, 1]; NaN when the map has no positive relevance or the box no
        pixel (a share of 0 would claim that relevance avoids an object nobody marked).
    """
    relevance = _as_map(relevance)
    inside = _as_mask(box, relevance.shape, "box")
    if not inside.any():
        return math.nan
    positive = np.clip(relevance, 0.0, None)
    return _safe_ratio(positive[inside].sum(), positive.sum())


def rank_accuracy(relevance: np.ndarray, box: np.ndarray | Box) -> float:
    """Fraction of the K most relevant pixels inside the box, K = the box's pixel count.

    Pixels tied with the K-th largest value share the remaining places in proportion
    (the expected fraction under random tie-breaking), so no pixel order is favoured.
    NaN for an empty box.
    """
    relevance = _as_map(relevance)
    inside = _as_mask(box, relevance.shape, "box").ravel()
    relevance = relevance.ravel()
    k = int(inside.sum())
    if k == 0:
        return math.nan
    threshold = np.partition(relevance, relevance.size - k)[relevance.size - k]
    above = relevance > threshold
    tied = relevance == threshold
    places_left = k - int(above.sum())
    hits = float((above & inside).sum()) + places_left * float((tied & inside).sum()) / tied.sum()
    return hits / k


def pointing_hit(relevance: np.ndarray, box: np.ndarray | Box) -> float:
    """1.0 if the most relevant pixel lies inside the box, else 0.0.

    With several maximal pixels, the fraction of them inside the box (the expected
    hit under random tie-breaking). NaN for an empty box.
    """
    relevance = _as_map(relevance)
    inside = _as_mask(box, relevance.shape, "box")
    if not inside.any():
        return math.nan
    top = relevance == relevance.max()
    return float((top & inside).sum()) / float(top.sum())


def auc_edges(relevance: np.ndarray, target: np.ndarray) -> float:
    """ROC-AUC of relevance as a score for the pixels of ``target``.

    Computed from ranks (the Mann–Whitney U statistic over n1·n0): the probability
    that a random target pixel has higher relevance than a random other pixel, ties
    counting one half.

    Parameters
    ----------
    relevance : numpy.ndarray
        H×W map.
    target : numpy.ndarray
        H×W boolean mask of the positive pixels (edges inside the box).

    Returns
    -------
    float
        AUC in [0, 1]; NaN when either class is empty.
    """
    from scipy.stats import rankdata

    relevance = _as_map(relevance)
    target = _as_mask(target, relevance.shape, "target").ravel()
    n1 = int(target.sum())
    n0 = target.size - n1
    if n1 == 0 or n0 == 0:
        return math.nan
    ranks = rankdata(relevance.ravel(), method="average")
    u = ranks[target].sum() - n1 * (n1 + 1) / 2.0
    return float(u / (n1 * n0))


def auc_edges_in_box(relevance: np.ndarray, edges: np.ndarray, box: np.ndarray | Box) -> float:
    """ROC-AUC of relevance separating the box's edge pixels from its other pixels.

    Unlike :func:`auc_edges`, pixels outside the box take no part, so relevance that
    merely concentrates on the object does not count as a preference for its edges.

    Parameters
    ----------
    relevance : numpy.ndarray
        H×W map.
    edges : numpy.ndarray
        H×W boolean edge mask.
    box : numpy.ndarray or Box
        An ``(x0, y0, x1, y1)`` box or an H×W boolean mask.

    Returns
    -------
    float
        AUC in [0, 1] (0.5: no preference; ties count one half); NaN when the box has
        no edge pixel or no non-edge pixel.
    """
    relevance = _as_map(relevance)
    inside = _as_mask(box, relevance.shape, "box")
    edges = _as_mask(np.asarray(edges), relevance.shape, "edge")
    # auc_edges over the box's pixels alone: the edge pixels against the rest of the box.
    return auc_edges(relevance[inside][None, :], edges[inside][None, :])


def edge_enrichment(region: np.ndarray, edges: np.ndarray, box: np.ndarray | Box) -> float:
    """How much a region prefers edges inside the box, over the box's edge density.

    ``(|region ∩ box ∩ edges| / |region ∩ box|) / (|box ∩ edges| / |box|)``.

    Parameters
    ----------
    region : numpy.ndarray
        H×W boolean mask (e.g. the positive region R > pos_mean).
    edges : numpy.ndarray
        H×W boolean edge mask.
    box : numpy.ndarray or Box
        An ``(x0, y0, x1, y1)`` box or an H×W boolean mask.

    Returns
    -------
    float
        1 for no preference, above 1 for a preference for edges, 0 for none on edges;
        NaN when the region has no pixel in the box or the box has no edge pixel.
    """
    region = np.asarray(region, dtype=bool)
    inside = _as_mask(box, region.shape, "box")
    edges = _as_mask(np.asarray(edges), region.shape, "edge")
    region_in_box = region & inside
    box_edges = edges & inside
    n_region, n_box, n_box_edges = (int(m.sum()) for m in (region_in_box, inside, box_edges))
    if n_region == 0 or n_box_edges == 0:
        return math.nan
    return (int((region_in_box & edges).sum()) / n_region) / (n_box_edges / n_box)


def region_statistics(relevance: np.ndarray, edges: np.ndarray, box: np.ndarray | Box,
                      ) -> RegionStatistics:
    """The thesis statistics and the localisation metrics of one relevance map.

    Parameters
    ----------
    relevance : numpy.ndarray
        H×W channel-summed relevance (or C×H×W, summed here).
    edges : numpy.ndarray
        H×W boolean edge mask of the image, same frame.
    box : numpy.ndarray or Box
        The object's ``(x0, y0, x1, y1)`` box in that frame, or an H×W mask.

    Returns
    -------
    RegionStatistics
        A :class:`RegionStatistics`; all NaN with ``finite=False`` when the map
        holds NaN or infinity. The shares on edges, the edge AUCs and the
        enrichments are NaN when the box holds no edge pixel. Without a box (NaN
        coordinates or no pixel) the edge measures take the whole image as their
        region and every statistic of :data:`BOX_STATISTICS` is NaN.
    """
    relevance = _as_map(relevance)
    edges = _as_mask(np.asarray(edges), relevance.shape, "edge")
    inside = _as_mask(box, relevance.shape, "box")
    if not np.isfinite(relevance).all():
        return RegionStatistics.undefined()
    # The edge measures' region: the object's box, or the whole image without one.
    region = inside if inside.any() else np.ones_like(inside)
    edges_in_box = edges & region
    positive = relevance > 0
    negative = relevance < 0
    pos_mean = float(relevance[positive].mean()) if positive.any() else math.nan
    neg_mean = float(relevance[negative].mean()) if negative.any() else math.nan
    # Comparisons with NaN are False: no positive relevance, no positive region.
    pos_region = relevance > pos_mean
    neg_region = relevance < neg_mean
    n_pos, n_neg = int(pos_region.sum()), int(neg_region.sum())
    n_pos_edges = int((pos_region & edges_in_box).sum())
    n_neg_edges = int((neg_region & edges_in_box).sum())
    has_edges = bool(edges_in_box.any())
    return RegionStatistics(
        r_mean=float(relevance.mean()),
        pos_mean=pos_mean,
        neg_mean=neg_mean,
        n_pos=float(n_pos),
        n_neg=float(n_neg),
        n_pos_on_edges=float(n_pos_edges),
        n_neg_on_edges=float(n_neg_edges),
        # Without an edge pixel in the box the share measures nothing: undefined, so
        # that paired tests report the image as missing instead of a tie at 0.
        share_pos_on_edges=_safe_ratio(n_pos_edges, n_pos) if has_edges else math.nan,
        share_neg_on_edges=_safe_ratio(n_neg_edges, n_neg) if has_edges else math.nan,
        mass_in_box=mass_in_box(relevance, inside),
        rank_accuracy=rank_accuracy(relevance, inside),
        pointing_hit=pointing_hit(relevance, inside),
        auc_edges=auc_edges(relevance, edges_in_box),
        auc_edges_in_box=auc_edges_in_box(relevance, edges, inside),
        edge_enrichment_pos=edge_enrichment(pos_region, edges, region),
        edge_enrichment_neg=edge_enrichment(neg_region, edges, region),
        finite=True,
    )
