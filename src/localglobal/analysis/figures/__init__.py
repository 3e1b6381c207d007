"""Figures of a run: pure functions from tables to :class:`matplotlib.figure.Figure`.

Every figure function takes the tables it shows and returns a figure without touching
files or global state (figures are built with :class:`~matplotlib.figure.Figure`,
not ``pyplot``, so nothing accumulates between calls and no GUI backend is touched;
files are rendered by the Agg and PDF canvases). :func:`save_figure` writes
one figure as PNG (for the report) and PDF (for papers), atomically. A figure whose
input is missing or empty raises :class:`~localglobal.errors.FigureError` saying what is missing,
so the caller can skip it with that reason.

Every figure of models takes ``styles`` (model → colour and marker, from
:func:`model_styles` of the run's model order), so one mapping styles a whole run.

Modules: :mod:`~.style` (palette, model styles, legends, labels, layout, saving),
:mod:`~.probes` (probe curves), :mod:`~.interaction_figures` (patch interaction),
:mod:`~.lrp` (LRP statistics, densities, heat maps), :mod:`~.results` (Q-Q plots, shape
bias), :mod:`~.shape_bias_figures` (shape bias per category), :mod:`~.benchmark_figures`
(model-vs-human's curves and rankings).
"""

from localglobal.analysis.figures.benchmark_figures import (
    condition_curves_figure,
    own_images_figure,
    ranking_bars_figure,
)
from localglobal.analysis.figures.interaction_figures import (
    interaction_r_figure,
    interaction_scatter_figure,
)
from localglobal.analysis.figures.lrp import (
    density_figure,
    heatmap_gallery_figure,
    lrp_regions_figure,
)
from localglobal.analysis.figures.probes import curve_positions, level_curve_figure
from localglobal.analysis.figures.results import qq_figure, shape_bias_figure
from localglobal.analysis.figures.shape_bias_figures import shape_bias_category_figure
from localglobal.analysis.figures.style import (
    CONTROL_STYLE,
    HUMAN_STYLE,
    HUMANS,
    LRP_LABELS,
    MARKERS,
    MEASURE_LABELS,
    METHOD_NAMES,
    OKABE_ITO,
    Styles,
    in_style_order,
    method_label,
    model_styles,
    save_figure,
    styles_for,
)

__all__ = [
    "CONTROL_STYLE", "HUMANS", "HUMAN_STYLE", "LRP_LABELS", "MARKERS", "MEASURE_LABELS",
    "METHOD_NAMES", "OKABE_ITO", "Styles", "condition_curves_figure",
    "curve_positions",
    "density_figure", "heatmap_gallery_figure", "in_style_order", "interaction_r_figure",
    "interaction_scatter_figure", "level_curve_figure", "lrp_regions_figure", "method_label",
    "model_styles", "own_images_figure", "qq_figure", "ranking_bars_figure", "save_figure",
    "shape_bias_category_figure", "shape_bias_figure", "styles_for",
]
