"""The report's tables: the analysis's results as rows of display strings.

Each function returns ``{"title", "columns", "rows"}``, which the template prints as
an HTML table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from localglobal.analysis.figures import LRP_LABELS, curve_positions
from localglobal.probes.registry import Probe
from localglobal.report.formatting import (
    direction_of,
    format_effect,
    format_number,
    format_p,
    verdict_of,
    with_interval,
)

Table = dict[str, Any]

def display_table(title: str, frame: pd.DataFrame, columns: dict[str, str] | None = None
                  ) -> Table:
    """A titled table of ``frame``'s ``columns`` (name → heading), every cell a string."""
    columns = columns or {c: c for c in frame.columns}
    rows = [[str(v) for v in record] for record in frame[list(columns)].itertuples(index=False)]
    return {"title": title, "columns": list(columns.values()), "rows": rows}


def _cells(rows: pd.DataFrame, digits: int = 3) -> list[str]:
    return [with_interval(r.mean, r.ci_low, r.ci_high, digits) + f" (n={r.n_images})"
            for r in rows.itertuples()]


def _probe_table(summary: pd.DataFrame, probes: Sequence[Probe], group: str,
                 group_title: str) -> Table | None:
    names = [p.name for p in probes]
    rows = summary[summary["probe"].isin(names) & (summary["group"] == group)]
    if rows.empty:
        return None
    positions = curve_positions(summary[summary["group"].isin([group, ""])
                                        | (summary["probe"] == "original")], probes)
    label_of = {(p, c): label for p, c, label in positions}
    table = pd.concat([summary[summary["probe"] == "original"], rows])
    table = table.assign(label=[label_of.get((p, str(c)), str(c)) for p, c in
                                zip(table["probe"], table["condition"], strict=True)])
    table["cell"] = _cells(table)
    order = [label for _, _, label in positions]
    pivot = table.pivot_table(index="label", columns="model", values="cell", aggfunc="first")
    heading = probes[0].axis_label if len(probes) == 1 else "image"
    pivot = pivot.reindex(order).fillna("–").reset_index().rename(columns={"label": heading})
    measure = str(rows["measure"].iloc[0])
    what = f", {group_title}" if group_title else ""
    return display_table(f"Mean {measure}{what} [95 % interval] per model", pivot)


def probe_tables(summary: pd.DataFrame, probes: Sequence[Probe]) -> list[Table]:
    """The tables of one report section from
    :func:`~localglobal.analysis.summaries.probe_summary` output: the measure per model
    at every level of the section's probes, the original first, one table per group.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``probe-summary.parquet``.
    probes : sequence of Probe
        The section's probes (their declarations give the level order and headings).
    """
    if "condition" not in summary:
        summary = summary.assign(condition=summary["level"].astype(str))
    titles: dict[str, str] = {}
    for probe in probes:
        titles.update(probe.group_titles())
    tables = [_probe_table(summary, probes, group, title) for group, title in titles.items()]
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

    The verdict comes second, beside the hypothesis's name, so that it stays in view
    when the table is wider than the page and scrolls.

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
        "verdict": [verdict_of(r) for _, r in hypotheses.iterrows()],
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


def lrp_table(lrp: pd.DataFrame, method: str = "LRP") -> Table:
    """``lrp-summary.parquet``: one row per statistic, one column per model and control.

    A statistic undefined for every model and control (the box measures of a run
    without boxes) is left out; ``method`` names the attribution method in the title.
    """
    defined = lrp.groupby("metric")["mean"].apply(lambda v: v.notna().any())
    lrp = lrp[lrp["metric"].map(defined).astype(bool)]
    table = lrp.assign(cell=[with_interval(r.mean, r.ci_low, r.ci_high)
                             for r in lrp.itertuples()],
                       column=lrp["model"] + " · " + lrp["control"])
    pivot = table.pivot_table(index="metric", columns="column", values="cell",
                              aggfunc="first")
    pivot = pivot.reindex([m for m in LRP_LABELS if m in pivot.index]).fillna("–")
    pivot.index = [LRP_LABELS[m] for m in pivot.index]
    pivot = pivot.rename_axis("statistic").reset_index()
    return display_table(f"{method} statistics per model · control: mean [95 % interval]",
                         pivot)


def shape_bias_table(bias: pd.DataFrame) -> Table:
    """``shape_bias.parquet``: counts, the shape bias and its interval per observer."""
    columns = {c: c for c in ["model", "n", "n_shape", "n_texture", "n_other",
                              "shape_bias", "ci_low", "ci_high"] if c in bias}
    shown = bias.copy()
    for c in ("shape_bias", "ci_low", "ci_high"):
        if c in shown:
            shown[c] = shown[c].map(lambda v: format_number(v, 3))
    return display_table(f"Shape bias per model · {shape_bias_interval(bias)}", shown, columns)


