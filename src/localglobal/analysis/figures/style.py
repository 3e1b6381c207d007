"""What every figure shares: colours, markers, labels, panel layout, and saving.

Colours come from the Okabe–Ito palette, which stays distinguishable under the
common colour-vision deficiencies; each model also gets its own marker, so the
figures read in black and white. A model's style follows from its place in the run's
model order (:func:`model_styles`), so it is the same in every figure of a run and
across runs that list their models the same way. Legends go outside the panels
(:func:`outside_legend`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from localglobal.analysis.geirhos_metrics import HUMANS
from localglobal.errors import FigureError
from localglobal.io.atomic import write_bytes_atomic

#: Okabe & Ito (2008), ordered so that the first colours contrast most on white.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
             "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
HUMAN_STYLE = ("#444444", "D")
"""Colour and marker of the humans' mean, the same in every figure."""
CONTROL_STYLE = {  # colour and hatch of the attribution controls
    "none": ("#0072B2", ""),
    "random-weights": ("#E69F00", "//"),
    "shuffled-edges": ("#CC79A7", ".."),
}
MEASURE_LABELS = {
    "true_prob": "true-class probability",
    "true_logit": "true-class logit",
    "subset_true_prob": "true-class probability (within the run's classes)",
    "pred_prob": "top-1 probability",
}
LRP_LABELS = {
    "n_pos": "positive region (pixels)",
    "n_neg": "negative region (pixels)",
    "share_pos_on_edges": "share of positive region on edges",
    "share_neg_on_edges": "share of negative region on edges",
    "mass_in_box": "relevance mass in box",
    "pointing_hit": "pointing-game hit rate",
    "rank_accuracy": "relevance rank accuracy",
    "auc_edges": "AUC of relevance for edges",
    "auc_edges_in_box": "AUC of relevance for edges, within the box",
    "edge_enrichment_pos": "edge enrichment of positive region",
    "edge_enrichment_neg": "edge enrichment of negative region",
}


#: How a figure, heading or table names a gradient method of ``attributions.parquet``'s
#: ``method`` column (an LRP composite, ``lrp-<composite>``, is named "LRP").
METHOD_NAMES = {
    "gradient-x-input": "gradient × input",
    "integrated-gradients": "integrated gradients",
    "smoothgrad": "SmoothGrad",
}


def method_label(methods: Iterable[object] | None) -> str:
    """The attribution method behind a run's relevance, as figures and headings name it.

    Parameters
    ----------
    methods : iterable or None
        The ``method`` column of ``attributions.parquet`` (one value per row).

    Returns
    -------
    str
        ``"LRP"`` when every model's relevance is LRP, the gradient method's name
        (``"gradient × input"``) when it is one, several joined by ``" / "``, and
        ``"relevance"`` when the methods are unknown.
    """
    names: list[str] = []
    for method in dict.fromkeys(str(m) for m in (methods if methods is not None else [])):
        name = "LRP" if method.startswith("lrp") else METHOD_NAMES.get(method, method)
        if name not in names:
            names.append(name)
    return " / ".join(names) or "relevance"


Styles = Mapping[str, tuple[str, str]]
"""Model name → (colour, marker)."""


def model_styles(models: Iterable[str], order: Sequence[str] = ()
                 ) -> dict[str, tuple[str, str]]:
    """A (colour, marker) per model: the models of ``order`` first, in that order.

    Styles are handed out by position, so a model keeps its style in every figure
    and every run whose order starts the same way: adding a model at the end of the
    configuration gives it the next style and leaves the others alone. Models not in
    ``order`` follow it in sorted-name order; the humans' mean always gets
    :data:`HUMAN_STYLE` and takes no model's place.

    Parameters
    ----------
    models : iterable of str
        Model names (repeats are fine).
    order : sequence of str
        The run's model order (its configuration's), first to last.

    Returns
    -------
    dict
        Model name → (colour, marker), in drawing order.
    """
    names = list(dict.fromkeys(str(m) for m in order))
    names += sorted({str(m) for m in models} - set(names))
    styles: dict[str, tuple[str, str]] = {}
    for name in names:
        if name == HUMANS:
            styles[name] = HUMAN_STYLE
            continue
        k = sum(1 for other in styles if other != HUMANS)
        styles[name] = (OKABE_ITO[k % len(OKABE_ITO)], MARKERS[k % len(MARKERS)])
    return styles


def styles_for(models: Iterable[str], styles: Styles | None = None
               ) -> dict[str, tuple[str, str]]:
    """``styles`` completed for ``models``: a model it lacks gets the next free style.

    Parameters
    ----------
    models : iterable of str
        The models a figure draws.
    styles : mapping, optional
        The run's styles (:func:`model_styles` of its model order); None: by name.

    Returns
    -------
    dict
        Model name → (colour, marker), the run's models first in their order.
    """
    given = dict(styles or {})
    completed = model_styles([*given, *(str(m) for m in models)], order=list(given))
    return {**completed, **given}


