"""What the stage writes: the attributions table (contract columns first, every statistic,
typed, controls ordered) and the relevance maps (float16 per shard, then one
memory-mapped array and its index per model)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from localglobal.attribution.outputs import (
    FLOAT16_MAX,
    INDEX_COLUMNS,
    LEADING_COLUMNS,
    MAPS_COLUMN,
    TRAILING_COLUMNS,
    attributions_table,
    load_relevance,
    non_finite_maps,
    stat_row,
    to_float16,
    write_relevance,
    write_shard_maps,
)
from localglobal.attribution.regions import RegionStatistics
from localglobal.errors import CorruptArtifactError, MissingInputError


def test_float16_storage_saturates_and_zeroes_nan_and_infinity():
    maps = np.array([[[1.5, np.nan], [np.inf, -1e9]]], dtype=np.float32)
    stored = to_float16(maps)
    assert stored.dtype == np.float16
    assert stored.tolist() == [[[1.5, 0.0], [0.0, -FLOAT16_MAX]]]


def shard_rows(item_ids: list[str], control: str, name: str) -> pd.DataFrame:
    return pd.DataFrame({"image_id": [i.split("/")[0] for i in item_ids],
                         "control": control, "item_id": item_ids,
                         "probe": [i.split("/")[1] for i in item_ids], MAPS_COLUMN: name})


def test_shard_maps_are_assembled_into_one_array_and_an_index(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / ".shards" / "x"
    first, second = (rng.normal(size=(n, 4, 4)).astype(np.float16) for n in (2, 1))
    name_a = write_shard_maps(folder, ["a/original/0/0", "b/scramble/28/1"], first)
    name_b = write_shard_maps(folder, ["c/original/0/0"], second)
    assert name_a != name_b and name_a.endswith(".maps.npy")
    # The random-weights pass first in the table, the none pass first in the folders, and
    # a row without a map of its own (shuffled-edges).
    table = pd.concat([shard_rows(["c/original/0/0"], "random-weights", name_b),
                       shard_rows(["a/original/0/0"], "shuffled-edges", ""),
                       shard_rows(["a/original/0/0", "b/scramble/28/1"], "none", name_a)])
    write_relevance(tmp_path, "timm:x", table, {"none": folder, "random-weights": folder}, 4)
    maps, index = load_relevance(tmp_path, "timm:x")
    assert (tmp_path / "relevance" / "timm_x.npy").exists()
    assert isinstance(maps, np.memmap) and maps.dtype == np.float16 and maps.shape == (3, 4, 4)
    np.testing.assert_array_equal(maps[:2], first)
    np.testing.assert_array_equal(maps[2], second[0])
    assert list(index.columns) == INDEX_COLUMNS
    assert index.to_dict("records") == [
        {"image_id": "a", "control": "none", "row": 0, "item_id": "a/original/0/0",
         "probe": "original"},
        {"image_id": "b", "control": "none", "row": 1, "item_id": "b/scramble/28/1",
         "probe": "scramble"},
        {"image_id": "c", "control": "random-weights", "row": 2, "item_id": "c/original/0/0",
         "probe": "original"}]
    write_relevance(tmp_path, "empty", pd.DataFrame(), {"none": folder}, 4)
    maps, index = load_relevance(tmp_path, "empty")
    assert maps.shape == (0, 4, 4) and list(index.columns) == INDEX_COLUMNS


def test_missing_or_mismatched_shard_maps_are_errors(tmp_path):
    with pytest.raises(MissingInputError, match="attribute --force"):
        write_relevance(tmp_path, "m", shard_rows(["a/original/0/0"], "none", "gone.maps.npy"),
                        {"none": tmp_path}, 4)
    name = write_shard_maps(tmp_path, ["a"], np.zeros((1, 4, 4), np.float16))
    with pytest.raises(CorruptArtifactError, match="1 maps for 2 items"):
        write_relevance(tmp_path, "m", shard_rows(["a/o/0/0", "b/o/0/0"], "none", name),
                        {"none": tmp_path}, 4)
    with pytest.raises(MissingInputError, match="localglobal attribute"):
        load_relevance(tmp_path, "never")


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
