"""No link leads out of a run: a symlinked output, folder or lock is refused, untouched.

Each test links one path of a finished run to a folder outside it that holds a file
and a half-written temporary; the command that would write there must stop with one
``error:`` line naming the link, and leave the outside folder and the run as they were.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.pipeline.lock import LOCK_NAME
from localglobal.stages import REGISTRY

FOLDERS = sorted({a.path for a in REGISTRY.catalog if a.kind == "folder"} | {"report"})
"""Every output folder of the pipeline (and the report's)."""
COMMAND = {"report": "report", "figures": "analyze", "figures/contact": "analyze"}


def _command(path: str) -> str:
    if path in COMMAND:
        return COMMAND[path]
    return next(REGISTRY.catalog.producer(a.name) for a in REGISTRY.catalog if a.path == path)


def _outside(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    (outside / ".keep.txt.x1y2.tmp").write_text("not ours to remove")
    return outside


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _invoke(*args: object):
    result = CliRunner().invoke(app, [str(a) for a in args])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    return result, errors


def _link(run: Path, relative: str, target: Path) -> None:
    path = run / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        os.rename(path, path.with_name(path.name + ".moved"))
    elif path.exists():
        path.unlink()
    path.symlink_to(target, target_is_directory=target.is_dir())


@pytest.mark.parametrize("folder", FOLDERS)
def test_a_symlinked_output_folder_is_refused(folder: str, run_copy: Path, tmp_path: Path):
    outside = _outside(tmp_path)
    before = _listing(outside)
    _link(run_copy, folder, outside)
    result, errors = _invoke(_command(folder), "--run", run_copy, "--force")
    assert result.exit_code == 2 and len(errors) == 1, result.output
    assert folder in errors[0] and "symbolic link" in errors[0], errors
    assert _listing(outside) == before


@pytest.mark.parametrize("path,command", [
    ("predictions.parquet", "evaluate"), ("manifest.json", "edges"),
    ("config.toml", "perturb"), (".shards/attribute", "attribute"),
    ("heatmaps/deep", "attribute"), ("perturbations/scramble", "perturb")])
def test_a_symlinked_file_or_inner_folder_is_refused(path: str, command: str, run_copy: Path,
                                                     tmp_path: Path):
    outside = _outside(tmp_path)
    target = outside if not path.endswith((".parquet", ".json", ".toml")) \
        else outside / "keep.txt"
    _link(run_copy, path, target)
    before = _listing(outside)
    result, errors = _invoke(command, "--run", run_copy, "--force")
    assert result.exit_code == 2 and len(errors) == 1, result.output
    assert path in errors[0], errors
    assert _listing(outside) == before


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "foreign"])
def test_a_lock_that_is_not_the_run_s_own_is_left_alone(kind: str, run_copy: Path,
                                                        tmp_path: Path):
    precious = tmp_path / "precious.txt"
    precious.write_text("precious")
    lock = run_copy / LOCK_NAME
    lock.unlink(missing_ok=True)
    if kind == "symlink":
        lock.symlink_to(precious)
    elif kind == "hardlink":
        os.link(precious, lock)
    else:
        lock.write_text("a file someone else wrote")
    result, errors = _invoke("edges", "--run", run_copy, "--force")
    assert result.exit_code == 2 and len(errors) == 1, result.output
    assert LOCK_NAME in errors[0], errors
    assert precious.read_text() == "precious"
    assert kind != "foreign" or lock.read_text() == "a file someone else wrote"
