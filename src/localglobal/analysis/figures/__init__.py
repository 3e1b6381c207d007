"""Figures of a run: pure functions from tables to :class:`matplotlib.figure.Figure`.

Every figure function takes the tables it shows and returns a figure without touching
files or global state (figures are built with :class:`~matplotlib.figure.Figure`,
not ``pyplot``, so nothing accumulates between calls and no GUI backend is touched;
files are rendered by the Agg and PDF canvases). :func:`save_figure` writes
one figure as PNG (for the report) and PDF (for papers), atomically. A figure whose
input is missing or empty raises :class:`FigureInputError` saying what is missing,
so the caller can skip it with that reason.

Modules: :mod:`~.style` (palette, labels, layout, saving), :mod:`~.probes` (probe
curves), :mod:`~.interaction` (patch interaction), :mod:`~.lrp` (LRP statistics,
densities, heat maps), :mod:`~.results` (Q-Q plots, shape bias).
"""

from localglobal.analysis.figures.geirhos import shape_bias_category_figure
from localglobal.analysis.figures.interaction import (
    interaction_r_figure,
    interaction_scatter_figure,
)
from localglobal.analysis.figures.lrp import (
    density_figure,
    heatmap_gallery_figure,
    lrp_regions_figure,
)
from localglobal.analysis.figures.probes import (
    REMOVED_DETAIL,
    patch_figure,
    removed_detail_figure,
    scramble_figure,
    smooth_figure,
)
from localglobal.analysis.figures.results import qq_figure, shape_bias_figure
from localglobal.analysis.figures.style import (
    CONTROL_STYLE,
    LRP_LABELS,
    MARKERS,
    MEASURE_LABELS,
    OKABE_ITO,
    FigureInputError,
    model_styles,
    save_figure,
)

__all__ = [
    "CONTROL_STYLE", "LRP_LABELS", "MARKERS", "MEASURE_LABELS", "OKABE_ITO", "REMOVED_DETAIL",
    "FigureInputError", "density_figure", "heatmap_gallery_figure", "interaction_r_figure",
    "interaction_scatter_figure", "lrp_regions_figure", "model_styles", "patch_figure",
    "qq_figure", "removed_detail_figure", "save_figure", "scramble_figure",
    "shape_bias_category_figure", "shape_bias_figure", "smooth_figure",
]
