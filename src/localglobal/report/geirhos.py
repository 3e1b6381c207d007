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


__all__ = ["accuracy_table", "consistency_table", "shape_bias_lines"]
