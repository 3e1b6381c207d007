"""The report's Geirhos tables: 16-class accuracy and error consistency with the humans.

The ``geirhos`` stage's tables (``accuracy16.parquet``, ``error_consistency.parquet``,
``shape_bias.parquet``) become display tables, and the shape bias of each model and
of the humans one line each for ``summary.md``.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import pandas as pd

from localglobal.analysis.benchmark import rankings
from localglobal.analysis.error_consistency import summarise_error_consistency
from localglobal.analysis.figure_inputs import FigureInputs
from localglobal.analysis.figure_specs import figure_specs
from localglobal.analysis.geirhos_metrics import HUMANS
from localglobal.errors import FigureError
from localglobal.report.formatting import format_number
from localglobal.report.inputs import ReportInputs
from localglobal.report.tables import Table, display_table, shape_bias_interval

BENCHMARK_INTERVAL = "95 % bootstrap interval over trials resampled within each observer"
"""What the benchmark's intervals are over (:mod:`localglobal.analysis.benchmark`)."""

BENCHMARK_INTRO = (
    "model-vs-human's benchmark (Geirhos et al. 2021): every model and every human observer "
    "decides every trial among 16 categories. Accuracy is pooled over a dataset's benchmark "
    "conditions; accuracy difference, observed and error consistency are computed per "
    "condition against each human observer and averaged, leaving out the conditions "
    "model-vs-human excludes; the humans' row is the mean over pairs of human observers, "
    "the ceiling. Intervals: 95 % bootstrap over trials (stimuli resampled within each "
    "condition, the same draw for every observer); n counts trials.")


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
    lines = ["Shape bias (cue conflict; shape / (shape + texture) decisions; "
             f"{shape_bias_interval(bias)}):", ""]
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


