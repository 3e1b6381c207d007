"""Two commands on one run: the second is refused, naming the holder; the manifest stays whole.

The first command is a forked process holding the run's lock as a stage does (a
forked interpreter must not start torch's thread pools again, so it does no model
work); the second is the command line, run here.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.pipeline.lock import run_lock
from localglobal.pipeline.manifest import MANIFEST_NAME
from tests.toy_run import same_outputs


def test_a_second_command_is_refused_while_a_stage_runs(clean_run: Path, run_copy: Path):
    held, release = run_copy / "held", run_copy / "release"
    before = (run_copy / MANIFEST_NAME).read_bytes()
    config_before = (run_copy / "config.toml").read_bytes()
    pid = os.fork()
    if pid == 0:  # the first command, in the middle of a stage
        try:
            with run_lock(run_copy, command="localglobal evaluate"):
                held.touch()
                deadline = time.monotonic() + 30
                while not release.exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
        finally:
            os._exit(0)
    try:
        deadline = time.monotonic() + 30
        while not held.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        # A command that would change the configuration is refused before it does.
        results = [CliRunner().invoke(app, [*command, "--run", str(run_copy)])
                   for command in (["attribute"], ["evaluate"], ["perturb"],
                                   ["evaluate", "--models", "toy-shape", "--replace"])]
    finally:
        release.touch()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            os.kill(pid, signal.SIGKILL)
    for result in results:
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert result.exit_code != 0 and len(errors) == 1, result.output
        assert str(pid) in errors[0] and "localglobal evaluate" in errors[0], errors[0]
        assert "updated" not in result.output
    assert (run_copy / MANIFEST_NAME).read_bytes() == before
    assert (run_copy / "config.toml").read_bytes() == config_before
    manifest = json.loads(before)
    assert all(s["status"] == "done" for s in manifest["stages"].values())
    same_outputs("evaluate", clean_run, run_copy)