def in_style_order(models: Iterable[str], styles: Styles) -> list[str]:
    """The distinct ``models`` in the order of ``styles`` (the run's model order)."""
    present = {str(m) for m in models}
    return [name for name in styles if name in present]


def outside_legend(fig: Figure, axes: Sequence[Axes] | Axes, **kwargs: object) -> None:
    """One legend for the figure, below its panels, so that it never covers data.

    The entries are those of ``axes`` (each label once). Nothing is drawn without
    labelled artists.
    """
    handles, labels, seen = [], [], set()
    for ax in ([axes] if isinstance(axes, Axes) else axes):
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in seen:
                seen.add(label)
                handles.append(handle)
                labels.append(label)
    if not handles:
        return
    options: dict[str, object] = {"loc": "outside lower center", "fontsize": "small",
                                  "ncols": min(len(labels), 4), "frameon": False}
    options.update(kwargs)
    fig.legend(handles, labels, **options)


def level_axis(ax: Axes, levels: Iterable[float]) -> None:
    """Ticks at exactly the ``levels`` drawn on the x axis; one level stays readable.

    With a single level matplotlib would pick ticks around it (67, 68, … 73 for a
    patch side of 70) and hide the one value the data have.
    """
    ticks = sorted({float(v) for v in levels if np.isfinite(v)})
    if not ticks:
        return
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    if len(ticks) == 1:
        pad = max(abs(ticks[0]) * 0.5, 1.0)
        ax.set_xlim(ticks[0] - pad, ticks[0] + pad)


def new_figure(n_panels: int, ncols: int | None = None,
               panel: tuple[float, float] = (3.6, 2.9)) -> tuple[Figure, list[Axes]]:
    """A figure of ``n_panels`` axes on a grid of ``ncols`` columns; spare cells hidden."""
    ncols = max(1, min(ncols or n_panels, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def measure_label(measure: str) -> str:
    """The axis label of a predictions column."""
    return MEASURE_LABELS.get(measure, measure)


def curve(ax: Axes, x: np.ndarray, rows: pd.DataFrame, style: tuple[str, str],
          label: str) -> None:
    """A mean line with its shaded interval (``mean``, ``ci_low``, ``ci_high``)."""
    order = np.argsort(x)
    x = np.asarray(x, dtype=float)[order]
    mean = rows["mean"].to_numpy(dtype=float)[order]
    low = rows["ci_low"].to_numpy(dtype=float)[order]
    high = rows["ci_high"].to_numpy(dtype=float)[order]
    colour, marker = style
    ax.plot(x, mean, marker=marker, color=colour, label=label, linewidth=1.5, markersize=4)
    ax.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0)


def probability_axis(ax: Axes, measure: str) -> None:
    """Label the y axis with the measure; probabilities span [0, 1]."""
    ax.set_ylabel(measure_label(measure))
    if "prob" in measure:
        ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3, linewidth=0.5)


def require(table: pd.DataFrame | None, what: str) -> pd.DataFrame:
    """``table`` itself, or a :class:`~localglobal.errors.FigureError` ("no <what>") if empty."""
    if table is None or len(table) == 0:
        raise FigureError(f"no {what}")
    return table


def measure_of(summary: pd.DataFrame) -> str:
    """The measure a probe summary holds (its ``measure`` column)."""
    return str(summary["measure"].iloc[0]) if "measure" in summary and len(summary) else ""


def error_bars(error: np.ndarray) -> np.ndarray:
    """Error-bar lengths matplotlib accepts: undefined as 0, rounding noise below 0 as 0.

    An interval that touches its estimate (a shape bias of exactly 1.0, say) can come
    out a hair negative in floating point, and matplotlib refuses negative lengths.
    """
    return np.clip(np.nan_to_num(np.asarray(error, dtype=float)), 0.0, None)


def save_figure(fig: Figure, stem: str | Path, dpi: int = 120) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` and ``<stem>.pdf`` atomically.

    The figure's layout is fixed after the first rendering (its layout engine is
    switched off), so both files have the same layout.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    stem : path-like
        The path without suffix.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    list of Path
        The two paths written.
    """
    stem = Path(stem)
    written = []
    for fmt, metadata in (("png", {"Software": None}), ("pdf", {"CreationDate": None})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
        written.append(write_bytes_atomic(stem.with_suffix(f".{fmt}"), buffer.getvalue()))
        # The layout solved for the PNG is kept for the PDF: same look, half the work.
        fig.set_layout_engine("none")
    return written
