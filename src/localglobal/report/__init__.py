"""The report: one self-contained HTML page and a Markdown summary of a run.

It opens with the summary — each hypothesis in one line with its direction, effect
size, Holm-corrected p and a plain verdict, and each model's accuracy — then a section
per probe, shape bias, LRP, the hypothesis details, and the run's configuration and
provenance. A section whose inputs are missing says which file is absent and which
stage writes it.

Modules: :mod:`~.formatting` (numbers, p-values, verdicts), :mod:`~.inputs` (what the
report is made from), :mod:`~.tables` (result tables), :mod:`~.accuracy` (top-1
accuracy on the originals and at each probe's strongest level), :mod:`~.sections` (one
function per section, :func:`~.sections.build_context`), :mod:`~.render` (HTML and
Markdown).
"""

from localglobal.report.inputs import ReportInputs
from localglobal.report.render import render_html, summary_markdown, summary_table
from localglobal.report.sections import build_context

__all__ = ["ReportInputs", "build_context", "render_html", "summary_markdown",
           "summary_table"]
