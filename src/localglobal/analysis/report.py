"""The ``report`` stage: one self-contained HTML page and a Markdown summary.

``report/index.html`` opens offline: figures are embedded as ``data:`` URIs, the
style sheet is inline, and nothing is fetched. It opens with the summary — each
hypothesis in one line with its direction, effect size, Holm-corrected p and a
plain verdict — then a section per probe, shape bias, LRP, the hypothesis details,
and the run's configuration and provenance. ``report/summary.md`` holds the same
summary for a terminal.

Every input is optional: a section whose inputs are missing says which file is
absent and which stage writes it (and, from ``manifest.json``, whether that stage
failed), instead of failing.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from localglobal.analysis.analyze import (
    LRP_SUMMARY_NAME,
    PROBE_SUMMARY_NAME,
    REPORT_NAME,
    clean_predictions,
)
from localglobal.analysis.figures import LRP_LABELS
from localglobal.analysis.summaries import lrp_summary, probe_summary
from localglobal.config import RunConfig, to_toml
from localglobal.store import RunDir, read_json, write_text_atomic

if TYPE_CHECKING:
    from localglobal.run import StageContext

TEMPLATES = Path(__file__).parent / "templates"
PROBE_SECTIONS = [
    ("scramble", "Scrambling",
     "The image is cut into square blocks that are put back in a random order: local "
     "texture survives, global shape does not. A model that relies on shape loses more."),
    ("patch", "Patches",
     "Black patches on a regular grid occlude parts of the image, one at a time and all "
     "at once. The patch interaction asks whether the drops of single patches add up to "
     "the drop of all of them (S = Σ single drops, A = all-patches drop)."),
    ("smooth", "Smoothing",
     "Edge-preserving smoothing, applied repeatedly, removes texture and keeps shape: a "
     "model that relies on shape loses less."),
    ("removed_detail", "Removed detail",
     "What one smoothing pass removes, |original − smoothed|, and its inversion: texture "
     "without the shape that smoothing keeps."),
]


# --------------------------------------------------------------------------- formatting


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def format_p(p: Any) -> str:
    """A p-value for reading: ``< 0.001``, else two significant digits; ``–`` if undefined."""
    if not _finite(p):
        return "–"
    p = float(p)
    return "< 0.001" if p < 0.001 else f"{p:.2g}" if p < 0.01 else f"{p:.3f}"


def format_number(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits; ``–`` if undefined."""
    if not _finite(value):
        return "–"
    value = float(value)
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.{digits}g}"


def format_effect(value: Any) -> str:
    """A signed effect size with two decimals (``+0.83``); ``–`` if undefined."""
    return f"{float(value):+.2f}" if _finite(value) else "–"


def _with_interval(mean: Any, low: Any, high: Any, digits: int = 3) -> str:
    text = format_number(mean, digits)
    if _finite(low) and _finite(high):
        text += f" [{format_number(low, digits)}, {format_number(high, digits)}]"
    return text


def _verdict(row: Any, alpha: float) -> str:
    if "verdict" in row and isinstance(row["verdict"], str) and row["verdict"]:
        return row["verdict"]
    if not _finite(row.get("p_holm")):
        return "not tested"
    return "supported" if bool(row.get("supported")) else "not supported"


def verdict_class(verdict: str) -> str:
    """The CSS class of a verdict: supported, not-supported or not-tested."""
    if verdict == "supported":
        return "supported"
    if verdict == "not tested":
        return "not-tested"
    return "not-supported"


def _alpha(hypotheses: pd.DataFrame, default: float = 0.05) -> float:
    if "alpha" in hypotheses and len(hypotheses) and _finite(hypotheses["alpha"].iloc[0]):
        return float(hypotheses["alpha"].iloc[0])
    return default


def _direction(row: Any) -> str:
    if isinstance(row.get("direction"), str) and row["direction"]:
        return row["direction"]
    symbol = {"greater": ">", "less": "<"}.get(row.get("alternative"), "≠")
    return f"{row.get('measure')}: {row.get('model_a')} {symbol} {row.get('model_b')}"


