"""The ``analyze`` stage: hypothesis tests, patch interaction, shape bias and figures.

Reads the predictions and, when present, the attributions, the shape bias and
model-vs-human's benchmark (written by the ``geirhos`` stage, drawn here), the samples,
the edge masks, the relevance maps and the heat maps. A run of the ``geirhos`` stage
alone has no predictions: its figures are drawn and the hypotheses, the patch
interaction and the probe summary are skipped, with the reason. Every file it writes
is declared below. What it
did — sections done or skipped, figures drawn or skipped and why — goes into
``analyze-report.json`` (``details``), which the report reads. A figure whose input
is absent is skipped with the reason; nothing downstream of a missing optional input
fails the stage.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from localglobal.errors import ConfigError, CorruptArtifactError, MissingInputError
from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.estimate import Estimate
from localglobal.pipeline.stage import stage

if TYPE_CHECKING:
    import pandas as pd

    from localglobal.analysis.figure_inputs import FigureInputs
    from localglobal.analysis.interaction import Interaction
    from localglobal.analysis.record import AnalysisRecord
    from localglobal.config import RunConfig
    from localglobal.pipeline.context import StageContext
    from localglobal.pipeline.rundir import RunDir

OPTIONAL_READS = ("predictions", "attributions", "shape_bias", "shape_bias_by_category",
                  "benchmark", "benchmark_conditions", "samples", "edge_masks", "relevance",
                  "heatmaps", "perturbations", "perturbation_images")
"""Read when present: attributions and relevance for the LRP section, edges and samples
for the frame densities, heat maps for the gallery, the probe images for the contact
sheets."""

WRITES = (
    Artifact("hypotheses", "hypotheses.parquet", "table",
             "one row per configured hypothesis: the test, its effect and the verdict",
             always=False),
    Artifact("hypothesis_pairs", "hypothesis-pairs.parquet", "table",
             "every paired value behind the hypothesis tests", always=False),
    Artifact("interaction", "interaction.parquet", "table",
             "patch interaction per (model, patch side): r of S and A, A/S", always=False),
    Artifact("interaction_images", "interaction-images.parquet", "table",
             "single-patch drop sum S and all-patches drop A per (model, side, image)",
             always=False),
    Artifact("probe_summary", "probe-summary.parquet", "table",
             "mean true-class probability (in the run's label space) with its interval "
             "per model, probe and level", always=False),
    Artifact("lrp_summary", "lrp-summary.parquet", "table",
             "LRP region statistics per model and control (when attributions exist)",
             always=False),
    Artifact("figures", "figures", "folder", "every figure as PNG and PDF"),
    Artifact("contact_sheets", "figures/contact", "folder",
             "probe contact sheets of a few images (analysis.contact_sheets > 0)",
             always=False),
)


def _optional(run: RunDir, name: str) -> Any:
    return run.read(name) if run.has(name) else None


def _params(config: RunConfig) -> dict[str, Any]:
    from localglobal.analysis.candidates import candidate_hypotheses

    return {"analysis": config.analysis.model_dump(mode="json"), "seed": config.run.seed,
            "hypotheses": [h.id for h in candidate_hypotheses(config.analysis.hypotheses,
                                                               config.evaluate.models)],
            "gallery": config.report.gallery_images, "crop": config.frame.crop,
            # the figures' colours follow the models' order
            "model_order": list(config.model_order())}


def _estimate(config: RunConfig, earlier: dict[str, Estimate]) -> Estimate:
    return Estimate("analyze", 0, None, None)


def _predictions(run: RunDir, record: AnalysisRecord) -> pd.DataFrame:
    from localglobal.analysis.predictions import clean_predictions

    try:
        predictions, notes = clean_predictions(run.read("predictions"))
    except ValueError as error:
        raise CorruptArtifactError(f"{run.artifact_path('predictions')}: {error}; run "
                                   f"`localglobal evaluate --run {run.root} --force`") from None
    record.notes.extend(notes)
    return predictions


def _interaction(predictions: pd.DataFrame, ctx: StageContext, record: AnalysisRecord
                 ) -> Interaction:
    from localglobal.analysis.interaction import patch_interaction

    analysis = ctx.config.analysis
    interaction = patch_interaction(predictions, measure=analysis.interaction_measure,
                                    n_resamples=analysis.bootstrap, seed=ctx.config.run.seed)
    if (predictions["probe"] == "patch").any():
        record.section("interaction", "done",
                       models=int(interaction.summary["model"].nunique()),
                       sizes=int(interaction.summary["size"].nunique()))
    else:
        record.section("interaction", "skipped", "no patch predictions in this run")
    record.notes.extend(interaction.notes)
    return interaction


def _shape_bias(run: RunDir, record: AnalysisRecord) -> pd.DataFrame | None:
    """The ``geirhos`` stage's shape bias (to draw), or why there is none."""
    from localglobal.analysis.geirhos_metrics import HUMANS

    bias = _optional(run, "shape_bias")
    if bias is None or not len(bias):
        record.section("shape_bias", "skipped",
                       f"{run.registry.catalog['shape_bias'].path} is missing or empty: no "
                       "cue-conflict stimuli were judged (geirhos.stimuli and geirhos.humans "
                       "unset, or the geirhos stage has not run)")
        return None
    if "kind" in bias:  # the models and the humans' mean; each observer is in the report
        bias = bias[(bias["kind"] == "model") | (bias["model"] == HUMANS)]
    record.section("shape_bias", "done", models=len(bias))
    return bias


