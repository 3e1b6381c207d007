"""model-vs-human's benchmark figures: curves against condition, and its two rankings.

The curves come from ``benchmark_conditions.parquet`` (one panel per parametric
dataset: the models' lines, the humans' mean as black diamonds and the range of the
human observers shaded); the bar charts from ``benchmark.parquet`` (each metric
averaged over the datasets, models sorted best first, the humans' value a line).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from localglobal.analysis.figures.style import (
    HUMAN_STYLE,
    HUMANS,
    Styles,
    in_style_order,
    measure_label,
    new_figure,
    outside_legend,
    require,
    styles_for,
)
from localglobal.data.model_vs_human import DATASETS, dataset
from localglobal.errors import FigureError

LABELS = {"accuracy": "16-class accuracy", "error_consistency": "error consistency (κ)",
          "observed_consistency": "observed consistency",
          "accuracy_difference": "accuracy difference (squared)"}


def condition_curves_figure(conditions: pd.DataFrame | None, metric: str = "accuracy", *,
                            styles: Styles | None = None) -> Figure:
    """``metric`` against condition for every parametric dataset (psychometric curves).

    Parameters
    ----------
    conditions : pandas.DataFrame
        ``benchmark_conditions.parquet``.
    metric : {"accuracy", "error_consistency", "observed_consistency"}
        What the y axis shows.
    styles : mapping, optional
        Model → (colour, marker), the run's.

    Returns
    -------
    matplotlib.figure.Figure
        Conditions left out of the benchmark's averages are marked by a grey band.

    Raises
    ------
    FigureError
        No parametric dataset in the table.
    """
    rows = require(conditions, "per-condition benchmark table")
    rows = rows[rows["metric"] == metric]
    names = [d for d in dict.fromkeys(rows["dataset"]) if dataset(d).parametric]
    if not names:
        raise FigureError("no parametric dataset (one condition each: see the tables)")
    fig, axes = new_figure(len(names), ncols=min(4, len(names)), panel=(3.2, 2.6))
    models = rows[rows["kind"] == "model"]
    styles = styles_for(models["observer"], styles)
    for ax, name in zip(axes, names, strict=True):
        mine = rows[rows["dataset"] == name].sort_values("position")
        positions = sorted(mine["position"].unique())
        labels = mine.drop_duplicates("position").set_index("position")["label"]
        left_out = mine.drop_duplicates("position").set_index("position")["benchmark"]
        for position in positions:
            if not bool(left_out[position]):
                ax.axvspan(position - 0.5, position + 0.5, color="#eeeeee", zorder=0)
        observers = mine[(mine["kind"] == "human") & (mine["observer"] != HUMANS)]
        if len(observers):
            spread = observers.groupby("position")["value"].agg(["min", "max"]).reindex(
                positions)
            ax.fill_between(positions, spread["min"], spread["max"], color="#999999",
                            alpha=0.3, linewidth=0, label="human observers (range)")
        humans = mine[mine["observer"] == HUMANS]
        if len(humans):
            ax.plot(humans["position"], humans["value"], color=HUMAN_STYLE[0],
                    marker=HUMAN_STYLE[1], markersize=4, linewidth=1.2, label="humans (mean)")
        for model in in_style_order(models["observer"], styles):
            line = mine[mine["observer"].astype(str) == model]
            colour, marker = styles[model]
            ax.plot(line["position"], line["value"], color=colour, marker=marker,
                    markersize=3.5, linewidth=1.0, label=model)
        ax.set_xticks(positions, [str(labels[p]) for p in positions], fontsize=7,
                      rotation=45 if len(positions) > 6 else 0)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(dataset(name).xlabel, fontsize=8)
        if metric == "accuracy":
            ax.set_ylim(0, 1.02)
            ax.axhline(1 / 16, color="grey", linestyle=":", linewidth=0.8)
        else:
            ax.set_ylim(-0.2 if metric == "error_consistency" else 0, 1.02)
            if metric == "error_consistency":
                ax.axhline(0, color="grey", linestyle=":", linewidth=0.8)
        ax.set_ylabel(LABELS.get(metric, metric), fontsize=8)
        ax.grid(alpha=0.3, linewidth=0.5)
    outside_legend(fig, axes, loc="outside lower center", ncols=4)
    return fig


def ranking_bars_figure(ranked: pd.DataFrame | None, *, styles: Styles | None = None) -> Figure:
    """model-vs-human's bar charts: each metric averaged over datasets, models sorted.

    Parameters
    ----------
    ranked : pandas.DataFrame
        :func:`~localglobal.analysis.benchmark.rankings` of ``benchmark.parquet``.
    styles : mapping, optional
        Model → (colour, marker), the run's.

    Returns
    -------
    matplotlib.figure.Figure
        Four panels: OOD accuracy, accuracy difference (lower is more human-like),
        observed and error consistency; the humans' value is a dashed line.
    """
    rows = require(ranked, "benchmark rankings")
    models = rows[rows["kind"] == "model"]
    if not len(models):
        raise FigureError("no model in the benchmark")
    humans = rows[rows["observer"] == HUMANS]
    styles = styles_for(models["observer"], styles)
    metrics = ("accuracy", "accuracy_difference", "observed_consistency", "error_consistency")
    fig, axes = new_figure(4, ncols=2, panel=(4.2, 0.9 + 0.32 * len(models)))
    for ax, metric in zip(axes, metrics, strict=True):
        values = models[["observer", metric]].dropna()
        values = values.sort_values(metric, ascending=metric == "accuracy_difference")
        y = np.arange(len(values))
        colours = [styles[str(o)][0] for o in values["observer"]]
        ax.barh(y, values[metric], color=colours)
        ax.set_yticks(y, values["observer"].astype(str), fontsize=8)
        ax.invert_yaxis()
        if len(humans) and np.isfinite(humans[metric].iloc[0]):
            ax.axvline(float(humans[metric].iloc[0]), color=HUMAN_STYLE[0], linestyle="--",
                       linewidth=1.0, label="humans")
            ax.legend(fontsize=7, loc="lower right")
        better = "↓" if metric == "accuracy_difference" else "↑"
        title = "OOD accuracy" if metric == "accuracy" else LABELS[metric]
        ax.set_title(f"{title} ({better})", fontsize=9)
        ax.grid(axis="x", alpha=0.3, linewidth=0.5)
    return fig


def dataset_of_condition(probe: str, condition: str) -> str | None:
    """The model-vs-human dataset whose humans saw ``condition`` of probe ``probe``.

    A probe shares its name with one dataset (``contrast``) or, for the eidolon probe,
    with three (``eidolonI``, ``II``, ``III``: the one listing the condition).

    >>> dataset_of_condition("eidolon", "8-3-10"), dataset_of_condition("scramble", "56")
    ('eidolonII', None)
    """
    candidates = [name for name in DATASETS if name == probe
                  or (name.startswith(probe) and name[len(probe):].strip("I") == "")]
    for name in candidates:
        if condition in DATASETS[name].conditions:
            return name
    return None


def own_images_figure(summary: pd.DataFrame | None, conditions: pd.DataFrame | None, *,
                      styles: Styles | None = None) -> Figure:
    """The models on one's own images at model-vs-human's conditions, beside the humans.

    One panel per dataset that a probe of the run shares its name (and conditions) with:
    each model's mean measure on the run's own images at each condition (solid, its
    interval over images shaded), the humans' accuracy on model-vs-human's stimuli
    (diamonds, the range of the observers grey) and, where the geirhos stage ran the
    model on them, the model's accuracy on those stimuli (dashed).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~localglobal.analysis.summaries.probe_summary` (with ``condition``).
    conditions : pandas.DataFrame, optional
        ``benchmark_conditions.parquet``.
    styles : mapping, optional
        Model → (colour, marker), the run's.

    Raises
    ------
    FigureError
        No probe of the run matches a dataset's conditions.
    """
    rows = require(summary, "probe summary (the evaluate and analyze stages)")
    rows = rows.assign(dataset=[dataset_of_condition(str(p), str(c)) for p, c in
                                zip(rows["probe"], rows["condition"], strict=True)])
    rows = rows[rows["dataset"].notna()]
    if not len(rows):
        raise FigureError("no probe of this run at model-vs-human's conditions")
    names = list(dict.fromkeys(rows["dataset"]))
    curves = conditions if conditions is not None else pd.DataFrame(
        columns=["dataset", "observer", "kind", "metric", "condition", "value"])
    curves = curves[curves["metric"] == "accuracy"]
    styles = styles_for(rows["model"], styles)
    measure = str(rows["measure"].iloc[0]) if "measure" in rows else "measure"
    fig, axes = new_figure(len(names), ncols=min(4, len(names)), panel=(3.2, 2.6))
    for ax, name in zip(axes, names, strict=True):
        order = list(dataset(name).conditions)
        x = {c: k for k, c in enumerate(order)}
        theirs = curves[curves["dataset"] == name]
        observers = theirs[(theirs["kind"] == "human") & (theirs["observer"] != HUMANS)]
        if len(observers):
            spread = observers.groupby("condition")["value"].agg(["min", "max"])
            spread = spread.loc[[c for c in order if c in spread.index]]
            ax.fill_between([x[c] for c in spread.index], spread["min"], spread["max"],
                            color="#999999", alpha=0.3, linewidth=0,
                            label="human observers (range)")
        humans = theirs[theirs["observer"] == HUMANS]
        if len(humans):
            humans = humans.assign(_x=humans["condition"].map(x)).sort_values("_x")
            ax.plot(humans["_x"], humans["value"], color=HUMAN_STYLE[0], marker=HUMAN_STYLE[1],
                    markersize=4, linewidth=1.2, label="humans, model-vs-human's stimuli")
        mine = rows[rows["dataset"] == name]
        for model in in_style_order(mine["model"], styles):
            colour, marker = styles[model]
            line = mine[mine["model"].astype(str) == model]
            line = line.assign(_x=line["condition"].map(x)).sort_values("_x")
            ax.plot(line["_x"], line["mean"], color=colour, marker=marker, markersize=3.5,
                    linewidth=1.0, label=f"{model}, own images")
            ax.fill_between(line["_x"], line["ci_low"], line["ci_high"], color=colour,
                            alpha=0.15, linewidth=0)
            on_stimuli = theirs[theirs["observer"].astype(str) == model]
            if len(on_stimuli):
                on_stimuli = on_stimuli.assign(_x=on_stimuli["condition"].map(x)).sort_values(
                    "_x")
                ax.plot(on_stimuli["_x"], on_stimuli["value"], color=colour, linestyle="--",
                        linewidth=1.0, label=f"{model}, model-vs-human's stimuli")
        ax.set_xticks(range(len(order)), [dataset(name).label(c) for c in order], fontsize=7,
                      rotation=45 if len(order) > 6 else 0)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(dataset(name).xlabel, fontsize=8)
        ax.set_ylabel(f"{measure_label(measure)} / accuracy", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3, linewidth=0.5)
    outside_legend(fig, axes, loc="outside lower center", ncols=3)
    return fig


__all__ = ["condition_curves_figure", "dataset_of_condition", "own_images_figure",
           "ranking_bars_figure"]
