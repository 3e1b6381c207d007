"""The report's Geirhos tables: 16-class accuracy and error consistency with the humans.

The ``geirhos`` stage's tables (``accuracy16.parquet``, ``error_consistency.parquet``,
``shape_bias.parquet``) become display tables, and the shape bias of each model and
of the humans one line each for ``summary.md``.
"""

from __future__ import annotations

import pandas as pd

from localglobal.analysis.benchmark import rankings
from localglobal.analysis.error_consistency import summarise_error_consistency
from localglobal.analysis.geirhos_metrics import HUMANS
from localglobal.report.formatting import format_number
from localglobal.report.tables import Table, display_table


def _shown(frame: pd.DataFrame, observer: str) -> pd.DataFrame:
    """Models and the humans' mean (not each observer)."""
    return frame[(frame["kind"] == "model") | (frame[observer] == HUMANS)]


def accuracy_table(accuracy: pd.DataFrame) -> Table:
    """16-class accuracy on edges and silhouettes: models and the humans' mean ± std."""
    rows = _shown(accuracy[accuracy["dataset"].isin(["edge", "silhouette"])], "model")
    shown = rows.assign(
        accuracy=rows["accuracy"].map(lambda v: format_number(v, 3)),
        spread=[f"{format_number(lo, 3)}–{format_number(hi, 3)}"
                for lo, hi in zip(rows["ci_low"], rows["ci_high"], strict=True)])
    return display_table("16-class accuracy (decision = shape category)", shown,
                         {"model": "observer", "dataset": "dataset", "n": "n",
                          "accuracy": "accuracy", "spread": "95 % interval"})


def consistency_table(pairs: pd.DataFrame) -> Table:
    """Each model's error consistency with the humans beside the humans' own (the ceiling)."""
    summary = _shown(summarise_error_consistency(pairs), "observer")
    shown = summary.assign(
        kappa=summary["kappa"].map(lambda v: format_number(v, 3)),
        kappa_std=summary["kappa_std"].map(lambda v: format_number(v, 3)),
        observer=[f"{o} (human–human: ceiling)" if o == HUMANS else o
                  for o in summary["observer"]])
    return display_table("Error consistency with the human observers (Cohen's κ)", shown,
                         {"dataset": "dataset", "observer": "observer",
                          "n_pairs": "pairs", "kappa": "mean κ",
                          "kappa_std": "std over observers"})


def _decisions(row: pd.Series) -> str:
    """``n = …`` of the decisions a shape bias is computed from (shape + texture)."""
    if "n_shape" in row and "n_texture" in row:
        return f" (n = {format_number(row['n_shape'] + row['n_texture'])} shape or texture " \
               "decisions)"
    return ""


def shape_bias_lines(bias: pd.DataFrame | None) -> list[str]:
    """``summary.md``'s lines: each model's shape bias and the humans'.

    Parameters
    ----------
    bias : pandas.DataFrame, optional
        ``shape_bias.parquet`` (a table without ``kind`` holds models only).

    Returns
    -------
    list of str
        A heading and one line per model (and the humans' mean), empty without a table.
    """
    if bias is None or not len(bias):
        return []
    rows = _shown(bias, "model") if "kind" in bias else bias
    lines = ["Shape bias (cue conflict; shape / (shape + texture) decisions):", ""]
    for _, row in rows.iterrows():
        name = (f"humans (mean of {int(row['n_observers'])})"
                if row["model"] == HUMANS and "n_observers" in row else str(row["model"]))
        interval = (f" [{format_number(row['ci_low'], 3)}, {format_number(row['ci_high'], 3)}]"
                    if "ci_low" in row and "ci_high" in row else "")
        lines.append(f"- {name}: {format_number(row['shape_bias'], 3)}{interval}"
                     f"{_decisions(row) if row['model'] != HUMANS else ''}")
    return lines


def _value(rows: pd.DataFrame, metric: str, dataset: str | None = None) -> float:
    """The mean of ``metric`` over the datasets (or on one), NaN where absent."""
    chosen = rows[rows["metric"] == metric]
    if dataset is not None:
        chosen = chosen[chosen["dataset"] == dataset]
    values = chosen["value"].astype(float)
    return float(values.mean()) if len(values) else float("nan")


def _interval(rows: pd.DataFrame, metric: str, dataset: str) -> str:
    chosen = rows[(rows["metric"] == metric) & (rows["dataset"] == dataset)]
    if not len(chosen):
        return ""
    row = chosen.iloc[0]
    return f" [{format_number(row['ci_low'], 3)}, {format_number(row['ci_high'], 3)}]"


