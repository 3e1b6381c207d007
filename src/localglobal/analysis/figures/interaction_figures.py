"""Patch-interaction figures: do the single-patch drops add up to the all-patches drop?"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from localglobal.analysis.figures.style import (
    Styles,
    error_bars,
    in_style_order,
    level_axis,
    new_figure,
    outside_legend,
    require,
    styles_for,
)


def interaction_r_figure(interaction: pd.DataFrame, *, styles: Styles | None = None) -> Figure:
    """Correlation of single-patch and all-patches drops, and their ratio, by patch side.

    The ratio is the median over images of A / S (``median_ratio``), a stable statistic:
    the ratio of the means, mean(A) / mean(S), swings without bound when the mean
    single-patch drop is near zero. Tables without it fall back to the ratio of means.

    Parameters
    ----------
    interaction : pandas.DataFrame
        ``interaction.parquet`` (one row per model and patch side, with intervals).
    styles : mapping, optional
        Model → (colour, marker), the run's (:func:`~.style.model_styles` of its model
        order); None: by name.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = require(interaction, "patch-interaction results")
    fig, axes = new_figure(2, panel=(4.2, 3.2))
    styles = styles_for(table["model"], styles)
    ratio = "median_ratio" if "median_ratio" in table else "ratio"
    panels = (("r", "Pearson r of S and A"),
              (ratio, "median over images of A / S" if ratio == "median_ratio"
               else "mean(A) / mean(S)"))
    models = in_style_order(table["model"], styles)
    sizes = np.unique(table["size"].to_numpy(dtype=float))
    # Models are set a little apart on x, so that equal values do not hide each other.
    step = 0.03 * (float(np.diff(sizes).min()) if sizes.size > 1 else max(sizes[0], 1.0))
    for ax, (column, label) in zip(axes, panels, strict=True):
        for k, model in enumerate(models):
            part = table[table["model"] == model].sort_values("size")
            mean = part[column].to_numpy(dtype=float)
            error = np.vstack([mean - part[f"{column}_ci_low"].to_numpy(dtype=float),
                               part[f"{column}_ci_high"].to_numpy(dtype=float) - mean])
            colour, marker = styles[model]
            x = part["size"].to_numpy(dtype=float) + step * (k - (len(models) - 1) / 2)
            ax.errorbar(x, mean, yerr=error_bars(error), color=colour,
                        marker=marker, label=model, capsize=3, markersize=4, linewidth=1.2)
        ax.axhline(0.0 if column == "r" else 1.0, color="grey", linewidth=0.8,
                   linestyle="--")
        level_axis(ax, table["size"].astype(float))
        ax.set_xlabel("patch side (pixels)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, linewidth=0.5)
    axes[0].set_title("Do single-patch drops predict the all-patches drop?")
    axes[1].set_title("All-patches drop relative to the sum")
    outside_legend(fig, axes)
    return fig


def interaction_scatter_figure(images: pd.DataFrame, *,
                               styles: Styles | None = None) -> Figure:
    """Summed single-patch drop S against all-patches drop A, one panel per patch side.

    Each model's images are points with its least-squares line; the dashed diagonal
    is A = S (drops that add up exactly).

    Parameters
    ----------
    images : pandas.DataFrame
        ``interaction-images.parquet`` (S and A per model, patch side and image).
    styles : mapping, optional
        Model → (colour, marker), the run's (:func:`~.style.model_styles` of its model
        order); None: by name.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = require(images, "per-image interaction values")
    table = require(table[table["status"] == "ok"], "image with both S and A")
    sizes = sorted(table["size"].unique())
    fig, axes = new_figure(len(sizes), ncols=4, panel=(3.0, 2.8))
    styles = styles_for(images["model"], styles)
    for ax, size in zip(axes, sizes, strict=True):
        part = table[table["size"] == size]
        for model in in_style_order(part["model"], styles):
            rows = part[part["model"] == model]
            s = rows["single_drop_sum"].to_numpy(dtype=float)
            a = rows["all_drop"].to_numpy(dtype=float)
            colour, marker = styles[model]
            ax.scatter(s, a, s=10, color=colour, marker=marker, alpha=0.6, label=model,
                       linewidths=0)
            if s.size >= 2 and np.ptp(s) > 0:
                slope, intercept = np.polyfit(s, a, 1)
                grid = np.linspace(s.min(), s.max(), 20)
                ax.plot(grid, slope * grid + intercept, color=colour, linewidth=1.3)
        low = float(np.nanmin(part[["single_drop_sum", "all_drop"]].to_numpy()))
        high = float(np.nanmax(part[["single_drop_sum", "all_drop"]].to_numpy()))
        ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=0.8)
        ax.set_title(f"patch side {size}", fontsize="medium")
        ax.set_xlabel("S: sum of single-patch drops")
        ax.set_ylabel("A: all-patches drop")
        ax.grid(alpha=0.3, linewidth=0.5)
    outside_legend(fig, axes)
    return fig