def benchmark_rows(benchmark: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Each model's and the humans' headline figures from ``benchmark.parquet``.

    Accuracy and error consistency are averaged over the datasets the observer has
    (model-vs-human's benchmark values); shape bias (with its bootstrap interval) and
    hit rate are cue-conflict's.

    Returns
    -------
    list of dict
        ``observer, datasets, accuracy, shape_bias, shape_bias_interval, hit_rate,
        error_consistency`` per model, then the humans (the ceiling); empty without a table.
    """
    if benchmark is None or not len(benchmark):
        return []
    shown = benchmark[(benchmark["kind"] == "model") | (benchmark["observer"] == HUMANS)]
    order = [o for o in dict.fromkeys(shown["observer"]) if o != HUMANS]
    if HUMANS in set(shown["observer"]):
        order.append(HUMANS)
    rows = []
    for observer in order:
        mine = shown[shown["observer"] == observer]
        cue = "cue-conflict" in set(mine["dataset"])
        rows.append({
            "observer": "humans (ceiling)" if observer == HUMANS else observer,
            "datasets": int(mine["dataset"].nunique()),
            "accuracy": _value(mine, "accuracy"),
            "shape_bias": _value(mine, "shape_bias", "cue-conflict") if cue else None,
            "shape_bias_interval": _interval(mine, "shape_bias", "cue-conflict"),
            "hit_rate": _value(mine, "hit_rate", "cue-conflict") if cue else None,
            "error_consistency": _value(mine, "error_consistency")})
    return rows


def benchmark_lines(benchmark: pd.DataFrame | None) -> list[str]:
    """A heading and one line per model and for the humans: accuracy, shape bias, hit
    rate, error consistency (see :func:`benchmark_rows`); empty without a table."""
    rows = benchmark_rows(benchmark)
    if not rows:
        return []
    datasets = benchmark["dataset"].nunique()  # type: ignore[index]
    lines = [f"model-vs-human benchmark ({datasets} dataset{'s' if datasets != 1 else ''}; "
             "accuracy and error consistency averaged over them; shape bias on cue-conflict, "
             f"[{BENCHMARK_INTERVAL}]):"]
    for row in rows:
        parts = [f"accuracy {format_number(row['accuracy'], 3)}"]
        if row["shape_bias"] is not None:
            parts.append(f"shape bias {format_number(row['shape_bias'], 3)}"
                         f"{row['shape_bias_interval']}")
            few = row["hit_rate"] < 0.5
            parts.append(f"hit rate {format_number(row['hit_rate'], 3)}"
                         + (" (few hits: the shape bias says little)" if few else ""))
        if row["error_consistency"] == row["error_consistency"]:
            parts.append(f"error consistency {format_number(row['error_consistency'], 3)}")
        lines.append(f"  {row['observer']}: " + ", ".join(parts))
    return lines


def benchmark_markdown(benchmark: pd.DataFrame | None) -> list[str]:
    """``summary.md``'s benchmark table (see :func:`benchmark_rows`); empty without one."""
    rows = benchmark_rows(benchmark)
    if not rows:
        return []
    lines = ["Accuracy and error consistency: mean over the datasets (benchmark conditions); "
             f"shape bias [{BENCHMARK_INTERVAL}] and hit rate: cue-conflict.", "",
             "| observer | datasets | accuracy | shape bias | hit rate | error consistency |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        bias = ("–" if row["shape_bias"] is None
                else f"{format_number(row['shape_bias'], 3)}{row['shape_bias_interval']}")
        hits = "–" if row["hit_rate"] is None else format_number(row["hit_rate"], 3)
        lines.append(f"| {row['observer']} | {row['datasets']} | "
                     f"{format_number(row['accuracy'], 3)} | {bias} | {hits} | "
                     f"{format_number(row['error_consistency'], 3)} |")
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


DRAWN_HERE = ("benchmark", "shape_bias")
"""Sections whose figures the report draws itself when the analyze stage has not run
(a run of the geirhos stage alone)."""


def _png_uri(figure: Any, dpi: int) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def drawn_figures(inputs: ReportInputs, section: str
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The figures of ``section``: the analysis's, else drawn now from the geirhos tables.

    A run of the geirhos stage alone has a complete report: without the analysis's
    record, the benchmark's and the shape bias's figures are drawn in memory and
    embedded; nothing is written to the run directory.

    Returns
    -------
    (shown, skipped) : lists of dict
        As :meth:`ReportInputs.figures`.
    """
    shown, skipped = inputs.figures(section)
    if inputs.analysis is not None or section not in DRAWN_HERE:
        return shown, skipped
    bias = inputs.table("shape_bias")
    if bias is not None and "kind" in bias:
        bias = bias[(bias["kind"] == "model") | (bias["model"] == HUMANS)]
    tables = FigureInputs(shape_bias=bias,
                          shape_bias_by_category=inputs.table("shape_bias_by_category"),
                          benchmark=inputs.table("benchmark"),
                          benchmark_conditions=inputs.table("benchmark_conditions"),
                          model_order=tuple(inputs.config.model_order()))
    for spec in figure_specs(tables):
        if spec.section != section:
            continue
        try:
            figure = spec.build()
        except FigureError as error:
            skipped.append({"title": spec.title, "reason": str(error)})
            continue
        shown.append({"title": spec.title, "caption": spec.caption,
                      "src": _png_uri(figure, inputs.config.analysis.figure_dpi), "pdf": ""})
    return shown, skipped


def benchmark_section(inputs: ReportInputs) -> dict:
    """The benchmark's rankings, its metrics per dataset and its figures, or why absent."""
    section = {"key": "benchmark", "title": "model-vs-human benchmark", "intro": BENCHMARK_INTRO,
               "figures": [], "skipped": [], "tables": [], "absent": "", "notes": []}
    benchmark = inputs.table("benchmark")
    if benchmark is None or not len(benchmark):
        section["absent"] = inputs.missing("benchmark")
        return section
    shown, skipped = drawn_figures(inputs, "benchmark")
    section["figures"].extend(shown)
    section["skipped"].extend(skipped)
    section["tables"].extend(ranking_tables(benchmark))
    section["tables"].append(benchmark_table(benchmark))
    if (benchmark["metric"] == "hit_rate").any():
        section["notes"].append(
            "Shape bias comes with its hit rate, the share of conflict trials decided as "
            "shape or as texture: a shape bias built on few hits says little (an untrained "
            "network can score 0.65 on a handful of hits).")
    return section


__all__ = ["accuracy_table", "benchmark_lines", "benchmark_markdown", "benchmark_rows",
           "benchmark_section", "benchmark_table",
           "consistency_table", "drawn_figures", "ranking_tables", "shape_bias_lines"]
