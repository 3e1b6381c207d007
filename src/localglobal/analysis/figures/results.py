"""Figures of the results: the hypotheses' paired differences and the shape bias."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from localglobal.analysis.figures.style import (
    OKABE_ITO,
    FigureInputError,
    error_bars,
    model_styles,
    new_figure,
    require,
)


def qq_figure(pairs: pd.DataFrame, hypotheses: pd.DataFrame | None = None) -> Figure:
    """Normal Q-Q plots of each hypothesis's paired differences.

    Points on the line mean the differences look normal (the paired t-test's
    assumption); the Shapiro–Wilk p from ``hypotheses`` is in each title.

    Parameters
    ----------
    pairs : pandas.DataFrame
        ``hypothesis-pairs.parquet`` (``hypothesis``, ``diff``).
    hypotheses : pandas.DataFrame, optional
        ``hypotheses.parquet``, for the Shapiro–Wilk p.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = require(pairs, "paired differences")
    ids = [i for i in pd.unique(table["hypothesis"])
           if (table["hypothesis"] == i).sum() >= 3]
    if not ids:
        raise FigureInputError("no hypothesis with at least 3 pairs")
    shapiro = ({} if hypotheses is None else
               dict(zip(hypotheses["hypothesis"], hypotheses["shapiro_p"], strict=True)))
    fig, axes = new_figure(len(ids), ncols=3, panel=(3.0, 2.7))
    for ax, hypothesis_id in zip(axes, ids, strict=True):
        diff = table.loc[table["hypothesis"] == hypothesis_id, "diff"].to_numpy(dtype=float)
        (theoretical, ordered), (slope, intercept, _r) = stats.probplot(diff, dist="norm")
        ax.scatter(theoretical, ordered, s=8, color=OKABE_ITO[0], alpha=0.7, linewidths=0)
        ax.plot(theoretical, slope * theoretical + intercept, color=OKABE_ITO[1],
                linewidth=1.2)
        p = shapiro.get(hypothesis_id, np.nan)
        label = f"Shapiro p = {p:.2g}" if np.isfinite(p) else "Shapiro p undefined"
        ax.set_title(f"{hypothesis_id} (n={diff.size}, {label})", fontsize="small")
        ax.set_xlabel("normal quantiles")
        ax.set_ylabel("paired difference a − b")
        ax.grid(alpha=0.3, linewidth=0.5)
    return fig


def shape_bias_figure(table: pd.DataFrame | None) -> Figure:
    """Shape bias per model with its 95 % Wilson interval (0 = texture, 1 = shape).

    Parameters
    ----------
    table : pandas.DataFrame
        ``shape_bias.parquet``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = require(table, "shape-bias results")
    rows = rows.sort_values("model")
    fig, (ax,) = new_figure(1, panel=(5.0, 0.6 + 0.45 * len(rows)))
    styles = model_styles(rows["model"])
    y = np.arange(len(rows))
    bias = rows["shape_bias"].to_numpy(dtype=float)
    low = rows["ci_low"].to_numpy(dtype=float) if "ci_low" in rows else bias
    high = rows["ci_high"].to_numpy(dtype=float) if "ci_high" in rows else bias
    ax.barh(y, np.nan_to_num(bias), color=[styles[m][0] for m in rows["model"]],
            xerr=error_bars(np.vstack([bias - low, high - bias])), capsize=3, height=0.6)
    for k, (value, n) in enumerate(zip(bias, rows["n"], strict=True)):
        text = f"{value:.2f} (n={n})" if np.isfinite(value) else f"undefined (n={n})"
        ax.text(1.01, k, text, va="center", fontsize="small", transform=ax.get_yaxis_transform())
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yticks(y, rows["model"])
    ax.invert_yaxis()  # first model on top
    ax.set_xlim(0, 1)
    ax.set_xlabel("shape bias: shape decisions / (shape + texture decisions)")
    ax.set_title("Cue conflict: texture (0) versus shape (1)")
    return fig
