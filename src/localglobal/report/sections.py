"""The report's sections, one function each, and the context the template renders.

Every section is a dict (``key, title, intro, figures, skipped, tables, absent,
notes``); a section whose inputs are missing says why in ``absent`` instead of
failing. :func:`build_context` puts them together with the configuration and the
provenance.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import pandas as pd

from localglobal.analysis.figures import METHOD_NAMES, method_label
from localglobal.analysis.hypotheses import VERDICT_RULE
from localglobal.analysis.predictions import clean_predictions, decision_of, non_finite_notes
from localglobal.analysis.summaries import lrp_summary, probe_summary
from localglobal.attribution.regions import BOX_STATISTICS
from localglobal.probes.catalog import by_section, described_probes, section_title
from localglobal.probes.registry import Probe
from localglobal.report.accuracy import accuracy_display, probe_accuracy, strongest_text
from localglobal.report.formatting import alpha_of, format_number, summary_rows
from localglobal.report.geirhos_tables import (
    accuracy_table,
    benchmark_markdown,
    benchmark_section,
    consistency_table,
    drawn_figures,
    shape_bias_lines,
)
from localglobal.report.inputs import ReportInputs
from localglobal.report.tables import (
    column_notes,
    hypothesis_detail_table,
    interaction_table,
    lrp_table,
    probe_tables,
    shape_bias_table,
    thesis_forms_table,
)

Section = dict[str, Any]

INTERACTION_NOTE = (
    "The patch interaction asks whether the drops of single patches add up to the drop "
    "of all of them (S = Σ single drops, A = all-patches drop).")
LRP_INTRO = (
    "Where the relevance of each model's decision lies, relative to Canny edges (the shape "
    "proxy) inside the object box (the whole image where there is none); the "
    "randomised-weights and shuffled-edges controls show what chance gives. Canny marks "
    "texture boundaries inside the object as well as its outline, so a share on edges tells "
    "which pixels a decision used, not whether they served as shape or as texture; read it "
    "beside the controls, the box-based metrics and the perturbation probes.")
SHAPE_BIAS_INTRO = (
    "Geirhos et al.'s measure: on images whose shape and texture come from different "
    "classes, the share of shape decisions among shape and texture decisions.")
HYPOTHESES_INTRO = (
    "Differences a − b are paired by image, level and variant and averaged per image "
    "(attributions: by image; patch interaction: by image and patch side). Tests are "
    "one-sided in the stated direction.")
ZERO_METHODS = {"wilcox": "zero differences are dropped before ranking",
                "pratt": "zero differences are ranked, then dropped",
                "zsplit": "the ranks of zero differences are split between the signs"}


def new_section(key: str, title: str, intro: str = "") -> Section:
    """An empty section."""
    return {"key": key, "title": title, "intro": intro, "figures": [], "skipped": [],
            "tables": [], "absent": "", "notes": []}


def add_figures(section: Section, inputs: ReportInputs) -> None:
    """Put the analysis's figures of ``section`` (and those it skipped) into it."""
    shown, skipped = drawn_figures(inputs, section["key"])
    section["figures"].extend(shown)
    section["skipped"].extend(skipped)


