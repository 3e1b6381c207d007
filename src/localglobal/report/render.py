"""The report as files: the self-contained HTML page and the Markdown summary.

``index.html`` opens offline: figures are embedded as ``data:`` URIs, the style sheet
is inline, and nothing is fetched. ``summary.md`` holds, for a terminal (the command
line prints it after a run), the hypotheses, each model's shape bias and its top-1
accuracy on the originals and at each probe's strongest level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from localglobal.analysis.hypotheses import VERDICT_RULE
from localglobal.report.accuracy import accuracy_markdown
from localglobal.report.formatting import alpha_of, markdown_table, summary_rows

TEMPLATES = Path(__file__).parent / "templates"


def render_html(context: dict[str, Any]) -> str:
    """Render the report template.

    Parameters
    ----------
    context : dict
        From :func:`localglobal.report.sections.build_context`.

    Returns
    -------
    str
        The HTML page.
    """
    environment = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                              autoescape=select_autoescape(["html", "j2"]),
                              trim_blocks=True, lstrip_blocks=True)
    return environment.get_template("report.html.j2").render(**context)


def summary_table(hypotheses: pd.DataFrame) -> str:
    """The hypotheses as a Markdown table: what the command line prints after a run.

    Parameters
    ----------
    hypotheses : pandas.DataFrame
        ``hypotheses.parquet`` (the contract columns; ``description``, ``direction``
        and ``verdict`` are used when present).

    Returns
    -------
    str
        A Markdown table, one line per hypothesis, with the direction, the effect size
        (matched-pairs rank-biserial r), the Holm-corrected p and the verdict at α.
    """
    alpha = alpha_of(hypotheses)
    header = ["hypothesis", "description", "direction", "n", "effect size r",
              "p (Holm)", f"verdict at α = {alpha:g}"]
    keys = ("hypothesis", "description", "direction", "n", "effect_size", "p_holm", "verdict")
    rows = ([row[k] for k in keys] for row in summary_rows(hypotheses))
    return "\n".join(markdown_table(header, rows))


def _hypothesis_lines(context: dict[str, Any], hypotheses: pd.DataFrame | None) -> list[str]:
    summary = context["summary"]
    if hypotheses is None:
        lines = [f"No hypothesis results: {summary['absent']}"]
    elif hypotheses.empty:
        lines = [summary.get("empty") or "No hypotheses are configured "
                 "([[analysis.hypotheses]] in config.toml)."]
    else:
        lines = [summary_table(hypotheses), "",
                 f"n counts images; p is each hypothesis's one-sided test on the image "
                 f"level, Holm-corrected across the {len(hypotheses)} hypotheses "
                 f"(α = {context['alpha']:g}). {VERDICT_RULE}"]
    notes = summary.get("notes", [])
    return lines + (["", *[f"Note: {note}" for note in notes]] if notes else [])


def summary_markdown(context: dict[str, Any], hypotheses: pd.DataFrame | None) -> str:
    """``report/summary.md``: the hypotheses, each model's shape bias and its accuracy on
    the originals and at each probe's strongest level, and the absent sections.

    Parameters
    ----------
    context : dict
        From :func:`localglobal.report.sections.build_context`.
    hypotheses : pandas.DataFrame, optional
        ``hypotheses.parquet``; None when the analyze stage has not written it.

    Returns
    -------
    str
        The Markdown text.
    """
    lines = [f"# {context['title']}: summary", "", f"Run: `{context['run_dir']}`", "",
             "## Hypotheses", "", *_hypothesis_lines(context, hypotheses), "",
             "## Shape bias", ""]
    lines += context.get("shape_bias_lines") or [
        f"Not measured: {context.get('shape_bias_reason') or 'no shape-bias table'}"]
    if context.get("benchmark_lines"):
        lines += ["", "## model-vs-human benchmark", "", *context["benchmark_lines"]]
    lines += ["", "## Accuracy", ""]
    accuracy = context.get("accuracy")
    if accuracy is not None and len(accuracy):
        lines += accuracy_markdown(accuracy, context.get("models"))
    elif context.get("benchmark_lines"):
        lines.append("No probe accuracy (the evaluate stage has not run); the 16-class "
                     "accuracy of every model is in the benchmark above.")
    else:
        lines.append("No accuracy: no predictions to compute it from "
                     "(predictions.parquet is missing or unreadable).")
    lines += ["", *(f"- {note}" for note in context["accuracy_notes"])] \
        if context.get("accuracy_notes") else []
    if context.get("box_note"):
        lines += ["", context["box_note"]]
    if context["absent"]:
        lines += ["", "## Absent sections", ""]
        lines += [f"- {item['title']}: {item['reason']}" for item in context["absent"]]
    lines += ["", "Full report: report/index.html", ""]
    return "\n".join(lines)
