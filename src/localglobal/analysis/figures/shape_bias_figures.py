"""Shape bias per category, the way model-vs-human draws it (no LaTeX needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from localglobal.analysis.figures.style import (
    HUMAN_STYLE,
    HUMANS,
    Styles,
    in_style_order,
    new_figure,
    outside_legend,
    require,
    styles_for,
)


def shape_bias_category_figure(table: pd.DataFrame | None, *,
                               styles: Styles | None = None) -> Figure:
    """Fraction of shape decisions per shape category: one marker per model, the humans'
    mean with the range of the observers.

    Parameters
    ----------
    table : pandas.DataFrame
        ``shape_bias_by_category.parquet`` (``model, kind, category, shape_bias``).
    styles : mapping, optional
        Model → (colour, marker), the run's (:func:`~.style.model_styles` of its model
        order); None: by name.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = require(table, "shape bias per category")
    rows = rows[rows["dataset"] == "cue-conflict"] if "dataset" in rows else rows
    categories = sorted(rows["category"].unique())
    y = {c: k for k, c in enumerate(categories)}
    fig, (ax,) = new_figure(1, panel=(6.0, 0.9 + 0.3 * len(categories)))
    observers = rows[(rows["kind"] == "human") & (rows["model"] != HUMANS)]
    if len(observers):
        spread = observers.groupby("category")["shape_bias"].agg(["min", "max"])
        for category, (low, high) in spread.iterrows():
            ax.plot([low, high], [y[category]] * 2, color="#999999", linewidth=3, alpha=0.5)
    mean = rows[rows["model"] == HUMANS]
    if len(mean):
        ax.scatter(mean["shape_bias"], [y[c] for c in mean["category"]],
                   marker=HUMAN_STYLE[1], color=HUMAN_STYLE[0], s=36, zorder=3,
                   label="humans (mean; bar: range of observers)")
    models = rows[rows["kind"] == "model"]
    styles = styles_for(models["model"], styles)
    for model in in_style_order(models["model"], styles):
        mine = models[models["model"].astype(str) == model]
        colour, marker = styles[model]
        ax.scatter(mine["shape_bias"], [y[c] for c in mine["category"]], marker=marker,
                   color=colour, s=30, label=str(model), zorder=4)
    ax.set_yticks(np.arange(len(categories)), categories)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("fraction of shape decisions")
    secondary = ax.secondary_xaxis("top", functions=(lambda v: 1 - v, lambda v: 1 - v))
    secondary.set_xlabel("fraction of texture decisions")
    ax.grid(axis="x", alpha=0.3, linewidth=0.5)
    outside_legend(fig, ax, loc="outside right upper", ncols=1)
    return fig


__all__ = ["shape_bias_category_figure"]