def clean_inputs(inputs: ReportInputs) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The cleaned predictions and the probe summary (computed when analyze wrote none)."""
    predictions = inputs.table("predictions")
    if predictions is not None:
        try:
            predictions, _ = clean_predictions(predictions)
        except ValueError as error:
            inputs.errors.append(str(error))
            predictions = None
    summary = inputs.table("probe_summary")
    measure = decision_of(predictions).measure
    if summary is None and predictions is not None and measure in predictions:
        summary = probe_summary(predictions, measure)
    return predictions, summary


def model_order(inputs: ReportInputs) -> list[str]:
    """The run's models in the configuration's order (:meth:`RunConfig.model_order`), as
    the figures order them."""
    return list(inputs.config.model_order())


def models_that_ran(inputs: ReportInputs) -> list[str]:
    """The configured models (in order) that some stage produced results of."""
    found: set[str] = set()
    for name, column in (("predictions", "model"), ("attributions", "model"),
                         ("shape_bias", "model"), ("benchmark", "observer")):
        table = inputs.table(name)
        if table is not None and column in table:
            found.update(table[column].astype(str).unique())
    return [m for m in model_order(inputs) if m in found] + sorted(
        m for m in found if m not in set(model_order(inputs)) and _is_model(inputs, m))


def _is_model(inputs: ReportInputs, name: str) -> bool:
    for table_name, column in (("shape_bias", "model"), ("benchmark", "observer")):
        table = inputs.table(table_name)
        if table is not None and "kind" in table:
            kinds = table[table[column].astype(str) == name]["kind"]
            if len(kinds):
                return bool((kinds == "model").all())
    return True


def _analysis_reason(inputs: ReportInputs, section: str) -> str:
    """Why the analysis skipped ``section`` ("" when it did not, or did not run)."""
    recorded = (inputs.analysis or {}).get("sections", {}).get(section, {})
    return recorded.get("reason", "") if recorded.get("status") == "skipped" else ""


def box_counts(inputs: ReportInputs) -> tuple[int, int]:
    """(images, images without an object box) of the run's samples; (0, 0) when the
    samples are absent or carry no box columns."""
    samples = inputs.table("samples")
    if samples is None or not len(samples) or "image_id" not in samples:
        return 0, 0
    images = samples.drop_duplicates("image_id")
    if "has_box" in images:
        boxed = images["has_box"].fillna(False).astype(bool)
    elif "box_x0" in images:
        boxed = images["box_x0"].notna()
    else:
        return 0, 0
    return len(images), int((~boxed.to_numpy()).sum())


def box_note(inputs: ReportInputs) -> str:
    """Why the box-based measures are NaN for images without an object box ("" when
    every image has one, or the samples are absent)."""
    n_images, lacking = box_counts(inputs)
    if not lacking:
        return ""
    which = (f"none of the run's {n_images} images has an object box" if lacking == n_images
             else f"{lacking} of the run's {n_images} images have no object box")
    why = ("index.require_box = false and no annotation gives one"
           if not inputs.config.index.require_box else "no annotation gives one")
    hidden = ("hidden from this report" if lacking == n_images
              else "left out of the means and the tests on them")
    return (f"Box-based measures are NaN: {which} ({why}), so the measures that mean 'on "
            f"the object' ({', '.join(BOX_STATISTICS)}) are undefined there and {hidden}; "
            "the edge measures (shares on edges, auc_edges, the edge enrichments) are "
            "computed on the whole image instead.")


def accuracy_of(inputs: ReportInputs, predictions: pd.DataFrame | None,
                probes: list[Probe] | None = None) -> pd.DataFrame | None:
    """:func:`~localglobal.report.accuracy.probe_accuracy` of the cleaned predictions, or
    None (an unusable table is named in the report's errors)."""
    if predictions is None or not len(predictions):
        return None
    if not {"correct", "true_rank"} & set(predictions) and not {
            "pred_index", "true_index"} <= set(predictions):
        inputs.errors.append("predictions.parquet has none of correct, true_rank or "
                             "pred_index and true_index: no accuracy table")
        return None
    return probe_accuracy(predictions, probes or run_probes(inputs, predictions))


def summary_section(inputs: ReportInputs, accuracy: pd.DataFrame | None = None) -> Section:
    """One line per hypothesis, the accuracy table; notes on configured hypotheses the
    analysis lacks."""
    section = new_section("summary", "Summary")
    hypotheses = inputs.table("hypotheses")
    configured = inputs.config.analysis.hypotheses
    section["empty"] = (
        "No hypotheses are configured ([[analysis.hypotheses]] in config.toml)."
        if configured is not None else
        "No hypothesis was tested: analysis.hypotheses is unset and no thesis hypothesis "
        "fits this run's models ([[analysis.hypotheses]] in config.toml tests your own).")
    if accuracy is not None and len(accuracy):
        section["tables"].append(accuracy_display(accuracy, model_order(inputs)))
    if hypotheses is None:
        section["absent"] = (_analysis_reason(inputs, "hypotheses")
                             or inputs.missing("hypotheses"))
    else:
        section["rows"] = summary_rows(hypotheses)
        stale = {h.id for h in configured or []} - set(hypotheses["hypothesis"])
        if stale:
            section["notes"].append("configured but not in hypotheses.parquet (re-run "
                                    "analyze): " + ", ".join(sorted(stale)))
    section["notes"].extend((inputs.analysis or {}).get("notes", []))
    return section


def _patch_extras(section: Section, inputs: ReportInputs) -> None:
    interaction = inputs.table("interaction")
    if interaction is not None and len(interaction):
        section["tables"].append(interaction_table(interaction))
    else:
        section["notes"].append(
            "patch-interaction table absent: "
            + (inputs.missing("interaction") if interaction is None
               else "no complete patch images"))


def run_probes(inputs: ReportInputs, predictions: pd.DataFrame | None) -> list[Probe]:
    """The run's probes (configured, then any other in the predictions), described by
    their declarations; no code is loaded."""
    present = [] if predictions is None else list(pd.unique(predictions["probe"].astype(str)))
    return described_probes(inputs.config, present)


def probe_intro(probes: list[Probe]) -> str:
    """A section's introduction: what its probes do, keep and destroy."""
    parts = []
    for probe in probes:
        text = probe.description
        if probe.keeps and probe.destroys:
            text += f" It keeps {probe.keeps} and destroys {probe.destroys}."
        parts.append(text)
    return " ".join(parts)


def probe_section(key: str, probes: list[Probe], inputs: ReportInputs,
                  predictions: pd.DataFrame | None, summary: pd.DataFrame | None) -> Section:
    """A report section's curves and tables, or why they are absent."""
    title = section_title(probes)
    section = new_section(key, title, probe_intro(probes))
    names = [p.name for p in probes]
    if predictions is None:
        section["absent"] = inputs.missing("predictions")
        return section
    if not set(predictions["probe"]).intersection(names):
        section["absent"] = (f"no {' or '.join(names)} images were evaluated in this run "
                             f"(probes.probes = {inputs.config.probes.probes})")
        return section
    add_figures(section, inputs)
    if inputs.analysis_reason():
        section["notes"].append(f"figures absent: {inputs.analysis_reason()}")
    if summary is not None:
        section["tables"].extend(probe_tables(summary, probes))
    if key == "patch":
        section["notes"].append(INTERACTION_NOTE)
        _patch_extras(section, inputs)
    return section


def shape_bias_section(inputs: ReportInputs) -> Section:
    """The cue-conflict shape bias per model, or why it is absent."""
    section = new_section("shape_bias", "Shape bias (cue conflict)", SHAPE_BIAS_INTRO)
    bias = inputs.table("shape_bias")
    if bias is None:
        recorded = (inputs.analysis or {}).get("sections", {}).get("shape_bias", {})
        section["absent"] = recorded.get("reason") or inputs.missing("shape_bias")
        return section
    add_figures(section, inputs)
    section["tables"].append(shape_bias_table(bias))
    accuracy, pairs = inputs.table("accuracy16"), inputs.table("error_consistency")
    if accuracy is not None and accuracy["dataset"].isin(["edge", "silhouette"]).any():
        section["tables"].append(accuracy_table(accuracy))
    if pairs is not None and len(pairs) and (pairs["pair"] != "model-model").any():
        section["tables"].append(consistency_table(pairs))
    return section


def attribution_method(inputs: ReportInputs, attributions: pd.DataFrame | None) -> str:
    """The attribution method as headings name it: from the attributions' ``method``
    column, else from ``attribute.composite`` ("relevance" for ``auto``)."""
    if attributions is not None and "method" in attributions and len(attributions):
        return method_label(attributions["method"])
    composite = inputs.config.attribute.composite
    if composite == "auto":
        return "relevance"
    return method_label([composite if composite in METHOD_NAMES else f"lrp-{composite}"])


def lrp_section(inputs: ReportInputs, no_box_note: str = "") -> Section:
    """LRP statistics and figures, or why they are absent (the frame densities of edges
    and boxes are shown even without relevance); ``no_box_note``: :func:`box_note`."""
    attributions = inputs.table("attributions")
    method = attribution_method(inputs, attributions)
    n_images, lacking = box_counts(inputs)
    heading = ("Relevance" if method == "relevance" else f"{method} relevance") + ", edges" + (
        "" if n_images and lacking == n_images else " and boxes")
    section = new_section("lrp", heading, LRP_INTRO)
    add_figures(section, inputs)
    if no_box_note:
        section["notes"].append(no_box_note)
    if attributions is None:
        section["absent"] = inputs.missing("attributions")
        section["skipped"] = []  # the absent note says it for every figure
        return section
    lrp = inputs.table("lrp_summary")
    if lrp is None:
        lrp = lrp_summary(attributions)
    if len(lrp):
        section["tables"].append(lrp_table(lrp, method))
    _proxy_checks(section, inputs, attributions, method)
    if "method" in attributions and len(attributions):
        methods = attributions.groupby("model", sort=False)["method"].first()
        section["notes"].append("Attribution method per model: " + "; ".join(
            f"{model}: {method}" for model, method in methods.items()))
    hypotheses = inputs.table("hypotheses")
    if hypotheses is not None and "source" in hypotheses:
        rows = hypotheses[hypotheses["source"] == "attributions"]
        if len(rows):
            section["tables"].append(hypothesis_detail_table(rows, "Hypotheses on attributions"))
    return section


def _proxy_checks(section: Section, inputs: ReportInputs, attributions: pd.DataFrame,
                  method: str) -> None:
    """How often Canny found nothing, and the relevance measures against the true outline."""
    edges = inputs.table("edges")
    if edges is not None and "empty" in edges and len(edges):
        empty = int(edges["empty"].astype(bool).sum())
        section["notes"].append(
            f"Canny found no edge pixel in {empty} of {len(edges)} images (edges.parquet "
            "'empty'): the shape proxy failed there, and their edge measures are undefined "
            "and left out." if empty else f"Canny found edges in all {len(edges)} images.")
    if "proxy" in attributions and (attributions["proxy"] == "outline").any():
        truth = lrp_summary(attributions, proxy="outline")
        if len(truth):
            table = lrp_table(truth, method)
            table["title"] = (f"{method} statistics against the true object outline (the "
                              "proxy checked against the truth): mean [95 % interval]")
            section["tables"].append(table)


def method_text(hypotheses: pd.DataFrame, inputs: ReportInputs) -> str:
    """How the hypotheses were tested, in one paragraph."""
    analysis = inputs.config.analysis
    zero = (str(hypotheses["zero_method"].iloc[0])
            if "zero_method" in hypotheses and len(hypotheses) else analysis.zero_method)
    return (
        "The unit of inference is the image: each hypothesis's test (the 'test' column) "
        "runs on per-image means of the differences, n counts images. Wilcoxon signed-rank "
        f"(scipy, zero_method = {zero!r}: {ZERO_METHODS.get(zero, zero)}; their number is "
        "the 'zeros' column), with Shapiro–Wilk and the paired t-test beside it; the patch "
        "interaction compares Fisher-z correlations with a within-image permutation or an "
        "image bootstrap. Effect size: matched-pairs rank-biserial r in [−1, 1], positive "
        f"when a exceeds b; mean difference with a {analysis.bootstrap}-resample bootstrap "
        "95 % interval that resamples images. The thesis's test on every pair is kept "
        "beside it ('Wilcoxon p, pairs', 't-test p, pairs') only to reproduce its numbers. "
        f"Holm correction of p across all {len(hypotheses)} hypotheses. " + VERDICT_RULE)


def hypotheses_section(inputs: ReportInputs) -> Section:
    """Every statistic of every test, the method, and the Q-Q plots."""
    section = new_section("hypotheses", "Hypothesis tests in detail", HYPOTHESES_INTRO)
    hypotheses = inputs.table("hypotheses")
    if hypotheses is None:
        section["absent"] = (_analysis_reason(inputs, "hypotheses")
                             or inputs.missing("hypotheses"))
        return section
    section["method"] = method_text(hypotheses, inputs)
    forms = thesis_forms_table(hypotheses)
    if forms is not None:
        section["tables"].append(forms)
        section["notes"].append(
            "Each thesis hypothesis appears twice: as the thesis computed it (its own "
            "measure; 'thesis: p on pairs' is its test on every pair, for replication) and "
            "in a corrected form ('-img': drops relative to each image's original, or a "
            "measure that isolates edges, tested on images); 'what differs' names the "
            "settings that changed.")
    section["tables"].append(hypothesis_detail_table(hypotheses))
    section["notes"].append("Verdict rule: " + VERDICT_RULE)
    section["notes"].extend(column_notes())
    add_figures(section, inputs)
    return section


def contact_section(inputs: ReportInputs) -> Section:
    """The probe contact sheets, or why there are none."""
    section = new_section("probes", "The probes on a few images")
    add_figures(section, inputs)
    if not section["figures"]:
        section["absent"] = (inputs.analysis_reason()
                             or "; ".join(s["reason"] for s in section["skipped"])
                             or "no contact sheets were made (analysis.contact_sheets = 0)")
        section["skipped"] = []
    return section


def provenance(manifest: dict[str, Any]) -> dict[str, Any]:
    """Versions, commit, seed and every stage's status and time, from the manifest."""
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


def _shape_bias_lines(inputs: ReportInputs) -> list[str]:
    """Each model's shape bias for ``summary.md``, and a line for each configured model
    that has none."""
    bias = inputs.table("shape_bias")
    lines = shape_bias_lines(bias)
    if not lines:
        return []
    measured = set(bias["model"].astype(str))
    lines += [f"- {model}: – (no cue-conflict decisions of it in shape_bias.parquet)"
              for model in models_that_ran(inputs) if model not in measured]
    return lines


def build_context(inputs: ReportInputs) -> dict[str, Any]:
    """Everything the HTML template shows, gathered from the run's inputs.

    Parameters
    ----------
    inputs : ReportInputs
        The run's tables, the analysis's record, the manifest and the configuration.

    Returns
    -------
    dict
        ``title, run_dir, generated, alpha, summary, sections, absent, errors,
        config_text, provenance``.
    """
    predictions, summary = clean_inputs(inputs)
    hypotheses = inputs.table("hypotheses")
    alpha = (alpha_of(hypotheses, inputs.config.analysis.alpha) if hypotheses is not None
             else inputs.config.analysis.alpha)
    probes = run_probes(inputs, predictions)
    accuracy = accuracy_of(inputs, predictions, probes)
    head = summary_section(inputs, accuracy)
    accuracy_notes = non_finite_notes(predictions) if predictions is not None else []
    head["notes"].extend(accuracy_notes)
    sections = [probe_section(key, members, inputs, predictions, summary)
                for key, members in by_section(probes).items()]
    no_box = box_note(inputs)
    benchmark = inputs.table("benchmark")
    if benchmark is not None and len(benchmark):  # a run without the benchmark omits it
        sections.append(benchmark_section(inputs))
    sections += [shape_bias_section(inputs), lrp_section(inputs, no_box),
                 hypotheses_section(inputs),
                 contact_section(inputs)]
    absent = [{"key": s["key"], "title": s["title"], "reason": s["absent"]}
              for s in [head, *sections] if s["absent"]]
    return {
        "title": inputs.config.report.title,
        "run_dir": str(inputs.root),
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "alpha": alpha,
        "summary": head,
        "sections": sections,
        "absent": absent,
        "errors": inputs.errors,
        "config_text": inputs.config_text,
        "provenance": provenance(inputs.manifest),
        "shape_bias_lines": _shape_bias_lines(inputs),
        "shape_bias_reason": "" if inputs.table("shape_bias") is not None else (
            (inputs.analysis or {}).get("sections", {}).get("shape_bias", {}).get("reason")
            or inputs.missing("shape_bias")),
        "accuracy": accuracy,
        "accuracy_notes": accuracy_notes,
        "models": models_that_ran(inputs),
        "benchmark_lines": benchmark_markdown(inputs.table("benchmark")),
        "box_note": no_box,
        "accuracy_levels": strongest_text(accuracy) if accuracy is not None else "",
    }
