"""Figures of the results: the hypotheses' paired differences and the shape bias."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from localglobal.analysis.figures.style import (
    HUMANS,
    OKABE_ITO,
    Styles,
    error_bars,
    in_style_order,
    new_figure,
    require,
    styles_for,
)
from localglobal.analysis.statistics import cluster_means
from localglobal.errors import FigureError


def tested_differences(pairs: pd.DataFrame) -> dict[str, np.ndarray]:
    """The differences each hypothesis's test runs on: every image's mean difference.

    A prediction or attribution hypothesis is tested on each image's mean difference
    a − b over its levels, variants and controls (n = images). Hypotheses whose pairs
    name no image are left out: the patch interaction's pairs are per patch side, and
    its test resamples images rather than testing differences.

    Parameters
    ----------
    pairs : pandas.DataFrame
        ``hypothesis-pairs.parquet`` (``hypothesis``, ``diff``, ``image_id``).

    Returns
    -------
    dict
        Hypothesis id → its per-image mean differences (sorted by image id), in the
        order of first appearance; non-finite differences left out.
    """
    if "image_id" not in pairs:
        return {}
    tested: dict[str, np.ndarray] = {}
    for hypothesis_id in pd.unique(pairs["hypothesis"]):
        rows = pairs[pairs["hypothesis"] == hypothesis_id]
        rows = rows[np.isfinite(rows["diff"].to_numpy(dtype=float))]
        if rows.empty or rows["image_id"].isna().any():
            continue
        _, means = cluster_means(rows["diff"].to_numpy(dtype=float),
                                 rows["image_id"].astype(str).to_numpy())
        tested[str(hypothesis_id)] = means
    return tested


def qq_figure(pairs: pd.DataFrame, hypotheses: pd.DataFrame | None = None) -> Figure:
    """Normal Q-Q plots of the differences each hypothesis's test runs on.

    These are the per-image mean differences a − b (:func:`tested_differences`), on
    which the Shapiro–Wilk p in each title was computed: points on the line mean they
    look normal (the paired t-test's assumption).

    Parameters
    ----------
    pairs : pandas.DataFrame
        ``hypothesis-pairs.parquet`` (``hypothesis``, ``diff``, ``image_id``).
    hypotheses : pandas.DataFrame, optional
        ``hypotheses.parquet``, for the Shapiro–Wilk p.

    Returns
    -------
    matplotlib.figure.Figure
    """
    table = require(pairs, "paired differences")
    tested = {i: d for i, d in tested_differences(table).items() if d.size >= 3}
    if not tested:
        raise FigureError("no hypothesis with at least 3 images")
    shapiro = ({} if hypotheses is None else
               dict(zip(hypotheses["hypothesis"], hypotheses["shapiro_p"], strict=True)))
    fig, axes = new_figure(len(tested), ncols=3, panel=(3.0, 2.7))
    for ax, (hypothesis_id, diff) in zip(axes, tested.items(), strict=True):
        (theoretical, ordered), (slope, intercept, _r) = stats.probplot(diff, dist="norm")
        ax.scatter(theoretical, ordered, s=10, color=OKABE_ITO[0], alpha=0.8, linewidths=0)
        ax.plot(theoretical, slope * theoretical + intercept, color=OKABE_ITO[1],
                linewidth=1.2)
        p = shapiro.get(hypothesis_id, np.nan)
        label = f"Shapiro p = {p:.2g}" if np.isfinite(p) else "Shapiro p undefined"
        ax.set_title(f"{hypothesis_id} (n={diff.size}, {label})", fontsize="small")
        ax.set_xlabel("normal quantiles")
        ax.set_ylabel("mean difference a − b")
        ax.grid(alpha=0.3, linewidth=0.5)
    return fig


def shape_bias_figure(table: pd.DataFrame | None, *, styles: Styles | None = None) -> Figure:
    """Shape bias per model with its 95 % interval (0 = texture, 1 = shape).

    Each bar's label gives the bias and the number of decisions it is computed from:
    the shape and texture decisions (``n_shape + n_texture``), not every stimulus
    judged; for the humans' mean also the number of observers. The humans' mean, if
    present, is the last bar.

    Parameters
    ----------
    table : pandas.DataFrame
        ``shape_bias.parquet`` (``model, n_shape, n_texture, shape_bias, ci_low,
        ci_high``; ``n_observers`` for the humans' row).
    styles : mapping, optional
        Model → (colour, marker), the run's (:func:`~.style.model_styles` of its model
        order); None: by name.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = require(table, "shape-bias results")
    styles = styles_for(rows["model"], styles)
    order = in_style_order(rows["model"], styles)
    order = [m for m in order if m != HUMANS] + [m for m in order if m == HUMANS]
    rows = rows.assign(model=rows["model"].astype(str)).set_index("model").loc[order]
    fig, (ax,) = new_figure(1, panel=(5.0, 0.6 + 0.45 * len(rows)))
    y = np.arange(len(rows))
    bias = rows["shape_bias"].to_numpy(dtype=float)
    low = rows["ci_low"].to_numpy(dtype=float) if "ci_low" in rows else bias
    high = rows["ci_high"].to_numpy(dtype=float) if "ci_high" in rows else bias
    ax.barh(y, np.nan_to_num(bias), color=[styles[m][0] for m in rows.index],
            xerr=error_bars(np.vstack([bias - low, high - bias])), capsize=3, height=0.6)
    for k, (model, row) in enumerate(rows.iterrows()):
        ax.text(1.01, k, bias_label(row, is_humans=model == HUMANS), va="center",
                fontsize="small", transform=ax.get_yaxis_transform())
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_yticks(y, list(rows.index))
    ax.invert_yaxis()  # first model on top
    ax.set_xlim(0, 1)
    ax.set_xlabel("shape bias: shape decisions / (shape + texture decisions)")
    ax.set_title("Cue conflict: texture (0) versus shape (1)")
    return fig


def decisions(row: pd.Series) -> int | None:
    """The shape and texture decisions a shape bias is computed from (None if unknown)."""
    if "n_shape" not in row or "n_texture" not in row:
        return None
    total = np.nansum([float(row["n_shape"]), float(row["n_texture"])])
    return int(total)


def bias_label(row: pd.Series, is_humans: bool = False) -> str:
    """A shape-bias bar's label: the value and the n of decisions behind it."""
    value = float(row["shape_bias"])
    text = f"{value:.2f}" if np.isfinite(value) else "undefined"
    n = decisions(row)
    details = [] if n is None else [f"n={n}"]
    observers = row.get("n_observers")
    if is_humans and observers is not None and np.isfinite(float(observers)):
        details.append(f"{int(observers)} observers")
    return f"{text} ({', '.join(details)})" if details else text