def _lrp(run: RunDir, attributions: pd.DataFrame | None, record: AnalysisRecord
         ) -> pd.DataFrame | None:
    from localglobal.analysis.summaries import lrp_summary

    if attributions is None:
        run.artifact_path("lrp_summary").unlink(missing_ok=True)
        record.section("lrp", "skipped",
                       "attributions.parquet is missing: the attribute stage has not run")
        return None
    lrp = lrp_summary(attributions)
    run.write("lrp_summary", lrp)
    record.section("lrp", "done", models=int(attributions["model"].nunique()))
    return lrp


def _figures(ctx: StageContext, record: AnalysisRecord, inputs: FigureInputs,
             image_ids: list[str]) -> None:
    """Every figure, the contact sheets, and no stale figure of an earlier run."""
    from localglobal.analysis.figure_drawing import (
        contact_sheets,
        draw_figures,
        remove_stale_figures,
    )
    from localglobal.analysis.figure_specs import figure_specs
    from localglobal.analysis.gallery import spread
    from localglobal.report.contact_sheet import write_contact_sheet

    run, analysis = ctx.run, ctx.config.analysis
    specs = figure_specs(inputs)
    folder = run.artifact_path("figures")
    draw_figures(specs, folder, run.root, analysis.figure_dpi, record,
                 lambda message: ctx.log(message, style="yellow"))
    if analysis.contact_sheets:
        contact_sheets(functools.partial(write_contact_sheet, run),
                       spread(image_ids, analysis.contact_sheets),
                       run.artifact_path("contact_sheets"), run.root, record)
    remove_stale_figures(folder, specs, record)


PREDICTION_OUTPUTS = ("hypotheses", "hypothesis_pairs", "interaction", "interaction_images",
                      "probe_summary")
"""What the analysis computes from the predictions (absent without them)."""


def _benchmark_only(ctx: StageContext, record: AnalysisRecord) -> dict[str, Any]:
    """A run of the geirhos stage alone: its figures, nothing from predictions.

    Raises
    ------
    MissingInputError
        Neither predictions nor any result of the geirhos stage to analyse.
    StageError
        A stage it reads (evaluate) failed or is out of date.
    """
    from localglobal.analysis.figure_inputs import FigureInputs
    from localglobal.stages.report import refuse_stale_upstream

    run = ctx.run
    refuse_stale_upstream(ctx)  # an evaluate that failed is not a benchmark-only run
    if not any(run.has(name) for name in ("benchmark", "shape_bias")):
        raise MissingInputError(
            f"analyze needs evaluate (or geirhos) first: {run.artifact_path('predictions')} "
            f"is missing; run `localglobal evaluate --run {run.root}` (or `localglobal "
            f"geirhos --run {run.root}`)")
    for name in PREDICTION_OUTPUTS:  # nothing stale of an earlier run with predictions
        run.artifact_path(name).unlink(missing_ok=True)
    reason = "no predictions: the evaluate stage has not run (a benchmark-only run)"
    for section in ("hypotheses", "interaction"):
        record.section(section, "skipped", reason)
    bias = _shape_bias(run, record)
    _figures(ctx, record, FigureInputs.from_run(run, ctx.config, shape_bias=bias),
             image_ids=[])
    ctx.details.update(record.as_dict())
    return {"hypotheses": 0, "figures": len(record.figures),
            "figures_skipped": len(record.figures_skipped),
            "shape_bias_models": 0 if bias is None else len(bias)}


