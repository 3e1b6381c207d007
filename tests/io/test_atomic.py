"""Atomic writes: a failed write leaves nothing behind, and a full disk says so."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pandas as pd
import pytest

from localglobal.errors import CorruptArtifactError, MachineError
from localglobal.io import atomic
from localglobal.io.atomic import read_json, read_table, write_table, write_text_atomic


def test_a_write_replaces_the_file_whole(tmp_path: Path):
    path = tmp_path / "a" / "t.parquet"
    write_table(path, pd.DataFrame({"x": [1, 2]}))
    write_table(path, pd.DataFrame({"x": [3]}))
    assert list(read_table(path)["x"]) == [3]
    assert [p.name for p in path.parent.iterdir()] == ["t.parquet"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EIO, errno.EACCES])
def test_a_failure_of_the_machine_names_the_path_and_keeps_the_old_file(
        tmp_path: Path, monkeypatch, code: int):
    path = tmp_path / "note.txt"
    write_text_atomic(path, "kept")

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(MachineError, match=str(path)):
        write_text_atomic(path, "lost")
    assert path.read_text() == "kept"
    assert [p.name for p in tmp_path.iterdir()] == ["note.txt"]


def test_an_unwritable_folder_is_a_failure_of_the_machine(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(MachineError, match="Permission denied"):
            write_text_atomic(folder / "x.txt", "x")
    finally:
        folder.chmod(0o700)


def test_a_truncated_table_is_a_corrupt_artifact(tmp_path: Path):
    path = tmp_path / "t.parquet"
    write_table(path, pd.DataFrame({"x": range(100)}))
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CorruptArtifactError, match=r"t\.parquet"):
        read_table(path)


def test_invalid_json_is_named(tmp_path: Path):
    path = tmp_path / "r.json"
    path.write_text("{")
    with pytest.raises(CorruptArtifactError, match=r"r\.json: not valid JSON"):
        read_json(path)


def leftovers(folder: Path) -> list[str]:
    """Temporary files an interrupted write would leave behind."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_failing_write_leaves_no_file_and_no_temporary(tmp_path: Path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError, match="interrupted"), atomic.atomic_path(target) as tmp:
        tmp.write_bytes(b"half of the data")
        raise RuntimeError("interrupted")
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_a_failing_write_keeps_the_previous_version(tmp_path: Path):
    target = tmp_path / "record.json"
    atomic.write_json(target, {"version": 1})
    with pytest.raises(TypeError):
        atomic.write_json(target, {"version": 2, "bad": object()})
    assert read_json(target) == {"version": 1}
    assert leftovers(tmp_path) == []


def test_a_table_that_cannot_be_written_leaves_nothing(tmp_path: Path):
    target = tmp_path / "table.parquet"
    unwritable = pd.DataFrame({"mixed": [1, "two", 3.0]})  # no Parquet type fits
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's error type varies by version
        write_table(target, unwritable)
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_written_files_get_the_usual_permissions(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(atomic, "_UMASK", 0o022)  # the umask read when the module loaded
    atomic.write_json(tmp_path / "record.json", {"a": 1})
    # Readable by the group and others, like any file the user creates; not 0600.
    assert (tmp_path / "record.json").stat().st_mode & 0o777 == 0o644


def test_what_a_killed_write_left_is_removed_and_nothing_else(tmp_path: Path):
    folder = tmp_path / "perturbations" / "scramble"
    folder.mkdir(parents=True)
    # A process killed between atomic_path's write and its rename leaves this behind.
    (folder / ".a.png.k1ll3d00.tmp").write_bytes(b"half")
    write_text_atomic(folder / "b.txt", "kept")
    (folder / ".hidden-but-ours").write_text("kept", encoding="utf-8")
    assert atomic.remove_stale_temporaries(tmp_path / "perturbations") == 1
    assert sorted(p.name for p in folder.iterdir()) == [".hidden-but-ours", "b.txt"]

    table = tmp_path / "edges.parquet"
    (tmp_path / f".{table.name}.zz99yy88.tmp").write_bytes(b"half")
    (tmp_path / ".other.parquet.zz99yy88.tmp").write_bytes(b"another file's")
    assert atomic.remove_stale_temporaries(table) == 1
    assert (tmp_path / ".other.parquet.zz99yy88.tmp").exists()


def test_the_temporary_of_a_write_is_named_as_the_sweep_expects(tmp_path: Path):
    with atomic.atomic_path(tmp_path / "x.json") as tmp:
        tmp.write_text("{}", encoding="utf-8")
        assert list(tmp_path.glob(".x.json.*.tmp")) == [tmp]
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
