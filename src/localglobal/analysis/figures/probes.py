"""Probe curves: the true-class probability against each probe's level, per model.

Every function takes :func:`localglobal.analysis.summaries.probe_summary` output.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from localglobal.analysis.figures.style import (
    Styles,
    curve,
    error_bars,
    in_style_order,
    level_axis,
    measure_of,
    new_figure,
    outside_legend,
    probability_axis,
    require,
    styles_for,
)

REMOVED_DETAIL = {"original": "original", "smooth_diff": "removed detail",
                  "smooth_diff_inv": "removed detail,\ninverted"}


def scramble_figure(summary: pd.DataFrame, crop: int = 224, *,
                    styles: Styles | None = None) -> Figure:
    """Mean true-class probability against block side, one line per model.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`localglobal.analysis.summaries.probe_summary` output.
    crop : int
        Side of the model-input frame: the original image is drawn as one block of
        this side, the largest, at the right end.
    styles : mapping, optional
        Model → (colour, marker), the run's (:func:`~.style.model_styles` of its model
        order); None: by name.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = require(summary, "summary")
    scramble = require(rows[rows["probe"] == "scramble"], "scramble predictions")
    original = rows[rows["probe"] == "original"]
    fig, (ax,) = new_figure(1, panel=(5.0, 3.4))
    styles = styles_for(rows["model"], styles)
    for model in in_style_order(scramble["model"], styles):
        part = pd.concat([scramble[scramble["model"] == model],
                          original[original["model"] == model]])
        x = np.where(part["probe"] == "original", crop, part["level"]).astype(float)
        curve(ax, x, part, styles[model], model)
    ticks = sorted({*scramble["level"].astype(int), crop})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [f"{t}\n(original)" if t == crop else str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("block side (pixels)")
    probability_axis(ax, measure_of(rows))
    ax.set_title("Scrambling: blocks of side b in random order")
    outside_legend(fig, ax)
    return fig


def patch_figure(summary: pd.DataFrame, *, styles: Styles | None = None) -> Figure:
    """Mean true-class probability against patch side; the original is side 0.

    Two panels: images with every patch of a side at once, and the mean over an
    image's single-patch images.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`localglobal.analysis.summaries.probe_summary` output.
    styles : mapping, optional
        Model → (colour, marker), the run's (:func:`~.style.model_styles` of its model
        order); None: by name.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = require(summary, "summary")
    patch = require(rows[rows["probe"] == "patch"], "patch predictions")
    original = rows[rows["probe"] == "original"]
    fig, axes = new_figure(2, panel=(4.2, 3.2))
    styles = styles_for(rows["model"], styles)
    for ax, group, title in zip(axes, ("all", "single"),
                                ("all patches at once", "one patch (mean over patches)"),
                                strict=True):
        for model in in_style_order(patch["model"], styles):
            part = pd.concat([patch[(patch["model"] == model) & (patch["group"] == group)],
                              original[original["model"] == model]])
            x = np.where(part["probe"] == "original", 0, part["level"]).astype(float)
            curve(ax, x, part, styles[model], model)
        level_axis(ax, [0, *patch["level"].astype(float)])
        ax.set_xlabel("patch side (pixels; 0 = original)")
        probability_axis(ax, measure_of(rows))
        ax.set_title(f"Patches: {title}")
    outside_legend(fig, axes)
    return fig


def smooth_figure(summary: pd.DataFrame, *, styles: Styles | None = None) -> Figure:
    """Mean true-class probability against smoothing passes; the original is 0 passes.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`localglobal.analysis.summaries.probe_summary` output.
    styles : mapping, optional
        Model → (colour, marker), the run's (:func:`~.style.model_styles` of its model
        order); None: by name.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = require(summary, "summary")
    smooth = require(rows[rows["probe"] == "smooth"], "smooth predictions")
    original = rows[rows["probe"] == "original"]
    fig, (ax,) = new_figure(1, panel=(5.0, 3.4))
    styles = styles_for(rows["model"], styles)
    for model in in_style_order(smooth["model"], styles):
        part = pd.concat([smooth[smooth["model"] == model], original[original["model"] == model]])
        x = np.where(part["probe"] == "original", 0, part["level"]).astype(float)
        curve(ax, x, part, styles[model], model)
    level_axis(ax, [0, *smooth["level"].astype(float)])
    ax.set_xlabel("smoothing passes (0 = original)")
    probability_axis(ax, measure_of(rows))
    ax.set_title("Edge-preserving smoothing")
    outside_legend(fig, ax)
    return fig


def removed_detail_figure(summary: pd.DataFrame, *, styles: Styles | None = None) -> Figure:
    """Mean true-class probability on the removed detail |original − smoothed|, per model.

    Beside it the original image and the inverted removed detail (255 − detail), each
    with its 95 % interval.

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`localglobal.analysis.summaries.probe_summary` output.
    styles : mapping, optional
        Model → (colour, marker), the run's (:func:`~.style.model_styles` of its model
        order); None: by name.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = require(summary, "summary")
    detail = require(rows[rows["probe"].isin(["smooth_diff", "smooth_diff_inv"])],
                     "removed-detail predictions")
    rows = rows[rows["probe"].isin(list(REMOVED_DETAIL))]
    probes = [p for p in REMOVED_DETAIL if p in set(rows["probe"])]
    styles = styles_for(summary["model"], styles)
    models = in_style_order(detail["model"], styles)
    fig, (ax,) = new_figure(1, panel=(5.0, 3.4))
    width = 0.8 / max(len(models), 1)
    for k, model in enumerate(models):
        part = rows[rows["model"] == model].set_index("probe").reindex(probes)
        x = np.arange(len(probes)) + (k - (len(models) - 1) / 2) * width
        mean = part["mean"].to_numpy(dtype=float)
        error = np.vstack([mean - part["ci_low"].to_numpy(dtype=float),
                           part["ci_high"].to_numpy(dtype=float) - mean])
        colour, marker = styles[model]
        ax.errorbar(x, mean, yerr=error_bars(error), fmt=marker, color=colour, label=model,
                    capsize=3, markersize=5)
    ax.set_xticks(np.arange(len(probes)), [REMOVED_DETAIL[p] for p in probes])
    probability_axis(ax, measure_of(summary))
    ax.set_title("Removed detail (what smoothing takes away)")
    outside_legend(fig, ax)
    return fig