@stage("analyze", optional_reads=OPTIONAL_READS, writes=WRITES,
       params=_params, version=4, estimate=_estimate,
       description="Hypothesis tests, the patch-interaction analysis and figures.")
def analyze(ctx: StageContext) -> dict[str, Any]:
    """Test the hypotheses, measure the patch interaction and draw every figure.

    Raises
    ------
    MissingInputError
        Without ``predictions.parquet`` and without any result of the geirhos stage.
    StageError
        Without predictions, a stage it reads failed or is out of date.
    ConfigError
        A configured hypothesis names a model, probe, level, control or measure that
        the run does not hold (before anything is written). Unset, the thesis
        hypotheses that fit the run are tested, and none when none fits (a note).
    CorruptArtifactError
        The predictions lack ``model`` or ``item_id``, or their item ids cannot be parsed.
    """
    from localglobal.analysis.figure_inputs import FigureInputs
    from localglobal.analysis.hypotheses import (
        StatisticalTestSettings,
        choose_hypotheses,
        evaluate_hypotheses,
    )
    from localglobal.analysis.predictions import decision_of
    from localglobal.analysis.record import AnalysisRecord
    from localglobal.analysis.summaries import probe_summary

    run, analysis, record = ctx.run, ctx.config.analysis, AnalysisRecord()
    if not run.has("predictions"):
        return _benchmark_only(ctx, record)
    predictions = _predictions(run, record)
    attributions = _optional(run, "attributions")
    # Curves and default tests read the decision in the run's label space.
    decision = decision_of(predictions)
    if decision.subset:
        record.notes.append(f"decisions are read in {decision.label} (the dataset's label "
                            f"space), not in {decision.full_label}: the curves and the "
                            f"default tests use {decision.measure}")
    try:
        hypotheses, notes = choose_hypotheses(analysis.hypotheses, predictions, attributions,
                                              measure=decision.measure)
    except ValueError as error:  # the configuration does not fit the run: the user's to fix
        raise ConfigError(f"{run.config_path}: {error}") from None
    record.notes.extend(notes)
    samples = _optional(run, "samples")

    interaction = _interaction(predictions, ctx, record)
    run.write("interaction", interaction.summary)
    run.write("interaction_images", interaction.images)
    settings = StatisticalTestSettings(
        zero_method=analysis.zero_method, n_resamples=analysis.bootstrap,
        interaction_method=analysis.interaction_test, alpha=analysis.alpha,
        seed=ctx.config.run.seed)
    results = evaluate_hypotheses(
        hypotheses, predictions, attributions, interaction.summary,
        interaction_images=interaction.images, interaction_measure=analysis.interaction_measure,
        settings=settings)
    run.write("hypotheses", results.table)
    run.write("hypothesis_pairs", results.pairs)
    record.section("hypotheses", "done", n=len(results.table),
                   verdicts=results.table["verdict"].value_counts().to_dict(),
                   chosen="configured" if analysis.hypotheses is not None else "default")
    summary = probe_summary(predictions, decision.measure)
    run.write("probe_summary", summary)
    bias = _shape_bias(run, record)
    lrp = _lrp(run, attributions, record)

    _figures(ctx, record, FigureInputs.from_run(
        run, ctx.config, probe_summary=summary, interaction=interaction.summary,
        interaction_images=interaction.images, hypotheses=results.table, pairs=results.pairs,
        lrp_summary=lrp, shape_bias=bias, samples=samples, attributions=attributions),
        image_ids=(samples["image_id"].astype(str).tolist() if samples is not None
                   else sorted(predictions["image_id"].unique())))
    ctx.details.update(record.as_dict())
    return {
        "hypotheses": len(results.table),
        "supported": int(results.table["supported"].sum()),
        "not_tested": int((results.table["verdict"] == "not tested").sum()),
        "figures": len(record.figures),
        "figures_skipped": len(record.figures_skipped),
        "shape_bias_models": 0 if bias is None else len(bias),
    }
