"""The ``report`` stage: ``report/index.html`` (self-contained) and ``report/summary.md``.

Every input is optional: a stage that never ran leaves its sections explained as
absent. A stage the report reads that failed or is out of date makes the report
refuse, naming the stage and why, so that a page never shows stale or partial
results as if they were current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from localglobal.errors import CorruptArtifactError, StageError
from localglobal.io.atomic import write_text_atomic
from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.estimate import Estimate
from localglobal.pipeline.manifest import Manifest
from localglobal.pipeline.stage import stage

if TYPE_CHECKING:
    from localglobal.config import RunConfig
    from localglobal.pipeline.context import StageContext
    from localglobal.report import ReportInputs

TABLES = ("predictions", "attributions", "hypotheses", "interaction", "probe_summary",
          "lrp_summary", "shape_bias", "edges", "shape_bias_by_category", "accuracy16",
          "error_consistency", "benchmark", "benchmark_conditions", "samples")
"""The tables the report shows (the samples say which images have an object box)."""

OPTIONAL_READS = (*TABLES, "figures", "contact_sheets", "analyze_report")
"""Every artifact the report shows: the tables, the figures and the analysis's record."""

WRITES = (
    Artifact("report_html", "report/index.html", "text",
             "the report: one self-contained HTML page that opens offline"),
    Artifact("report_summary", "report/summary.md", "text",
             "the hypotheses, each model's shape bias and top-1 accuracy on the originals "
             "and at each probe's strongest level, and the absent sections, in Markdown"),
)


def refuse_stale_upstream(ctx: StageContext) -> None:
    """Refuse to report on an upstream stage that failed or is out of date.

    Raises
    ------
    StageError
        Naming each such stage, why, and the command that brings it up to date.
    """
    from localglobal.pipeline.freshness import RunState

    states = RunState(ctx.run, ctx.config)
    problems, commands = [], []
    for name in ctx.run.registry.upstream(ctx.stage.name):
        state = states.state(name)
        if state.status in ("done", "not run"):
            continue
        # This command holds the run's lock, so a stage still marked running was
        # interrupted, not running now (the state says so for the lock's own holder).
        interrupted = state.status == "running" or state.record.get("status") == "running"
        status, reason = ("interrupted", "it did not finish") if interrupted \
            else (state.status, state.reason or "no reason recorded")
        problems.append(f"{name} is {status} ({reason})")
        commands.append(f"`localglobal {name} --run {ctx.run.root}`")
    if problems:
        raise StageError(f"{ctx.stage.name}: refusing to report on results that are not "
                         f"current: {'; '.join(problems)}; run {' and '.join(commands)} "
                         "first (or the whole pipeline with `localglobal run`)")


def read_inputs(ctx: StageContext) -> ReportInputs:
    """The report's inputs from the run directory, as far as they exist."""
    from localglobal.config import to_toml
    from localglobal.report import ReportInputs

    run, catalog = ctx.run, ctx.run.registry.catalog
    inputs = ReportInputs(
        root=run.root, config=ctx.config,
        config_text=(run.config_path.read_text(encoding="utf-8") if run.config_path.exists()
                     else to_toml(ctx.config)),
        sources={name: (catalog[name].path, catalog.producer(name)) for name in OPTIONAL_READS},
        manifest=Manifest(run.root).data)
    for name in TABLES:
        try:
            inputs.tables[name] = run.read(name) if run.has(name) else None
        except CorruptArtifactError as error:  # an unreadable table is reported, not fatal
            inputs.errors.append(str(error))
            inputs.tables[name] = None
    if run.has("analyze_report"):
        inputs.analysis = run.read("analyze_report").get("details")
    return inputs


def _params(config: RunConfig) -> dict[str, Any]:
    return {"config": config.model_dump(mode="json")}


def _estimate(config: RunConfig, earlier: dict[str, Estimate]) -> Estimate:
    return Estimate("report", 0, None, None)


@stage("report", optional_reads=OPTIONAL_READS, writes=WRITES, params=_params, version=3,
       estimate=_estimate,
       description="Write report/index.html and report/summary.md (refused while a stage "
                   "is stale).")
def report(ctx: StageContext) -> dict[str, Any]:
    """Write the report of the run; a missing input is explained in its section.

    Raises
    ------
    StageError
        A stage whose results the report shows failed or is out of date.
    """
    import numpy as np

    from localglobal.report import build_context, render_html, summary_markdown

    refuse_stale_upstream(ctx)
    inputs = read_inputs(ctx)
    context = build_context(inputs)
    html = render_html(context)
    index = write_text_atomic(ctx.run.artifact_path("report_html"), html)
    hypotheses = inputs.table("hypotheses")
    write_text_atomic(ctx.run.artifact_path("report_summary"),
                      summary_markdown(context, hypotheses))
    ctx.log(f"report: {index}")
    return {
        "sections": len(context["sections"]) - len(context["absent"]),
        "absent": [item["title"] for item in context["absent"]],
        "figures": sum(len(s["figures"]) for s in context["sections"]),
        "hypotheses": 0 if hypotheses is None else len(hypotheses),
        "html_bytes": len(html.encode("utf-8")),
        "supported": 0 if hypotheses is None else int(np.sum(hypotheses["supported"])),
    }
