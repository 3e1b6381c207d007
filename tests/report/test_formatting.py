"""Numbers, p-values and verdicts as the report prints them."""

import math

import pandas as pd

from localglobal.report.formatting import (
    alpha_of,
    direction_of,
    format_effect,
    format_number,
    format_p,
    summary_rows,
    verdict_class,
    verdict_of,
    with_interval,
)


def test_p_values_read_at_a_glance():
    assert format_p(0.0001) == "< 0.001"
    assert format_p(0.0042) == "0.0042" and format_p(0.25) == "0.250"
    assert format_p(math.nan) == format_p(None) == format_p("x") == "–"


def test_numbers_effects_and_intervals():
    assert format_number(3.0) == "3" and format_number(0.123456) == "0.123"
    assert format_effect(0.834) == "+0.83" and format_effect(-0.1) == "-0.10"
    assert with_interval(0.5, 0.4, 0.6) == "0.5 [0.4, 0.6]"
    assert with_interval(0.5, math.nan, 0.6) == "0.5"


def test_verdicts_and_their_classes():
    assert verdict_of(pd.Series({"verdict": "supported"})) == "supported"
    assert verdict_of(pd.Series({"p_holm": math.nan})) == "not tested"
    assert verdict_of(pd.Series({"p_holm": 0.01, "supported": False})) == "not supported"
    assert verdict_class("supported") == "supported"
    assert verdict_class("not tested") == "not-tested"
    assert verdict_class("not supported: the opposite holds") == "not-supported"


def test_direction_and_alpha_fall_back_to_the_contract_columns():
    row = pd.Series({"measure": "true_prob", "model_a": "a", "model_b": "b",
                     "alternative": "greater"})
    assert direction_of(row) == "true_prob: a > b"
    assert alpha_of(pd.DataFrame({"alpha": [0.01]})) == 0.01
    assert alpha_of(pd.DataFrame(), 0.05) == 0.05


def test_summary_rows_are_display_strings():
    table = pd.DataFrame({"hypothesis": ["H1"], "n": [12], "mean_diff": [0.2], "ci_low": [0.1],
                          "ci_high": [0.3], "effect_size": [0.5], "p_holm": [0.0004],
                          "supported": [True], "measure": ["m"], "model_a": ["a"],
                          "model_b": ["b"], "alternative": ["less"]})
    (row,) = summary_rows(table)
    assert row["n"] == "12" and row["p_holm"] == "< 0.001" and row["verdict"] == "supported"
    assert row["direction"] == "m: a < b" and row["mean_diff"] == "0.2 [0.1, 0.3]"
