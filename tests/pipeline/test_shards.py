"""Finished shards survive a restart; bad items travel with their shard."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from localglobal.pipeline.shards import ShardResult, ShardStore


def test_finished_shards_survive_and_concatenate_in_name_order(tmp_path: Path):
    store = ShardStore(tmp_path / "shards")
    store.put("b", pd.DataFrame({"x": [3]}))
    store.put("a", ShardResult(pd.DataFrame({"x": [1, 2]}), [("a-3", "unreadable")]))
    reopened = ShardStore(tmp_path / "shards")
    assert reopened.done("a") and reopened.done("b") and not reopened.done("c")
    assert reopened.concat()["x"].tolist() == [1, 2, 3]
    assert reopened.get("a").bad == [("a-3", "unreadable")]
    reopened.clear()
    assert reopened.names() == []


def test_a_corrupt_shard_is_discarded(tmp_path: Path):
    store = ShardStore(tmp_path / "shards")
    store.put("a", pd.DataFrame({"x": [1]}))
    (tmp_path / "shards" / "a.parquet").write_bytes(b"not parquet")
    assert store.load("a") is None
    assert not store.done("a")
