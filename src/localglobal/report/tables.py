"""The report's tables: the analysis's results as rows of display strings.

Each function returns ``{"title", "columns", "rows"}``, which the template prints as
an HTML table.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from localglobal.analysis.figures import LRP_LABELS
from localglobal.report.formatting import (
    direction_of,
    format_effect,
    format_number,
    format_p,
    with_interval,
)

Table = dict[str, Any]

LEVEL_NAMES = {"scramble": "block side", "patch": "patch side", "smooth": "passes"}
"""What a probe's level is, as a column heading."""


def display_table(title: str, frame: pd.DataFrame, columns: dict[str, str] | None = None
                  ) -> Table:
    """A titled table of ``frame``'s ``columns`` (name → heading), every cell a string."""
    columns = columns or {c: c for c in frame.columns}
    rows = [[str(v) for v in record] for record in frame[list(columns)].itertuples(index=False)]
    return {"title": title, "columns": list(columns.values()), "rows": rows}


def _cells(rows: pd.DataFrame, digits: int = 3) -> list[str]:
    return [with_interval(r.mean, r.ci_low, r.ci_high, digits) + f" (n={r.n_images})"
            for r in rows.itertuples()]


def _probe_table(summary: pd.DataFrame, probe: str, group: str) -> Table | None:
    rows = summary[(summary["probe"] == probe) & (summary["group"] == group)]
    if rows.empty:
        return None
    original = summary[summary["probe"] == "original"]
    table = pd.concat([original.assign(label="original"),
                       rows.assign(label=rows["level"].astype(str))])
    table["cell"] = _cells(table)
    order = ["original", *[str(v) for v in sorted(rows["level"].unique())]]
    pivot = table.pivot_table(index="label", columns="model", values="cell", aggfunc="first")
    pivot = pivot.reindex(order).fillna("–").reset_index()
    pivot = pivot.rename(columns={"label": LEVEL_NAMES[probe]})
    measure = str(rows["measure"].iloc[0])
    what = {"all": ", all patches", "single": ", mean over single patches"}.get(group, "")
    return display_table(f"Mean {measure}{what} [95 % interval] per model", pivot)


def _removed_detail_tables(summary: pd.DataFrame) -> list[Table]:
    subset = summary[summary["probe"].isin(["original", "smooth_diff", "smooth_diff_inv"])]
    if subset.empty:
        return []
    frame = subset.assign(cell=_cells(subset))
    pivot = frame.pivot_table(index="probe", columns="model", values="cell",
                              aggfunc="first").fillna("–")
    measure = str(subset["measure"].iloc[0])
    return [display_table(f"Mean {measure} [95 % interval] per model",
                          pivot.rename_axis("image").reset_index())]


def probe_tables(summary: pd.DataFrame, key: str) -> list[Table]:
    """The tables of a probe section from
    :func:`~localglobal.analysis.summaries.probe_summary` output.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``probe-summary.parquet``.
    key : str
        ``scramble``, ``patch``, ``smooth`` or ``removed_detail``.
    """
    if key == "removed_detail":
        return _removed_detail_tables(summary)
    groups = ["all", "single"] if key == "patch" else [""]
    tables = [_probe_table(summary, key, group) for group in groups]
    return [t for t in tables if t]


def interaction_table(interaction: pd.DataFrame) -> Table:
    """``interaction.parquet`` per model and patch side, each statistic with its interval."""
    frame = pd.DataFrame({
        "model": interaction["model"], "patch side": interaction["size"],
        "n": interaction["n"], "left out": interaction["n_missing"],
        "r [95 % CI]": [with_interval(r.r, r.r_ci_low, r.r_ci_high)
                        for r in interaction.itertuples()],
        "mean(A)/mean(S) [95 % CI]": [with_interval(r.ratio, r.ratio_ci_low, r.ratio_ci_high)
                                      for r in interaction.itertuples()],
        "median A/S [95 % CI]": [with_interval(r.median_ratio, r.median_ratio_ci_low,
                                               r.median_ratio_ci_high)
                                 for r in interaction.itertuples()],
    })
    return display_table("Patch interaction per model and patch side", frame)


def _column(table: pd.DataFrame, name: str, default: Any = "") -> pd.Series:
    """A column of ``table``, or ``default`` on every row when it has none."""
    if name in table:
        return table[name]
    return pd.Series([default] * len(table), index=table.index)


def hypothesis_detail_table(hypotheses: pd.DataFrame, title: str = "Every test") -> Table:
    """Every statistic of every hypothesis: the primary test and the thesis's pair test.

    Parameters
    ----------
    hypotheses : pandas.DataFrame
        ``hypotheses.parquet`` (the rows to show).
    title : str
        The table's title.
    """
    nan = float("nan")
    frame = pd.DataFrame({
        "hypothesis": hypotheses["hypothesis"],
        "direction": [direction_of(r) for _, r in hypotheses.iterrows()],
        "test": _column(hypotheses, "test").fillna(""),
        "n": hypotheses["n"],
        "mean diff [95 % CI]": [with_interval(r.mean_diff, r.ci_low, r.ci_high)
                                for r in hypotheses.itertuples()],
        "Shapiro p": hypotheses["shapiro_p"].map(format_p),
        "Wilcoxon W": hypotheses["wilcoxon_stat"].map(format_number),
        "Wilcoxon p": hypotheses["wilcoxon_p"].map(format_p),
        "t-test p": hypotheses["t_p"].map(format_p),
        "p": _column(hypotheses, "p", nan).map(format_p),
        "effect r": hypotheses["effect_size"].map(format_effect),
        "p (Holm)": hypotheses["p_holm"].map(format_p),
        "pairs": _column(hypotheses, "n_pairs", nan).map(format_number),
        "Wilcoxon p, pairs": _column(hypotheses, "wilcoxon_p_pairs", nan).map(format_p),
        "t-test p, pairs": _column(hypotheses, "t_p_pairs", nan).map(format_p),
        "zeros": _column(hypotheses, "n_zero"),
        "missing a / b": [f"{r.get('n_missing_a', '–')} / {r.get('n_missing_b', '–')}"
                          for _, r in hypotheses.iterrows()],
        "note": _column(hypotheses, "note").fillna(""),
    })
    return display_table(title, frame)


def lrp_table(lrp: pd.DataFrame) -> Table:
    """``lrp-summary.parquet``: one row per statistic, one column per model and control."""
    table = lrp.assign(cell=[with_interval(r.mean, r.ci_low, r.ci_high)
                             for r in lrp.itertuples()],
                       column=lrp["model"] + " · " + lrp["control"])
    pivot = table.pivot_table(index="metric", columns="column", values="cell",
                              aggfunc="first")
    pivot = pivot.reindex([m for m in LRP_LABELS if m in pivot.index]).fillna("–")
    pivot.index = [LRP_LABELS[m] for m in pivot.index]
    pivot = pivot.rename_axis("statistic").reset_index()
    return display_table("LRP statistics per model · control: mean [95 % interval]", pivot)


def shape_bias_table(bias: pd.DataFrame) -> Table:
    """``shape_bias.parquet``: counts, the shape bias and its interval per observer."""
    columns = {c: c for c in ["model", "n", "n_shape", "n_texture", "n_other",
                              "shape_bias", "ci_low", "ci_high"] if c in bias}
    shown = bias.copy()
    for c in ("shape_bias", "ci_low", "ci_high"):
        if c in shown:
            shown[c] = shown[c].map(lambda v: format_number(v, 3))
    return display_table("Shape bias per model", shown, columns)
