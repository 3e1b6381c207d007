"""A full disk in the middle of a stage: the stage fails (not done), then heals without --force.

``ENOSPC`` (and the other errors of the machine) is injected at the write layer,
``os.replace`` of :mod:`localglobal.io.atomic`, after a number of writes, so that some
of the stage's work has finished when the disk fills up. The manifest lies on a disk
with room left (as when only the outputs' folder is full), so the failure is recorded.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

import localglobal.io.atomic as atomic
from localglobal.config import load_config
from localglobal.errors import LocalglobalError
from localglobal.pipeline.manifest import MANIFEST_NAME
from localglobal.pipeline.rundir import RunDir
from localglobal.run import run_stage
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