def shape_bias_interval(bias: pd.DataFrame) -> str:
    """What the interval of a shape-bias table is over, in words.

    Parameters
    ----------
    bias : pandas.DataFrame
        ``shape_bias.parquet``: the geirhos stage's (bootstrap, with ``n_observers``)
        or the evaluate path's (Wilson).

    Returns
    -------
    str
    """
    if "n_observers" in bias:
        return ("95 % bootstrap interval over a model's stimuli; for the humans' mean, over "
                "the observers")
    return "95 % Wilson interval over the shape and texture decisions"


#: One line on each column of the hypothesis and LRP tables that needs one.
COLUMN_NOTES: dict[str, str] = {
    "p": "the primary one-sided p of the hypothesis's own test (the 'test' column), "
         "uncorrected; Holm runs on it",
    "test": "which test gave p: Wilcoxon signed-rank on per-image means, or the patch "
            "interaction's permutation or bootstrap over images",
    "n": "images the test ran on (the unit of inference)",
    "n_pairs": "paired values (image × level × variant) averaged into those n image means",
    "wilcoxon_p_pairs": "the thesis's Wilcoxon on every pair as if independent; kept only "
                        "to reproduce its numbers (too small when an image gives many pairs)",
    "t_p_pairs": "the thesis's paired t-test on every pair, likewise",
    "normalize": "ratio: each drop divided by the image's original value (free of the "
                 "baseline); none: the drop as it is",
    "subset": "both-correct: only images both models classify correctly on the original",
    "proxy": "the shape proxy of a relevance measure: canny (the edges stage's edges) or "
             "outline (the object's true outline, known in the toy world)",
    "partial_r": "correlation of S and A controlling for the original logit z_orig, "
                 "which both share",
    "auc_edges_in_box": "ROC-AUC of relevance separating the box's edge pixels from its "
                        "other pixels (0.5: no preference for edges)",
    "edge_enrichment_pos": "share of the positive region's in-box pixels on edges over the "
                           "box's share of edge pixels (1: no preference, > 1: edges)",
    "edge_enrichment_neg": "the same for the negative region",
    "fixed_blocks": "scramble: blocks a permutation left in place (0 for every derangement)",
}


def column_notes() -> list[str]:
    """:data:`COLUMN_NOTES` as report notes, ``name: meaning``."""
    return [f"{name}: {text}." for name, text in COLUMN_NOTES.items()]


_FORM_FIELDS = ("measure", "relative_to", "normalize", "subset", "proxy", "test")


def _differences(thesis: pd.Series, corrected: pd.Series) -> str:
    changed = [f"{field} {thesis.get(field, '') or '–'} → {corrected.get(field, '') or '–'}"
               for field in _FORM_FIELDS
               if str(thesis.get(field, "")) != str(corrected.get(field, ""))]
    return "; ".join(changed) if changed else "the same measure, tested on images"


def thesis_forms_table(hypotheses: pd.DataFrame, suffix: str = "-img") -> Table | None:
    """Each hypothesis as the thesis computed it beside its corrected ``<id>-img`` form.

    The thesis form's p is its test on every pair (``wilcoxon_p_pairs``); the corrected
    form's is its image-level p, Holm-corrected with the family. None when no
    hypothesis has a corrected form.
    """
    by_id = hypotheses.set_index("hypothesis", drop=False)
    rows = []
    for name in by_id.index:
        if str(name).endswith(suffix) or f"{name}{suffix}" not in by_id.index:
            continue
        thesis, corrected = by_id.loc[name], by_id.loc[f"{name}{suffix}"]
        rows.append({
            "hypothesis": name,
            "thesis: pairs": format_number(thesis.get("n_pairs", float("nan"))),
            "thesis: p on pairs": format_p(thesis.get("wilcoxon_p_pairs", float("nan"))),
            "thesis measure: verdict on images": thesis.get("verdict", ""),
            "corrected: images": format_number(corrected.get("n", float("nan"))),
            "corrected: p (Holm)": format_p(corrected.get("p_holm", float("nan"))),
            "corrected: verdict": corrected.get("verdict", ""),
            "what differs": _differences(thesis, corrected),
        })
    if not rows:
        return None
    return display_table(f"The thesis's form and the corrected ({suffix}) form",
                         pd.DataFrame(rows))
