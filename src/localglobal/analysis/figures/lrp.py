"""Relevance figures (LRP or a gradient method): region statistics with their controls,
frame densities, heat-map galleries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from localglobal.analysis.figures.style import (
    CONTROL_STYLE,
    LRP_LABELS,
    Styles,
    error_bars,
    in_style_order,
    new_figure,
    outside_legend,
    require,
    styles_for,
)
from localglobal.attribution.heatmap import CMAP, SCALE_LABEL
from localglobal.errors import FigureError


def lrp_regions_figure(lrp: pd.DataFrame,
                       metrics: Sequence[str] = ("n_pos", "n_neg", "share_pos_on_edges",
                                                 "share_neg_on_edges"), *,
                       styles: Styles | None = None, method: str = "LRP") -> Figure:
    """Relevance region sizes and edge overlaps per model, the controls beside each model.

    Parameters
    ----------
    lrp : pandas.DataFrame
        :func:`localglobal.analysis.summaries.lrp_summary` output.
    metrics : sequence of str
        Which statistics to show, one panel each (those absent are left out).
    styles : mapping, optional
        The run's model styles: the models are shown in their order; None: by name.
    method : str
        The attribution method the title names (:func:`~.style.method_label`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = require(lrp, "attribution statistics")
    metrics = [m for m in metrics if m in set(table["metric"])]
    if not metrics:
        raise FigureError("no relevance region statistics in the attributions")
    fig, axes = new_figure(len(metrics), ncols=2, panel=(4.2, 3.0))
    models = in_style_order(table["model"], styles_for(table["model"], styles))
    controls = [c for c in CONTROL_STYLE if c in set(table["control"])]
    controls += sorted(set(table["control"]) - set(controls))
    width = 0.8 / max(len(controls), 1)
    for ax, metric in zip(axes, metrics, strict=True):
        part = table[table["metric"] == metric]
        for k, control in enumerate(controls):
            rows = part[part["control"] == control].set_index("model").reindex(models)
            x = np.arange(len(models)) + (k - (len(controls) - 1) / 2) * width
            mean = rows["mean"].to_numpy(dtype=float)
            error = np.vstack([mean - rows["ci_low"].to_numpy(dtype=float),
                               rows["ci_high"].to_numpy(dtype=float) - mean])
            colour, hatch = CONTROL_STYLE.get(control, ("#999999", "xx"))
            ax.bar(x, np.nan_to_num(mean), width=width * 0.95, color=colour, hatch=hatch,
                   edgecolor="white", label=control, yerr=error_bars(error), capsize=2)
        ax.set_xticks(np.arange(len(models)), models, rotation=20, ha="right")
        ax.set_ylabel(LRP_LABELS.get(metric, metric))
        ax.grid(axis="y", alpha=0.3, linewidth=0.5)
    outside_legend(fig, axes, title="control", title_fontsize="small")
    fig.suptitle(f"{method} regions and edges (bars: mean, whiskers: 95 % interval)")
    return fig


def density_figure(densities: Mapping[str, np.ndarray]) -> Figure:
    """Where in the frame positive relevance, edges and boxes fall.

    Parameters
    ----------
    densities : mapping
        Panel title → H×W array of the share of images (0…1) whose region covers each
        pixel (e.g. ``"toy-shape: positive relevance"``, ``"edges"``, ``"boxes"``); see
        :mod:`localglobal.analysis.densities`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels = {name: np.asarray(d, dtype=float) for name, d in densities.items()
              if d is not None and np.asarray(d).ndim == 2}
    if not panels:
        raise FigureError("no relevance, edge or box maps")
    fig, axes = new_figure(len(panels), ncols=4, panel=(3.0, 2.7))
    for ax, (name, density) in zip(axes, panels.items(), strict=True):
        image = ax.imshow(density, cmap="viridis", vmin=0, interpolation="nearest")
        ax.set_title(name, fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.8, label="share of images")
    return fig


def heatmap_gallery_figure(images: Mapping[tuple[str, str], np.ndarray],
                           image_ids: Sequence[str], models: Sequence[str], *,
                           cmap: str = CMAP, scale_label: str = SCALE_LABEL) -> Figure:
    """A grid of heat-map overlays, one row per image and one column per model, with the
    colour scale of the overlays.

    Parameters
    ----------
    images : mapping
        (image_id, model) → H×W×3 uint8 RGB overlay; missing cells stay blank.
    image_ids : sequence of str
        The rows.
    models : sequence of str
        The columns, in this order.
    cmap : str
        The diverging colour map the overlays were drawn in.
    scale_label : str
        What the overlays' colours measure: the colour bar runs from −1 (against the
        class) to 1 (for it).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not images or not image_ids or not models:
        raise FigureError("no heat maps")
    # A fixed layout in inches: a row label beside every row, a thin colour bar at the
    # right; the solver of a constrained layout clips the row labels of a grid of
    # square images with a colour bar, so the places are computed here.
    cell, gap, left, top, bottom = 2.0, 0.08, 0.32, 0.3, 0.08
    bar_gap, bar_width, bar_labels = 0.15, 0.12, 0.62
    width = left + len(models) * cell + (len(models) - 1) * gap + bar_gap + bar_width + bar_labels
    height = top + len(image_ids) * cell + (len(image_ids) - 1) * gap + bottom
    fig = Figure(figsize=(width, height))
    for r, image_id in enumerate(image_ids):
        for c, model in enumerate(models):
            x0 = left + c * (cell + gap)
            y0 = height - top - (r + 1) * cell - r * gap
            ax = fig.add_axes((x0 / width, y0 / height, cell / width, cell / height))
            picture = images.get((image_id, model))
            if picture is not None:
                ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            # No frame: a box clipped to the image's border is outlined along it, and
            # a frame line would cover that side of the outline.
            for spine in ax.spines.values():
                spine.set_visible(False)
            if r == 0:
                ax.set_title(model, fontsize="medium")
            if c == 0:
                ax.set_ylabel(image_id, fontsize="medium", labelpad=3)
    span = min(len(image_ids) * cell, 3.0)
    bar_x = left + len(models) * cell + (len(models) - 1) * gap + bar_gap
    bar_y = height - top - (len(image_ids) * cell + (len(image_ids) - 1) * gap + span) / 2
    bar_ax = fig.add_axes((bar_x / width, bar_y / height, bar_width / width, span / height))
    bar = fig.colorbar(ScalarMappable(Normalize(-1.0, 1.0), cmap=cmap), cax=bar_ax,
                       ticks=[-1.0, 0.0, 1.0])
    bar.set_label(scale_label, fontsize="x-small")
    bar.ax.set_yticklabels(["−1", "0", "1"], fontsize="x-small")
    return fig
