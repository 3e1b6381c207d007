"""The report's Geirhos tables: 16-class accuracy and error consistency with the humans.

The ``geirhos`` stage's tables (``accuracy16.parquet``, ``error_consistency.parquet``,
``shape_bias.parquet``) become display tables, and the shape bias of each model and
of the humans one line each for ``summary.md``.
"""

from __future__ import annotations

import pandas as pd

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


def shape_bias_lines(bias: pd.DataFrame | None) -> list[str]:
    """``summary.md``'s lines: each model's shape bias and the humans'."""
    if bias is None or not len(bias) or "kind" not in bias:
        return []
    rows = _shown(bias, "model")
    lines = ["Shape bias (cue conflict; shape / (shape + texture) decisions):", ""]
    for row in rows.itertuples():
        name = f"humans (mean of {int(row.n_observers)})" if row.model == HUMANS else row.model
        lines.append(f"- {name}: {format_number(row.shape_bias, 3)} "
                     f"[{format_number(row.ci_low, 3)}, {format_number(row.ci_high, 3)}]")
    return lines


__all__ = ["accuracy_table", "consistency_table", "shape_bias_lines"]
