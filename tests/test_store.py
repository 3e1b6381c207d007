"""The run directory: atomic writes never leave a partial file, shards resume."""

import numpy as np
import pandas as pd
import pytest

from localglobal.store import (
    MissingInputError,
    RunDir,
    ShardStore,
    atomic_path,
    read_json,
    read_png,
    write_json,
    write_png,
    write_table,
)


def leftovers(folder):
    """Temporary files an interrupted write would leave behind."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_failing_write_leaves_no_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError, match="interrupted"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half of the data")
        raise RuntimeError("interrupted")
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_a_failing_write_keeps_the_previous_version(tmp_path):
    target = tmp_path / "record.json"
    write_json(target, {"version": 1})
    with pytest.raises(TypeError):
        write_json(target, {"version": 2, "bad": object()})
    assert read_json(target) == {"version": 1}
    assert leftovers(tmp_path) == []


def test_a_table_that_cannot_be_written_leaves_nothing(tmp_path):
    target = tmp_path / "table.parquet"
    unwritable = pd.DataFrame({"mixed": [1, "two", 3.0]})  # no Parquet type fits
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's error type varies by version
        write_table(target, unwritable)
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_tables_and_images_round_trip(tmp_path):
    run = RunDir(tmp_path / "run").ensure()
    table = pd.DataFrame({"image_id": ["a", "b"], "value": [1.5, 2.5]})
    run.write("samples", table)
    pd.testing.assert_frame_equal(run.read("samples"), table)
    image = np.random.default_rng(0).integers(0, 256, size=(12, 9, 3), dtype=np.uint8)
    write_png(run.path("images", "x.png"), image)
    assert np.array_equal(read_png(run.path("images", "x.png")), image)


def test_a_missing_table_says_which_stage_writes_it(tmp_path):
    run = RunDir(tmp_path).ensure()
    with pytest.raises(MissingInputError, match="localglobal index"):
        run.read("samples")


def test_finished_shards_survive_and_concatenate_in_name_order(tmp_path):
    store = ShardStore(tmp_path / "shards")
    store.put("b", pd.DataFrame({"x": [3]}))
    store.put("a", pd.DataFrame({"x": [1, 2]}))
    reopened = ShardStore(tmp_path / "shards")
    assert reopened.done("a") and reopened.done("b") and not reopened.done("c")
    assert reopened.concat()["x"].tolist() == [1, 2, 3]
    reopened.clear()
    assert reopened.names() == []


def test_written_files_get_the_usual_permissions(tmp_path, monkeypatch):
    from localglobal import store

    monkeypatch.setattr(store, "_UMASK", 0o022)  # the umask read when the module loaded
    write_json(tmp_path / "record.json", {"a": 1})
    # Readable by the group and others, like any file the user creates; not 0600.
    assert (tmp_path / "record.json").stat().st_mode & 0o777 == 0o644
