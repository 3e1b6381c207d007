"""SIGKILL at a random point of each long stage, then resume: the outputs of a clean run.

Each stage is redone with ``force`` in a forked process (the interpreter is already
warm, so the kill lands inside the stage) and killed with SIGKILL after a seeded
random delay within the stage's own duration, read from the clean run's manifest.
The next run of the stage, without ``force``, must finish it and write exactly what
the clean run wrote.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.config import load_config
from localglobal.pipeline.manifest import MANIFEST_NAME
from localglobal.pipeline.rundir import RunDir
from localglobal.run import run_stage
from tests.toy_run import LONG_STAGES, same_outputs


def _stage_record(run: Path, stage: str) -> dict:
    try:
        return json.loads((run / MANIFEST_NAME).read_text())["stages"].get(stage, {})
    except (OSError, ValueError, KeyError, AttributeError):
        return {}


def _kill_during(stage: str, run: Path, delay: float) -> None:
    pid = os.fork()
    if pid == 0:  # the child: redo the stage until killed
        try:
            run_stage(stage, RunDir(run), load_config(run / "config.toml"), force=True)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 30
    while _stage_record(run, stage).get("status") != "running" \
            and os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):  # it finished first
        pass


@pytest.mark.parametrize("stage", LONG_STAGES)
def test_a_killed_stage_resumes_to_the_clean_result(stage: str, clean_run: Path,
                                                    run_copy: Path):
    seconds = float(_stage_record(clean_run, stage).get("seconds") or 0.5)
    _kill_during(stage, run_copy, random.Random(f"kill-{stage}").uniform(0.0, seconds))
    summary = run_stage(stage, RunDir(run_copy), load_config(run_copy / "config.toml"))
    assert summary is not None
    assert _stage_record(run_copy, stage)["status"] == "done"
    same_outputs(stage, clean_run, run_copy)


def test_a_resumed_stage_says_it_was_interrupted_not_running(run_copy: Path):
    manifest = json.loads((run_copy / MANIFEST_NAME).read_text())
    manifest["stages"]["edges"]["status"] = "running"  # as a SIGKILL leaves it
    (run_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    result = CliRunner().invoke(app, ["edges", "--run", str(run_copy)])
    assert result.exit_code == 0, result.output
    assert "interrupted" in result.output and "running now" not in result.output
