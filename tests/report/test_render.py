"""The report's files: the Markdown summary and the HTML page."""

import numpy as np
import pandas as pd

from localglobal.analysis.hypotheses import CONTRACT_COLUMNS, VERDICT_RULE
from localglobal.config import RunConfig
from localglobal.report import ReportInputs, build_context, render_html, summary_markdown
from localglobal.report.render import summary_table

HYPOTHESES = pd.DataFrame({
    "hypothesis": ["H1", "H2"], "description": ["a | b", "second"], "n": [10, 12],
    "effect_size": [0.4, -0.2], "p_holm": [0.001, 0.5], "supported": [True, False],
    "verdict": ["supported", "not supported"], "direction": ["x: a > b", "y: a < b"],
    "alpha": [0.05, 0.05]})
HYPOTHESES = HYPOTHESES.reindex(columns=[*CONTRACT_COLUMNS, *(
    c for c in HYPOTHESES if c not in CONTRACT_COLUMNS)])  # every contract column


def test_summary_table_is_markdown_with_one_line_per_hypothesis():
    lines = summary_table(HYPOTHESES).splitlines()
    assert lines[0].startswith("| hypothesis |") and set(lines[1]) <= {"|", "-"}
    assert len(lines) == 2 + len(HYPOTHESES)
    assert all(line.count("|") - line.count("\\|") == lines[0].count("|") for line in lines)
    assert "a \\| b" in lines[2]  # a bar in a cell does not break the table


def test_summary_markdown_states_the_rule_and_the_absent_sections(tmp_path):
    inputs = ReportInputs(root=tmp_path, config=RunConfig(),
                          tables={"hypotheses": HYPOTHESES},
                          sources={"predictions": ("predictions.parquet", "evaluate")})
    context = build_context(inputs)
    text = summary_markdown(context, HYPOTHESES)
    assert "| H1 |" in text and VERDICT_RULE in text
    assert "## Absent sections" in text and "predictions.parquet is missing" in text
    # Unset, the thesis hypotheses are the default: none tested says why.
    assert "analysis.hypotheses is unset" in summary_markdown(context, HYPOTHESES.iloc[:0])
    inputs.config = RunConfig.model_validate({"analysis": {"hypotheses": []}})
    context = build_context(inputs)
    assert "No hypotheses are configured" in summary_markdown(context, HYPOTHESES.iloc[:0])


def test_summary_markdown_says_why_the_box_measures_are_nan(tmp_path):
    config = RunConfig.model_validate({"index": {"require_box": False}})
    samples = pd.DataFrame({"image_id": ["a", "b", "c"], "has_box": [False, False, False]})
    attributions = pd.DataFrame({"model": "m", "control": "none", "image_id": ["a", "b", "c"],
                                 "mass_in_box": np.nan, "pointing_hit": np.nan,
                                 "share_pos_on_edges": [0.2, 0.3, 0.1]})
    inputs = ReportInputs(root=tmp_path, config=config,
                          tables={"samples": samples, "attributions": attributions})
    context = build_context(inputs)
    text = summary_markdown(context, None)
    assert "none of the run's 3 images has an object box" in text
    assert "index.require_box = false" in text
    # The box-only measures are named, hidden, and the edge measures said to be on the image.
    assert "(mass_in_box, rank_accuracy, pointing_hit, auc_edges_in_box) are undefined there " \
        "and hidden from this report" in text
    assert "computed on the whole image" in text
    lrp = next(s for s in context["sections"] if s["key"] == "lrp")
    assert context["box_note"] in lrp["notes"]
    inputs.tables["samples"] = samples.assign(has_box=True)
    assert "object box" not in summary_markdown(build_context(inputs), None)


def test_the_page_escapes_what_the_run_holds(tmp_path):
    table = HYPOTHESES.assign(description=["<script>x</script>", "ok"])
    inputs = ReportInputs(root=tmp_path, config=RunConfig(), tables={"hypotheses": table})
    html = render_html(build_context(inputs))
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
