"""Figures of a run: pure functions from tables to :class:`matplotlib.figure.Figure`.

Every figure function takes the tables it shows and returns a figure without touching
files or global state (figures are built with :class:`~matplotlib.figure.Figure`,
not ``pyplot``, so nothing accumulates between calls and no GUI backend is touched;
files are rendered by the Agg and PDF canvases). :func:`save_figure` writes
one figure as PNG (for the report) and PDF (for papers), atomically. A figure whose
input is missing or empty raises :class:`FigureInputError` saying what is missing,
so the caller can skip it with that reason.

Colours come from the Okabe–Ito palette, which stays distinguishable under the
common colour-vision deficiencies; each model also gets its own marker, so the
figures read in black and white.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from localglobal.store import write_bytes_atomic

#: Okabe & Ito (2008), ordered so that the first colours contrast most on white.
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
             "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
CONTROL_STYLE = {  # colour and hatch of the attribution controls
    "none": ("#0072B2", ""),
    "random-weights": ("#E69F00", "//"),
    "shuffled-edges": ("#CC79A7", ".."),
}
MEASURE_LABELS = {
    "true_prob": "true-class probability",
    "true_logit": "true-class logit",
    "subset_true_prob": "true-class probability (dataset classes)",
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
}
REMOVED_DETAIL = {"original": "original", "smooth_diff": "removed detail",
                  "smooth_diff_inv": "removed detail,\ninverted"}


class FigureInputError(ValueError):
    """The figure cannot be drawn: its input is missing or empty (the message says which)."""


# --------------------------------------------------------------------------- helpers


def model_styles(models: Sequence[str]) -> dict[str, tuple[str, str]]:
    """A fixed (colour, marker) per model, in sorted-name order so runs agree."""
    names = sorted({str(m) for m in models})
    return {name: (OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)])
            for i, name in enumerate(names)}


def _figure(n_panels: int, ncols: int | None = None, panel: tuple[float, float] = (3.6, 2.9)
            ) -> tuple[Figure, list[Axes]]:
    ncols = max(1, min(ncols or n_panels, n_panels))
    nrows = int(np.ceil(n_panels / ncols))
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def _measure_label(measure: str) -> str:
    return MEASURE_LABELS.get(measure, measure)


def _curve(ax: Axes, x: np.ndarray, rows: pd.DataFrame, style: tuple[str, str],
           label: str) -> None:
    order = np.argsort(x)
    x = np.asarray(x, dtype=float)[order]
    mean = rows["mean"].to_numpy(dtype=float)[order]
    low = rows["ci_low"].to_numpy(dtype=float)[order]
    high = rows["ci_high"].to_numpy(dtype=float)[order]
    colour, marker = style
    ax.plot(x, mean, marker=marker, color=colour, label=label, linewidth=1.5, markersize=4)
    ax.fill_between(x, low, high, color=colour, alpha=0.18, linewidth=0)


def _probability_axis(ax: Axes, measure: str) -> None:
    ax.set_ylabel(_measure_label(measure))
    if "prob" in measure:
        ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3, linewidth=0.5)


def _require(table: pd.DataFrame | None, what: str) -> pd.DataFrame:
    if table is None or len(table) == 0:
        raise FigureInputError(f"no {what}")
    return table


def _measure_of(summary: pd.DataFrame) -> str:
    return str(summary["measure"].iloc[0]) if "measure" in summary and len(summary) else ""


def save_figure(fig: Figure, stem: str | Path, dpi: int = 120) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` and ``<stem>.pdf`` atomically.

    The figure's layout is fixed after the first rendering (its layout engine is
    switched off), so both files have the same layout.

    Returns
    -------
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


# --------------------------------------------------------------------------- probe curves


def scramble_figure(summary: pd.DataFrame, crop: int = 224) -> Figure:
    """Mean true-class probability against block side, one line per model.

    Parameters
    ----------
    summary
        :func:`localglobal.analysis.summaries.probe_summary` output.
    crop
        Side of the model-input frame: the original image is drawn as one block of
        this side, the largest, at the right end.
    """
    rows = _require(summary, "summary")
    scramble = _require(rows[rows["probe"] == "scramble"], "scramble predictions")
    original = rows[rows["probe"] == "original"]
    fig, (ax,) = _figure(1, panel=(5.0, 3.4))
    styles = model_styles(rows["model"])
    for model in sorted(scramble["model"].unique()):
        part = pd.concat([scramble[scramble["model"] == model],
                          original[original["model"] == model]])
        x = np.where(part["probe"] == "original", crop, part["level"]).astype(float)
        _curve(ax, x, part, styles[model], model)
    ticks = sorted({*scramble["level"].astype(int), crop})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [f"{t}\n(original)" if t == crop else str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("block side (pixels)")
    _probability_axis(ax, _measure_of(rows))
    ax.set_title("Scrambling: blocks of side b in random order")
    ax.legend(fontsize="small")
    return fig


def patch_figure(summary: pd.DataFrame) -> Figure:
    """Mean true-class probability against patch side; the original is side 0.

    Two panels: images with every patch of a side at once, and the mean over an
    image's single-patch images.
    """
    rows = _require(summary, "summary")
    patch = _require(rows[rows["probe"] == "patch"], "patch predictions")
    original = rows[rows["probe"] == "original"]
    fig, axes = _figure(2, panel=(4.2, 3.2))
    styles = model_styles(rows["model"])
    for ax, group, title in zip(axes, ("all", "single"),
                                ("all patches at once", "one patch (mean over patches)"),
                                strict=True):
        for model in sorted(patch["model"].unique()):
            part = pd.concat([patch[(patch["model"] == model) & (patch["group"] == group)],
                              original[original["model"] == model]])
            x = np.where(part["probe"] == "original", 0, part["level"]).astype(float)
            _curve(ax, x, part, styles[model], model)
        ax.set_xlabel("patch side (pixels; 0 = original)")
        _probability_axis(ax, _measure_of(rows))
        ax.set_title(f"Patches: {title}")
    axes[0].legend(fontsize="small")
    return fig


def smooth_figure(summary: pd.DataFrame) -> Figure:
    """Mean true-class probability against smoothing passes; the original is 0 passes."""
    rows = _require(summary, "summary")
    smooth = _require(rows[rows["probe"] == "smooth"], "smooth predictions")
    original = rows[rows["probe"] == "original"]
    fig, (ax,) = _figure(1, panel=(5.0, 3.4))
    styles = model_styles(rows["model"])
    for model in sorted(smooth["model"].unique()):
        part = pd.concat([smooth[smooth["model"] == model], original[original["model"] == model]])
        x = np.where(part["probe"] == "original", 0, part["level"]).astype(float)
        _curve(ax, x, part, styles[model], model)
    ax.set_xticks(sorted({0, *smooth["level"].astype(int)}))
    ax.set_xlabel("smoothing passes (0 = original)")
    _probability_axis(ax, _measure_of(rows))
    ax.set_title("Edge-preserving smoothing")
    ax.legend(fontsize="small")
    return fig


def removed_detail_figure(summary: pd.DataFrame) -> Figure:
    """Mean true-class probability on the removed detail |original − smoothed|, per model.

    Beside it the original image and the inverted removed detail (255 − detail), each
    with its 95 % interval.
    """
    rows = _require(summary, "summary")
    detail = _require(rows[rows["probe"].isin(["smooth_diff", "smooth_diff_inv"])],
                      "removed-detail predictions")
    rows = rows[rows["probe"].isin(list(REMOVED_DETAIL))]
    probes = [p for p in REMOVED_DETAIL if p in set(rows["probe"])]
    models = sorted(detail["model"].unique())
    styles = model_styles(summary["model"])
    fig, (ax,) = _figure(1, panel=(5.0, 3.4))
    width = 0.8 / max(len(models), 1)
    for k, model in enumerate(models):
        part = rows[rows["model"] == model].set_index("probe").reindex(probes)
        x = np.arange(len(probes)) + (k - (len(models) - 1) / 2) * width
        mean = part["mean"].to_numpy(dtype=float)
        error = np.vstack([mean - part["ci_low"].to_numpy(dtype=float),
                           part["ci_high"].to_numpy(dtype=float) - mean])
        colour, marker = styles[model]
        ax.errorbar(x, mean, yerr=_error_bars(error), fmt=marker, color=colour, label=model,
                    capsize=3, markersize=5)
    ax.set_xticks(np.arange(len(probes)), [REMOVED_DETAIL[p] for p in probes])
    _probability_axis(ax, _measure_of(summary))
    ax.set_title("Removed detail (what smoothing takes away)")
    ax.legend(fontsize="small")
    return fig


# --------------------------------------------------------------------------- interaction


def interaction_r_figure(interaction: pd.DataFrame) -> Figure:
    """Correlation of single-patch and all-patches drops, and their ratio, by patch side."""
    table = _require(interaction, "patch-interaction results")
    fig, axes = _figure(2, panel=(4.2, 3.2))
    styles = model_styles(table["model"])
    panels = (("r", "Pearson r of S and A"), ("ratio", "mean(A) / mean(S)"))
    for ax, (column, label) in zip(axes, panels, strict=True):
        for model in sorted(table["model"].unique()):
            part = table[table["model"] == model].sort_values("size")
            mean = part[column].to_numpy(dtype=float)
            error = np.vstack([mean - part[f"{column}_ci_low"].to_numpy(dtype=float),
                               part[f"{column}_ci_high"].to_numpy(dtype=float) - mean])
            colour, marker = styles[model]
            ax.errorbar(part["size"], mean, yerr=_error_bars(error), color=colour,
                        marker=marker, label=model, capsize=3, markersize=4, linewidth=1.2)
        ax.axhline(1.0 if column == "ratio" else 0.0, color="grey", linewidth=0.8,
                   linestyle="--")
        ax.set_xlabel("patch side (pixels)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, linewidth=0.5)
    axes[0].set_title("Do single-patch drops predict the all-patches drop?")
    axes[1].set_title("All-patches drop relative to the sum")
    axes[0].legend(fontsize="small")
    return fig


def interaction_scatter_figure(images: pd.DataFrame) -> Figure:
    """Summed single-patch drop S against all-patches drop A, one panel per patch side.

    Each model's images are points with its least-squares line; the dashed diagonal
    is A = S (drops that add up exactly).
    """
    table = _require(images, "per-image interaction values")
    table = _require(table[table["status"] == "ok"], "image with both S and A")
    sizes = sorted(table["size"].unique())
    fig, axes = _figure(len(sizes), ncols=4, panel=(3.0, 2.8))
    styles = model_styles(images["model"])
    for ax, size in zip(axes, sizes, strict=True):
        part = table[table["size"] == size]
        for model in sorted(part["model"].unique()):
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
    axes[0].legend(fontsize="small")
    return fig


# --------------------------------------------------------------------------- LRP


def lrp_regions_figure(lrp: pd.DataFrame,
                       metrics: Sequence[str] = ("n_pos", "n_neg", "share_pos_on_edges",
                                                 "share_neg_on_edges")) -> Figure:
    """LRP region sizes and edge overlaps per model, the controls beside each model.

    Parameters
    ----------
    lrp
        :func:`localglobal.analysis.summaries.lrp_summary` output.
    metrics
        Which statistics to show, one panel each (those absent are left out).
    """
    table = _require(lrp, "attribution statistics")
    metrics = [m for m in metrics if m in set(table["metric"])]
    if not metrics:
        raise FigureInputError("no LRP region statistics in the attributions")
    fig, axes = _figure(len(metrics), ncols=2, panel=(4.2, 3.0))
    models = sorted(table["model"].unique())
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
                   edgecolor="white", label=control, yerr=_error_bars(error), capsize=2)
        ax.set_xticks(np.arange(len(models)), models, rotation=20, ha="right")
        ax.set_ylabel(LRP_LABELS.get(metric, metric))
        ax.grid(axis="y", alpha=0.3, linewidth=0.5)
    axes[0].legend(title="control", fontsize="small", title_fontsize="small")
    fig.suptitle("LRP regions and edges (bars: mean, whiskers: 95 % interval)")
    return fig


def density_figure(densities: Mapping[str, np.ndarray]) -> Figure:
    """Where in the frame positive relevance, edges and boxes fall.

    Parameters
    ----------
    densities
        Panel title → H×W array of the share of images (0…1) whose region covers each
        pixel (e.g. ``"toy-shape: positive relevance"``, ``"edges"``, ``"boxes"``).
    """
    panels = {name: np.asarray(d, dtype=float) for name, d in densities.items()
              if d is not None and np.asarray(d).ndim == 2}
    if not panels:
        raise FigureInputError("no relevance, edge or box maps")
    fig, axes = _figure(len(panels), ncols=4, panel=(3.0, 2.7))
    for ax, (name, density) in zip(axes, panels.items(), strict=True):
        image = ax.imshow(density, cmap="viridis", vmin=0, interpolation="nearest")
        ax.set_title(name, fontsize="medium")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.8, label="share of images")
    return fig


def positive_region_density(maps: np.ndarray, rows: np.ndarray | None = None,
                            chunk: int = 64) -> np.ndarray:
    """Share of maps whose positive region covers each pixel.

    The positive region of a relevance map R is ``R > mean(R[R > 0])`` (the LRP
    section's definition). Maps are read in chunks, so a memory-mapped
    ``relevance/<model>.npy`` is never loaded whole.

    Parameters
    ----------
    maps
        N×H×W relevance maps (any float dtype; a memory map is fine).
    rows
        Indices of the maps to use (default: all).

    Returns
    -------
    H×W float array in [0, 1] (zeros when no map is used).
    """
    if maps.ndim != 3:
        raise ValueError(f"relevance maps must be N×H×W, got shape {maps.shape}")
    rows = np.arange(maps.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    total = np.zeros(maps.shape[1:], dtype=np.float64)
    for start in range(0, rows.size, chunk):
        block = np.asarray(maps[rows[start:start + chunk]], dtype=np.float32)
        positive = np.where(block > 0, block, 0.0)
        count = (block > 0).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            pos_mean = positive.sum(axis=(1, 2)) / count
        # An image with no positive relevance has an empty positive region.
        pos_mean = np.where(count > 0, pos_mean, np.inf)
        total += (block > pos_mean[:, None, None]).sum(axis=0)
    return total / max(rows.size, 1)


def _error_bars(error: np.ndarray) -> np.ndarray:
    """Error-bar lengths matplotlib accepts: undefined as 0, rounding noise below 0 as 0.

    An interval that touches its estimate (a shape bias of exactly 1.0, say) can come
    out a hair negative in floating point, and matplotlib refuses negative lengths.
    """
    return np.clip(np.nan_to_num(np.asarray(error, dtype=float)), 0.0, None)


# --------------------------------------------------------------------------- statistics


def qq_figure(pairs: pd.DataFrame, hypotheses: pd.DataFrame | None = None) -> Figure:
    """Normal Q-Q plots of each hypothesis's paired differences.

    Points on the line mean the differences look normal (the paired t-test's
    assumption); the Shapiro–Wilk p from ``hypotheses`` is in each title.
    """
    table = _require(pairs, "paired differences")
    ids = [i for i in pd.unique(table["hypothesis"])
           if (table["hypothesis"] == i).sum() >= 3]
    if not ids:
        raise FigureInputError("no hypothesis with at least 3 pairs")
    shapiro = ({} if hypotheses is None else
               dict(zip(hypotheses["hypothesis"], hypotheses["shapiro_p"], strict=True)))
    fig, axes = _figure(len(ids), ncols=3, panel=(3.0, 2.7))
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


def shape_bias_figure(table: pd.DataFrame) -> Figure:
    """Shape bias per model with its 95 % Wilson interval (0 = texture, 1 = shape)."""
    rows = _require(table, "shape-bias results")
    rows = rows.sort_values("model")
    fig, (ax,) = _figure(1, panel=(5.0, 0.6 + 0.45 * len(rows)))
    styles = model_styles(rows["model"])
    y = np.arange(len(rows))
    bias = rows["shape_bias"].to_numpy(dtype=float)
    low = rows["ci_low"].to_numpy(dtype=float) if "ci_low" in rows else bias
    high = rows["ci_high"].to_numpy(dtype=float) if "ci_high" in rows else bias
    ax.barh(y, np.nan_to_num(bias), color=[styles[m][0] for m in rows["model"]],
            xerr=_error_bars(np.vstack([bias - low, high - bias])), capsize=3, height=0.6)
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


# --------------------------------------------------------------------------- images


def heatmap_gallery_figure(images: Mapping[tuple[str, str], np.ndarray],
                           image_ids: Sequence[str], models: Sequence[str]) -> Figure:
    """A grid of heat-map overlays: one row per image, one column per model.

    Parameters
    ----------
    images
        (image_id, model) → H×W×3 uint8 RGB overlay; missing cells stay blank.
    """
    if not images or not image_ids or not models:
        raise FigureInputError("no heat maps")
    fig = Figure(figsize=(2.0 * len(models) + 0.6, 2.0 * len(image_ids)), layout="constrained")
    axes = fig.subplots(len(image_ids), len(models), squeeze=False)
    for r, image_id in enumerate(image_ids):
        for c, model in enumerate(models):
            ax = axes[r, c]
            picture = images.get((image_id, model))
            if picture is not None:
                ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(model, fontsize="medium")
            if c == 0:
                ax.set_ylabel(image_id, fontsize="x-small")
    return fig
