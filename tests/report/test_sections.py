"""The report's sections from its inputs: what is shown, and why the rest is absent."""

import pandas as pd
import pytest

from localglobal.config import RunConfig
from localglobal.report import ReportInputs, build_context, render_html
from localglobal.report.sections import contact_section, lrp_section, summary_section

SOURCES = {"hypotheses": ("hypotheses.parquet", "analyze"),
           "predictions": ("predictions.parquet", "evaluate"),
           "attributions": ("attributions.parquet", "attribute"),
           "analyze_report": ("analyze-report.json", "analyze"),
           "shape_bias": ("shape_bias.parquet", "geirhos"),
           "interaction": ("interaction.parquet", "analyze")}


@pytest.fixture
def empty(tmp_path) -> ReportInputs:
    return ReportInputs(root=tmp_path, config=RunConfig(), config_text="[run]\n",
                        sources=SOURCES)


def test_an_empty_run_names_every_missing_input(empty):
    context = build_context(empty)
    html = render_html(context)
    assert "hypotheses.parquet is missing: the analyze stage has not run" in html
    assert "predictions.parquet is missing: the evaluate stage has not run" in html
    assert "manifest.json is missing" in html
    titles = {item["title"] for item in context["absent"]}
    assert {"Summary", "Scrambling", "LRP relevance, edges and boxes",
            "The probes on a few images"} <= titles


def test_a_failed_stage_is_named_with_its_error(empty):
    empty.manifest = {"stages": {"attribute": {"status": "failed",
                                               "error": "RuntimeError: out of memory"}}}
    section = lrp_section(empty)
    assert section["absent"] == ("attributions.parquet is missing: the attribute stage "
                                 "failed: RuntimeError: out of memory")


def test_configured_hypotheses_missing_from_the_results_are_noted(fake_run):
    run = fake_run.run
    inputs = ReportInputs(root=run.root, config=fake_run.config, sources=SOURCES,
                          tables={"hypotheses": None})
    assert summary_section(inputs)["absent"].startswith("hypotheses.parquet is missing")
    inputs.tables["hypotheses"] = pd.DataFrame({
        "hypothesis": ["SCR"], "n": [3], "supported": [True], "p_holm": [0.01]})
    inputs.analysis = {"notes": ["2 repeated rows"]}
    notes = summary_section(inputs)["notes"]
    assert any("configured but not in hypotheses.parquet" in n and "SMO" in n for n in notes)
    assert "2 repeated rows" in notes


def test_contact_sheets_off_is_the_reason_they_are_absent(empty):
    empty.analysis = {"figures": [], "figures_skipped": []}
    assert contact_section(empty)["absent"] == (
        "no contact sheets were made (analysis.contact_sheets = 0)")


def test_a_figure_file_gone_since_the_analysis_is_named(empty):
    empty.analysis = {"figures": [{"name": "qq", "section": "probes", "title": "Sheet",
                                   "png": "figures/contact/x.png"}]}
    section = contact_section(empty)
    assert "figures/contact/x.png is missing; re-run the analyze stage" in section["absent"]
