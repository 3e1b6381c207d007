"""The report's tables of the two forms of each hypothesis and the column notes."""

import pandas as pd

from localglobal.analysis.geirhos_metrics import shape_bias_table as geirhos_shape_bias
from localglobal.analysis.shape_bias import shape_bias
from localglobal.report.tables import (
    COLUMN_NOTES,
    column_notes,
    shape_bias_table,
    thesis_forms_table,
)


def _rows():
    return pd.DataFrame({
        "hypothesis": ["H1", "H1-img", "H9"],
        "measure": ["true_prob", "true_prob", "true_prob"],
        "relative_to": ["none", "original", "none"],
        "normalize": ["none", "ratio", "none"], "subset": ["all", "both-correct", "all"],
        "proxy": ["", "", ""], "test": ["wilcoxon"] * 3,
        "n": [30, 28, 30], "n_pairs": [360, 336, 90],
        "wilcoxon_p_pairs": [1e-5, 1e-4, 0.3], "p_holm": [0.01, 0.2, 0.9],
        "verdict": ["supported", "not supported", "not supported"],
    })


def test_each_thesis_hypothesis_stands_beside_its_corrected_form():
    table = thesis_forms_table(_rows())
    assert table is not None and len(table["rows"]) == 1  # H9 has no corrected form
    row = dict(zip(table["columns"], table["rows"][0], strict=True))
    assert row["hypothesis"] == "H1"
    assert row["thesis measure: verdict on images"] == "supported"
    assert row["corrected: verdict"] == "not supported"
    # What differs names every setting that changed, and nothing that did not.
    assert "relative_to none → original" in row["what differs"]
    assert "subset all → both-correct" in row["what differs"]
    assert "measure" not in row["what differs"]


def test_no_corrected_form_gives_no_table():
    assert thesis_forms_table(_rows().iloc[[2]]) is None


def test_every_new_column_is_explained_in_one_line():
    for name in ("p", "test", "n", "n_pairs", "wilcoxon_p_pairs", "t_p_pairs", "normalize",
                 "subset", "partial_r", "auc_edges_in_box", "edge_enrichment_pos",
                 "edge_enrichment_neg", "fixed_blocks", "proxy"):
        assert name in COLUMN_NOTES
    assert all("\n" not in line and line.endswith(".") for line in column_notes())


def test_a_shape_bias_table_says_what_its_interval_is_over():
    decisions = pd.DataFrame([
        {"observer": "net", "kind": "model", "dataset": "cue-conflict", "image": f"{k}.png",
         "category": "cat", "texture": "dog", "decision": decision}
        for k, decision in enumerate(["cat", "cat", "dog", "car"])])
    stimuli = pd.DataFrame([{"model": "net", "path": f"{k}.png", "shape_wnid": "cat",
                             "texture_wnid": "dog", "pred_wnid": p, "pred_index": 0}
                            for k, p in enumerate(["cat", "cat", "dog"])])
    bootstrapped = shape_bias_table(geirhos_shape_bias(decisions, n_resamples=50))["title"]
    assert "bootstrap interval over a model's stimuli" in bootstrapped
    assert "Wilson interval" in shape_bias_table(shape_bias(stimuli))["title"]