def benchmark_lines(benchmark: pd.DataFrame | None) -> list[str]:
    """One line per model and one for the humans: accuracy, shape bias, hit rate, error consistency.

    Accuracy and error consistency are averaged over the datasets the observer has
    (model-vs-human's benchmark values); shape bias and hit rate are cue-conflict's,
    with the shape bias's bootstrap interval.

    Parameters
    ----------
    benchmark : pandas.DataFrame, optional
        ``benchmark.parquet``.

    Returns
    -------
    list of str
        A heading and the lines; empty without a table.
    """
    if benchmark is None or not len(benchmark):
        return []
    shown = benchmark[(benchmark["kind"] == "model") | (benchmark["observer"] == HUMANS)]
    datasets = shown["dataset"].nunique()
    lines = [f"model-vs-human benchmark ({datasets} dataset{'s' if datasets != 1 else ''}; "
             "accuracy and error consistency averaged over them; shape bias on cue-conflict):"]
    order = [o for o in dict.fromkeys(shown["observer"]) if o != HUMANS]
    if HUMANS in set(shown["observer"]):
        order.append(HUMANS)
    for observer in order:
        rows = shown[shown["observer"] == observer]
        name = "humans (ceiling)" if observer == HUMANS else observer
        parts = [f"accuracy {format_number(_value(rows, 'accuracy'), 3)}"]
        if "cue-conflict" in set(rows["dataset"]):
            bias = _value(rows, "shape_bias", "cue-conflict")
            hits = _value(rows, "hit_rate", "cue-conflict")
            parts.append(f"shape bias {format_number(bias, 3)}"
                         f"{_interval(rows, 'shape_bias', 'cue-conflict')}")
            parts.append(f"hit rate {format_number(hits, 3)}"
                         + (" (few hits: the shape bias says little)" if hits < 0.5 else ""))
        consistency = _value(rows, "error_consistency")
        if consistency == consistency:
            parts.append(f"error consistency {format_number(consistency, 3)}")
        lines.append(f"  {name}: " + ", ".join(parts))
    return lines


def ranking_tables(benchmark: pd.DataFrame) -> list[Table]:
    """model-vs-human's two rankings: "most human-like" and "OOD robustness"."""
    ranked = rankings(benchmark)
    if not len(ranked):
        return []
    number = {c: ranked[c].map(lambda v: format_number(v, 3))
              for c in ("accuracy", "accuracy_difference", "observed_consistency",
                        "error_consistency", "mean_rank")}
    shown = ranked.assign(**number, observer=[f"{o} (ceiling)" if o == HUMANS else o
                                              for o in ranked["observer"]])
    human_like = display_table(
        "Most human-like (mean rank of accuracy difference ↓, observed consistency ↑, "
        "error consistency ↑; averaged over datasets)", shown,
        {"observer": "model", "accuracy_difference": "accuracy difference ↓",
         "observed_consistency": "observed consistency ↑",
         "error_consistency": "error consistency ↑", "mean_rank": "mean rank ↓",
         "datasets": "datasets"})
    ood = shown.assign(_order=ranked["rank_ood"].fillna(len(ranked) + 1)).sort_values("_order")
    robustness = display_table(
        "OOD robustness (16-class accuracy averaged over datasets, benchmark conditions)",
        ood.assign(rank_ood=ood["rank_ood"].map(lambda v: format_number(v, 3))),
        {"observer": "model", "accuracy": "OOD accuracy ↑", "rank_ood": "rank ↓",
         "datasets": "datasets"})
    return [human_like, robustness]


def benchmark_table(benchmark: pd.DataFrame) -> Table:
    """Every (model or humans, dataset, metric) value with its interval and n."""
    shown = benchmark[(benchmark["kind"] == "model") | (benchmark["observer"] == HUMANS)]
    cells = [f"{format_number(v, 3)} [{format_number(lo, 3)}, {format_number(hi, 3)}]"
             for v, lo, hi in zip(shown["value"], shown["ci_low"], shown["ci_high"],
                                  strict=True)]
    frame = shown.assign(cell=cells)
    pivot = frame.pivot_table(index=["dataset", "observer"], columns="metric", values="cell",
                              aggfunc="first").reset_index().fillna("–")
    order = [m for m in ("accuracy", "accuracy_difference", "observed_consistency",
                         "error_consistency", "shape_bias", "hit_rate") if m in pivot]
    return display_table("model-vs-human's metrics per dataset (95 % bootstrap interval over "
                         "trials)", pivot,
                         {"dataset": "dataset", "observer": "observer",
                          **{m: m.replace("_", " ") for m in order}})


__all__ = ["accuracy_table", "benchmark_lines", "benchmark_table", "consistency_table",
           "ranking_tables", "shape_bias_lines"]