def summary_rows(hypotheses: pd.DataFrame) -> list[dict[str, str]]:
    """One dict of display strings per hypothesis (the summary's lines)."""
    alpha = _alpha(hypotheses)
    rows = []
    for _, row in hypotheses.iterrows():
        rows.append({
            "hypothesis": str(row["hypothesis"]),
            "description": str(row.get("description", "") or ""),
            "direction": _direction(row),
            "n": format_number(row.get("n")),
            "mean_diff": _with_interval(row.get("mean_diff"), row.get("ci_low"),
                                        row.get("ci_high")),
            "effect_size": format_effect(row.get("effect_size")),
            "p_holm": format_p(row.get("p_holm")),
            "verdict": _verdict(row, alpha),
            "verdict_class": verdict_class(_verdict(row, alpha)),
            "note": str(row.get("note", "") or ""),
        })
    return rows


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_table(hypotheses: pd.DataFrame) -> str:
    """The hypotheses as a Markdown table: what the command line prints after a run.

    Parameters
    ----------
    hypotheses
        ``hypotheses.parquet`` (the contract columns; ``description``, ``direction``
        and ``verdict`` are used when present).

    Returns
    -------
    A Markdown table, one line per hypothesis, with the direction, the effect size
    (matched-pairs rank-biserial r), the Holm-corrected p and the verdict at α.
    """
    alpha = _alpha(hypotheses)
    header = ["hypothesis", "description", "direction", "n", "effect size r",
              "p (Holm)", f"verdict at α = {alpha:g}"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in summary_rows(hypotheses):
        cells = [row["hypothesis"], row["description"], row["direction"], row["n"],
                 row["effect_size"], row["p_holm"], row["verdict"]]
        lines.append("| " + " | ".join(_markdown_cell(c) for c in cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- inputs


class _Inputs:
    """The run's files as far as they exist, with the reasons for those that do not."""

    def __init__(self, run: RunDir, config: RunConfig):
        self.run = run
        self.config = config
        self.manifest = read_json(run.manifest_path) if run.manifest_path.exists() else {}
        self.analysis = read_json(run.path(REPORT_NAME)) if run.path(REPORT_NAME).exists() \
            else None
        self.errors: list[str] = []

    def stage_state(self, stage: str) -> str:
        """Why a stage's outputs may be absent, from the manifest."""
        record = self.manifest.get("stages", {}).get(stage)
        command = f"`localglobal {stage} --run {self.run.root}`"
        if not record:
            return f"the {stage} stage has not run ({command})"
        status = record.get("status")
        if status == "failed":
            return f"the {stage} stage failed: {record.get('error') or 'no message'}"
        if status == "running":
            return f"the {stage} stage did not finish ({command})"
        return f"the {stage} stage reported {status or 'no status'}"

    def missing(self, file: str, stage: str) -> str:
        return f"{file} is missing: {self.stage_state(stage)}"

    def table(self, name: str) -> pd.DataFrame | None:
        path = self.run.table_path(name) if name in RunDir.TABLES else self.run.path(name)
        if not path.exists():
            return None
        try:
            return pd.read_parquet(path)
        except Exception as error:  # an unreadable file is reported, not fatal
            self.errors.append(f"{path.name} could not be read: {error}")
            return None


def _embed(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _figures(inputs: _Inputs, section: str) -> tuple[list[dict], list[dict]]:
    """The embedded figures of a section and the reasons for those skipped."""
    if inputs.analysis is None:
        return [], []
    shown, skipped = [], []
    for entry in inputs.analysis.get("figures", []):
        if entry.get("section") != section or "png" not in entry:
            continue
        path = inputs.run.path(entry["png"])
        if not path.exists():
            skipped.append({"title": entry.get("title", entry["name"]),
                            "reason": f"{entry['png']} is missing; re-run the analyze stage"})
            continue
        shown.append({"title": entry.get("title", entry["name"]),
                      "caption": entry.get("caption", ""), "src": _embed(path),
                      "pdf": entry.get("pdf", "")})
    for entry in inputs.analysis.get("figures_skipped", []):
        if entry.get("section") == section:
            skipped.append({"title": entry.get("title", entry["name"]),
                            "reason": entry.get("reason", "")})
    return shown, skipped


def _table(title: str, frame: pd.DataFrame, columns: dict[str, str] | None = None) -> dict:
    columns = columns or {c: c for c in frame.columns}
    rows = [[str(v) for v in record] for record in frame[list(columns)].itertuples(index=False)]
    return {"title": title, "columns": list(columns.values()), "rows": rows}


def _probe_table(summary: pd.DataFrame, probe: str, group: str, level_name: str
                 ) -> dict | None:
    rows = summary[(summary["probe"] == probe) & (summary["group"] == group)]
    if rows.empty:
        return None
    original = summary[summary["probe"] == "original"]
    table = pd.concat([original.assign(label="original"),
                       rows.assign(label=rows["level"].astype(str))])
    table["cell"] = [_with_interval(r.mean, r.ci_low, r.ci_high, 3) + f" (n={r.n_images})"
                     for r in table.itertuples()]
    order = ["original", *[str(v) for v in sorted(rows["level"].unique())]]
    pivot = table.pivot_table(index="label", columns="model", values="cell", aggfunc="first")
    pivot = pivot.reindex(order).fillna("–").reset_index()
    pivot = pivot.rename(columns={"label": level_name})
    measure = str(rows["measure"].iloc[0])
    what = {"all": ", all patches", "single": ", mean over single patches"}.get(group, "")
    return _table(f"Mean {measure}{what} [95 % interval] per model", pivot)


def _probe_tables(summary: pd.DataFrame, key: str) -> list[dict]:
    """The tables of a probe section from :func:`probe_summary` output."""
    if key == "removed_detail":
        subset = summary[summary["probe"].isin(["original", "smooth_diff", "smooth_diff_inv"])]
        if subset.empty:
            return []
        frame = subset.assign(cell=[_with_interval(r.mean, r.ci_low, r.ci_high)
                                    + f" (n={r.n_images})" for r in subset.itertuples()])
        pivot = frame.pivot_table(index="probe", columns="model", values="cell",
                                  aggfunc="first").fillna("–")
        measure = str(subset["measure"].iloc[0])
        return [_table(f"Mean {measure} [95 % interval] per model",
                       pivot.rename_axis("image").reset_index())]
    level_name = {"scramble": "block side", "patch": "patch side", "smooth": "passes"}[key]
    groups = ["all", "single"] if key == "patch" else [""]
    tables = [_probe_table(summary, key, group, level_name) for group in groups]
    return [t for t in tables if t]


def _interaction_table(interaction: pd.DataFrame) -> dict:
    frame = pd.DataFrame({
        "model": interaction["model"], "patch side": interaction["size"],
        "n": interaction["n"], "left out": interaction["n_missing"],
        "r [95 % CI]": [_with_interval(r.r, r.r_ci_low, r.r_ci_high)
                        for r in interaction.itertuples()],
        "mean(A)/mean(S) [95 % CI]": [_with_interval(r.ratio, r.ratio_ci_low, r.ratio_ci_high)
                                      for r in interaction.itertuples()],
        "median A/S [95 % CI]": [_with_interval(r.median_ratio, r.median_ratio_ci_low,
                                                r.median_ratio_ci_high)
                                 for r in interaction.itertuples()],
    })
    return _table("Patch interaction per model and patch side", frame)


def _hypothesis_detail_table(hypotheses: pd.DataFrame, title: str = "Every test") -> dict:
    frame = pd.DataFrame({
        "hypothesis": hypotheses["hypothesis"],
        "direction": [_direction(r) for _, r in hypotheses.iterrows()],
        "n": hypotheses["n"],
        "mean diff [95 % CI]": [_with_interval(r.mean_diff, r.ci_low, r.ci_high)
                                for r in hypotheses.itertuples()],
        "Shapiro p": hypotheses["shapiro_p"].map(format_p),
        "Wilcoxon W": hypotheses["wilcoxon_stat"].map(format_number),
        "Wilcoxon p": hypotheses["wilcoxon_p"].map(format_p),
        "t-test p": hypotheses["t_p"].map(format_p),
        "effect r": hypotheses["effect_size"].map(format_effect),
        "p (Holm)": hypotheses["p_holm"].map(format_p),
        "zeros": hypotheses.get("n_zero", pd.Series([""] * len(hypotheses))),
        "missing a / b": [f"{r.get('n_missing_a', '–')} / {r.get('n_missing_b', '–')}"
                          for _, r in hypotheses.iterrows()],
        "note": hypotheses.get("note", pd.Series([""] * len(hypotheses))).fillna(""),
    })
    return _table(title, frame)


def _lrp_table(lrp: pd.DataFrame) -> dict:
    table = lrp.assign(cell=[_with_interval(r.mean, r.ci_low, r.ci_high)
                             for r in lrp.itertuples()],
                       column=lrp["model"] + " · " + lrp["control"])
    pivot = table.pivot_table(index="metric", columns="column", values="cell",
                              aggfunc="first")
    pivot = pivot.reindex([m for m in LRP_LABELS if m in pivot.index]).fillna("–")
    pivot.index = [LRP_LABELS[m] for m in pivot.index]
    pivot = pivot.rename_axis("statistic").reset_index()
    return _table("LRP statistics per model · control: mean [95 % interval]", pivot)


# --------------------------------------------------------------------------- sections


def _section(key: str, title: str, intro: str = "") -> dict[str, Any]:
    return {"key": key, "title": title, "intro": intro, "figures": [], "skipped": [],
            "tables": [], "absent": "", "notes": []}


def _add_figures(section: dict, inputs: _Inputs, key: str | None = None) -> None:
    shown, skipped = _figures(inputs, key or section["key"])
    section["figures"].extend(shown)
    section["skipped"].extend(skipped)


def build_context(run: RunDir, config: RunConfig) -> dict[str, Any]:
    """Everything the HTML template shows, gathered from the run directory."""
    inputs = _Inputs(run, config)
    absent: list[dict[str, str]] = []

    def mark_absent(section: dict, reason: str) -> None:
        section["absent"] = reason
        absent.append({"key": section["key"], "title": section["title"], "reason": reason})

    predictions = inputs.table("predictions")
    if predictions is not None:
        try:
            predictions, _ = clean_predictions(predictions)
        except ValueError as error:
            inputs.errors.append(str(error))
            predictions = None
    hypotheses = inputs.table("hypotheses")
    summary = inputs.table(PROBE_SUMMARY_NAME)
    if summary is None and predictions is not None and "true_prob" in predictions:
        summary = probe_summary(predictions, "true_prob")
    analysis_reason = (inputs.missing(REPORT_NAME, "analyze") if inputs.analysis is None
                       else "")

    # Summary of the hypotheses.
    summary_section = _section("summary", "Summary")
    if hypotheses is None:
        mark_absent(summary_section, inputs.missing("hypotheses.parquet", "analyze"))
        alpha = config.analysis.alpha
    else:
        alpha = _alpha(hypotheses, config.analysis.alpha)
        summary_section["rows"] = summary_rows(hypotheses)
        configured = {h.id for h in config.analysis.hypotheses}
        stale = configured - set(hypotheses["hypothesis"])
        if stale:
            summary_section["notes"].append(
                "configured but not in hypotheses.parquet (re-run analyze): "
                + ", ".join(sorted(stale)))

    sections = []
    probes_present = set(predictions["probe"]) if predictions is not None else set()
    for key, title, intro in PROBE_SECTIONS:
        section = _section(key, title, intro)
        probe_names = ["smooth_diff", "smooth_diff_inv"] if key == "removed_detail" else [key]
        if predictions is None:
            mark_absent(section, inputs.missing("predictions.parquet", "evaluate"))
        elif not probes_present.intersection(probe_names):
            mark_absent(section, f"no {' or '.join(probe_names)} images were evaluated in this "
                        f"run (probes.probes = {config.probes.probes}, "
                        f"probes.smooth.removed_detail = {config.probes.smooth.removed_detail})")
        else:
            _add_figures(section, inputs)
            if analysis_reason:
                section["notes"].append(f"figures absent: {analysis_reason}")
            if summary is not None:
                section["tables"].extend(_probe_tables(summary, key))
            if key == "patch":
                interaction = inputs.table("interaction")
                if interaction is not None and len(interaction):
                    section["tables"].append(_interaction_table(interaction))
                else:
                    section["notes"].append(
                        "patch-interaction table absent: "
                        + (inputs.missing("interaction.parquet", "analyze") if interaction is None
                           else "no complete patch images"))
        sections.append(section)

    # Shape bias.
    section = _section("shape_bias", "Shape bias (cue conflict)",
                       "Geirhos et al.'s measure: on images whose shape and texture come from "
                       "different classes, the share of shape decisions among shape and texture "
                       "decisions.")
    bias = inputs.table("shape_bias")
    if bias is None:
        reason = inputs.missing("shape_bias.parquet", "analyze")
        if inputs.analysis is not None:
            reason = inputs.analysis.get("sections", {}).get("shape_bias", {}).get(
                "reason") or reason
        mark_absent(section, reason)
    else:
        _add_figures(section, inputs)
        columns = {c: c for c in ["model", "n", "n_shape", "n_texture", "n_other",
                                  "shape_bias", "ci_low", "ci_high"] if c in bias}
        shown = bias.copy()
        for c in ("shape_bias", "ci_low", "ci_high"):
            if c in shown:
                shown[c] = shown[c].map(lambda v: format_number(v, 3))
        section["tables"].append(_table("Shape bias per model", shown, columns))
    sections.append(section)

    # LRP.
    section = _section("lrp", "LRP relevance, edges and boxes",
                       "Where the relevance of each model's decision lies, relative to Canny "
                       "edges (the shape proxy) inside the object box; the randomised-weights "
                       "and shuffled-edges controls show what chance gives. Canny marks "
                       "texture boundaries inside the object as well as its outline, so a "
                       "share on edges tells which pixels a decision used, not whether "
                       "they served as shape or as texture; read it beside the controls, "
                       "the box-based metrics and the perturbation probes.")
    attributions = inputs.table("attributions")
    if attributions is None:
        mark_absent(section, inputs.missing("attributions.parquet", "attribute"))
        _add_figures(section, inputs)  # edges and boxes in the frame need no relevance
        section["skipped"] = []
    else:
        _add_figures(section, inputs)
        lrp = inputs.table(LRP_SUMMARY_NAME)
        if lrp is None:
            lrp = lrp_summary(attributions)
        if len(lrp):
            section["tables"].append(_lrp_table(lrp))
        if hypotheses is not None and "source" in hypotheses:
            lrp_rows = hypotheses[hypotheses["source"] == "attributions"]
            if len(lrp_rows):
                section["tables"].append(_hypothesis_detail_table(lrp_rows,
                                                                  "Hypotheses on attributions"))
    sections.append(section)

    # Hypothesis details.
    section = _section("hypotheses", "Hypothesis tests in detail",
                       "Differences a − b are paired by image, level and variant (attributions: "
                       "by image; patch interaction: by patch side). Tests are one-sided in the "
                       "stated direction.")
    if hypotheses is None:
        mark_absent(section, inputs.missing("hypotheses.parquet", "analyze"))
    else:
        zero = str(hypotheses["zero_method"].iloc[0]) if "zero_method" in hypotheses and \
            len(hypotheses) else config.analysis.zero_method
        section["method"] = (
            f"Wilcoxon signed-rank (scipy, zero_method = {zero!r}: "
            + {"wilcox": "zero differences are dropped before ranking",
               "pratt": "zero differences are ranked, then dropped",
               "zsplit": "the ranks of zero differences are split between the signs"}.get(
                   zero, zero)
            + "; their number is the 'zeros' column); paired t-test; effect size: matched-pairs"
            " rank-biserial r in [−1, 1], positive when a exceeds b; mean difference with a "
            f"{config.analysis.bootstrap}-resample bootstrap 95 % interval that resamples "
            "images (perturbations of one image are not independent, which the tests, like "
            "the thesis's, do not model); "
            f"Holm correction of the Wilcoxon p-values across all {len(hypotheses)} "
            f"hypotheses; verdict 'supported' when p (Holm) < α = {alpha:g} and the effect "
            "points in the stated direction; 'the opposite holds' when the one-sided test "
            "in the other direction, Holm-corrected across the reversed family, is below "
            "α.")
        section["tables"].append(_hypothesis_detail_table(hypotheses))
        _add_figures(section, inputs)
    sections.append(section)

    # Contact sheets.
    section = _section("probes", "The probes on a few images")
    _add_figures(section, inputs)
    if not section["figures"]:
        reason = analysis_reason or "; ".join(s["reason"] for s in section["skipped"]) \
            or "no contact sheets were made (analysis.contact_sheets = 0)"
        mark_absent(section, reason)
        section["skipped"] = []
    sections.append(section)

    if inputs.analysis is not None:
        for note in inputs.analysis.get("notes", []):
            summary_section["notes"].append(note)
    config_text = (run.config_path.read_text(encoding="utf-8") if run.config_path.exists()
                   else to_toml(config))
    return {
        "title": config.report.title,
        "run_dir": str(run.root),
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "alpha": alpha,
        "summary": summary_section,
        "sections": sections,
        "absent": absent,
        "errors": inputs.errors,
        "config_text": config_text,
        "provenance": _provenance(inputs.manifest),
    }


def _provenance(manifest: dict[str, Any]) -> dict[str, Any]:
    stages = []
    for name, record in manifest.get("stages", {}).items():
        if name == "report":  # this very stage, still running while the page is written
            continue
        summary = record.get("summary") or {}
        stages.append({
            "name": name, "status": record.get("status", ""),
            "seconds": format_number(record.get("seconds"), 4),
            "finished": record.get("finished", ""),
            "summary": json.dumps(summary, default=str)[:300] if summary else "",
            "error": record.get("error") or "",
        })
    return {
        "present": bool(manifest),
        "versions": manifest.get("versions", {}),
        "git_commit": manifest.get("git_commit") or "unknown",
        "seed": manifest.get("seed", ""),
        "created": manifest.get("created", ""),
        "updated": manifest.get("updated", ""),
        "stages": stages,
    }


# --------------------------------------------------------------------------- output


def render_html(context: dict[str, Any]) -> str:
    """Render the report template with a context from :func:`build_context`."""
    environment = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                              autoescape=select_autoescape(["html", "j2"]),
                              trim_blocks=True, lstrip_blocks=True)
    return environment.get_template("report.html.j2").render(**context)


def summary_markdown(context: dict[str, Any], hypotheses: pd.DataFrame | None) -> str:
    """``report/summary.md``: the hypothesis summary and the absent sections."""
    lines = [f"# {context['title']}: summary", "", f"Run: `{context['run_dir']}`", ""]
    if hypotheses is None:
        lines.append(f"No hypothesis results: {context['summary']['absent']}")
    elif hypotheses.empty:
        lines.append("No hypotheses are configured ([[analysis.hypotheses]] in config.toml).")
    else:
        lines.append(summary_table(hypotheses))
        lines += ["", f"One-sided Wilcoxon signed-rank tests, Holm-corrected across the "
                  f"{len(hypotheses)} hypotheses; supported when p (Holm) < α = "
                  f"{context['alpha']:g} and the effect (rank-biserial r) points in the "
                  "stated direction; \"the opposite holds\" when the test in the other "
                  "direction is significant."]
    if context["absent"]:
        lines += ["", "Absent sections:"]
        lines += [f"- {item['title']}: {item['reason']}" for item in context["absent"]]
    lines += ["", "Full report: report/index.html", ""]
    return "\n".join(lines)


def report_stage(ctx: StageContext) -> dict[str, Any]:
    """Write ``report/index.html`` and ``report/summary.md`` for the run; never fails on
    missing inputs (the report says what is absent)."""
    run: RunDir = ctx.run
    context = build_context(run, ctx.config)
    html = render_html(context)
    index = write_text_atomic(run.path("report", "index.html"), html)
    hypotheses = None
    if run.has("hypotheses"):
        hypotheses = pd.read_parquet(run.table_path("hypotheses"))
    write_text_atomic(run.path("report", "summary.md"), summary_markdown(context, hypotheses))
    ctx.log(f"report: {index}")
    figures = sum(len(s["figures"]) for s in context["sections"])
    return {
        "sections": len(context["sections"]) - len(context["absent"]),
        "absent": [item["title"] for item in context["absent"]],
        "figures": figures,
        "hypotheses": 0 if hypotheses is None else len(hypotheses),
        "html_bytes": len(html.encode("utf-8")),
        "supported": 0 if hypotheses is None else int(np.sum(hypotheses["supported"])),
    }
