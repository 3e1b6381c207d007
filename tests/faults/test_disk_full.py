"""A full disk in the middle of a stage: the stage fails (not done), then heals without --force.

``ENOSPC`` (and the other errors of the machine) is injected at the write layer,
``os.replace`` of :mod:`localglobal.io.atomic`, after a number of writes, so that some
of the stage's work has finished when the disk fills up. The manifest lies on a disk
with room left (as when only the outputs' folder is full), so the failure is recorded.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import localglobal.io.atomic as atomic
from localglobal.cli import app
from localglobal.config import load_config
from localglobal.errors import LocalglobalError
from localglobal.pipeline.manifest import MANIFEST_NAME
from localglobal.pipeline.rundir import RunDir
from localglobal.run import run_stage
from tests.shared_data import geirhos_sample, require_geirhos_sample
from tests.toy_run import same_outputs


def _fill_disk_after(monkeypatch, writes: int, code: int = errno.ENOSPC) -> None:
    replace = os.replace
    calls = {"n": 0}

    def full(source, destination, *args, **kwargs):
        if Path(destination).name == MANIFEST_NAME:
            return replace(source, destination, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] > writes:
            Path(source).unlink(missing_ok=True)
            raise OSError(code, os.strerror(code), str(destination))
        return replace(source, destination, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", full)


@pytest.mark.parametrize("stage,writes", [("perturb", 6), ("edges", 1), ("evaluate", 1)])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_full_disk_fails_the_stage_and_the_next_run_heals_it(
        stage: str, writes: int, code: int, clean_run: Path, run_copy: Path, monkeypatch):
    config = load_config(run_copy / "config.toml")
    _fill_disk_after(monkeypatch, writes, code)
    with pytest.raises(LocalglobalError) as raised:
        run_stage(stage, RunDir(run_copy), config, force=True)
    assert os.strerror(code) in str(raised.value)
    monkeypatch.undo()
    record = json.loads((run_copy / MANIFEST_NAME).read_text())["stages"][stage]
    assert record["status"] != "done"
    run_stage(stage, RunDir(run_copy), config)  # space is back: no --force needed
    record = json.loads((run_copy / MANIFEST_NAME).read_text())["stages"][stage]
    assert record["status"] == "done"
    same_outputs(stage, clean_run, run_copy)


# A real full disk: the run lies on a small tmpfs filled up to a few KiB, and each stage
# is forced to run on it. It must fail with one error line naming the path it could not
# write, never die of a signal, and leave no half-written file behind.
DISK_STAGES = {  # stage: (the arguments after the command, a stage to run first)
    "perturb": ([], None), "edges": ([], None), "evaluate": ([], None),
    "attribute": ([], None), "analyze": ([], None), "report": ([], "analyze"),
    "geirhos": (["--humans", str(geirhos_sample())], None),
}


@contextlib.contextmanager
def _small_disk(folder: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted at ``folder`` (skips where none can be mounted)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _fill(disk: Path, leave: int) -> None:
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with open(disk / "filler", "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, max(free - leave, 1))


@pytest.mark.parametrize("stage", list(DISK_STAGES))
def test_a_really_full_disk_fails_the_stage_naming_the_path(stage: str, run_copy: Path,
                                                           tmp_path: Path):
    arguments, first = DISK_STAGES[stage]
    if stage == "geirhos":
        require_geirhos_sample("human-raw-data")
    if first is not None:
        run_stage(first, RunDir(run_copy), load_config(run_copy / "config.toml"))
    with _small_disk(tmp_path / "disk", _size(run_copy) + (8 << 20)) as disk:
        run = disk / "run"
        shutil.copytree(run_copy, run)
        _fill(disk, leave=16 << 10)
        result = CliRunner().invoke(app, [stage, "--run", str(run), "--force", *arguments])
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert result.exit_code == 1 and len(errors) == 1, result.output[-2000:]
        assert os.strerror(errno.ENOSPC) in errors[0] and f"{run}/" in errors[0], errors
        assert not [p for p in run.rglob(".*.tmp")], "a half-written file was left behind"
