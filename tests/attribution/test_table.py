"""The attributions table: contract columns first, every statistic, typed, controls ordered."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from localglobal.attribution.regions import RegionStatistics
from localglobal.attribution.table import (
    LEADING_COLUMNS,
    TRAILING_COLUMNS,
    attributions_table,
    non_finite_maps,
    stat_row,
)

ITEM = {"image_id": "img0", "item_id": "img0/original/0/0", "probe": "original",
        "level": 0, "variant": "0"}


def stats(value: float, finite: bool = True) -> RegionStatistics:
    values = dict.fromkeys(RegionStatistics.undefined().as_dict(), value)
    return RegionStatistics(**{**values, "finite": finite})


def test_rows_carry_every_statistic_and_the_method():
    row = stat_row("m", "none", "lrp-epsilon-plus-flat", ITEM, 3, 1.5, stats(0.5))
    assert row["method"] == "lrp-epsilon-plus-flat" and row["target"] == 3
    assert set(RegionStatistics.undefined().as_dict()) <= set(row)


def test_the_table_orders_controls_and_types_columns():
    rows = [stat_row("m", c, "lrp-x", {**ITEM, "item_id": f"img0/{c}"}, 1, 2.0, stats(1.0))
            for c in ("shuffled-edges", "none", "random-weights")]
    rows[0]["extra"] = 7  # a statistic the regions module may add
    rows[1]["extra"] = 8
    table = attributions_table([pd.DataFrame(rows)])
    assert table["control"].tolist() == ["none", "random-weights", "shuffled-edges"]
    assert list(table.columns[:len(LEADING_COLUMNS)]) == list(LEADING_COLUMNS)
    assert list(table.columns[-len(TRAILING_COLUMNS):]) == list(TRAILING_COLUMNS)
    assert table["extra"].dtype == np.float64 and math.isnan(table["extra"].iloc[1])
    assert table["finite"].dtype == bool and table["n_pos"].dtype == np.float64
    assert table["target"].dtype == np.int64 and table["level"].dtype == np.int64


def test_an_empty_table_has_the_contract_columns():
    table = attributions_table([pd.DataFrame(), pd.DataFrame()])
    assert len(table) == 0
    assert {*LEADING_COLUMNS, *TRAILING_COLUMNS, "auc_edges", "finite"} <= set(table.columns)


def test_non_finite_maps_count_explained_maps_once():
    rows = [stat_row("m", c, "lrp-x", ITEM, 1, 2.0, RegionStatistics.undefined())
            for c in ("none", "shuffled-edges")]
    rows.append(stat_row("m", "random-weights", "lrp-x", ITEM, 1, 2.0, stats(1.0)))
    found = non_finite_maps(attributions_table([pd.DataFrame(rows)]))
    assert found.to_dict("records") == [{"model": "m", "control": "none",
                                         "item_id": "img0/original/0/0"}]
