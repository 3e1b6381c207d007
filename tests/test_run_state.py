"""A run's state cannot go stale: each way it used to is now refused or handled.

The run here is a small toy-world run (one image per class, one scramble level, the
two toy models), built once and copied for each test.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.config import load_config, to_toml
from localglobal.errors import StageError
from localglobal.io.atomic import read_json
from localglobal.pipeline.rundir import RunDir
from localglobal.run import prepare_run, run_pipeline, stage_states
from localglobal.stages import REGISTRY
from localglobal.toyworld.build import build_world
from tests import toy_run

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

STAGES = ("annotations", "index", "perturb", "evaluate", "analyze", "report")


def small_config(world: Path):
    """The shared small run, with both toy models evaluated."""
    config = toy_run.small_config(world)
    config.evaluate.models = ["toy-texture", "toy-shape"]
    return config


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("state")
    world = build_world(root / "world", toy_run.SMALL_WORLD)
    run, config = prepare_run(root / "run", config=small_config(world))
    run_pipeline(run, config, stages=STAGES)
    return run.root


@pytest.fixture
def run_dir(finished: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def models_in(run_dir: Path) -> set[str]:
    return set(RunDir(run_dir, REGISTRY).read("predictions")["model"])


def test_models_on_the_command_line_are_added_and_only_they_are_computed(run_dir: Path):
    before = RunDir(run_dir, REGISTRY).read("predictions")
    result = invoke("evaluate", "--run", run_dir, "--models", "toy-shape-copy")
    # An unknown model fails, and says so with a non-zero exit, but takes nothing away.
    assert result.exit_code == 1, result.output
    assert "toy-shape-copy" in result.output
    assert models_in(run_dir) == {"toy-texture", "toy-shape"}
    assert len(RunDir(run_dir, REGISTRY).read("predictions")) == len(before)
    assert load_config(run_dir / "config.toml").evaluate.models == [
        "toy-texture", "toy-shape", "toy-shape-copy"]


def test_a_model_given_by_a_config_file_is_added_to_the_run(run_dir: Path, tmp_path: Path):
    overlay = tmp_path / "one-model.toml"
    overlay.write_text('[models.toy-shape-again]\narch = "toy-shape"\n\n'
                       '[evaluate]\nmodels = ["toy-texture", "toy-shape", "toy-shape-again"]\n')
    result = invoke("evaluate", "--run", run_dir, "--config", overlay)
    assert result.exit_code == 0, result.output
    assert "updated" in result.output and "toy-shape-again" in result.output
    assert models_in(run_dir) == {"toy-texture", "toy-shape", "toy-shape-again"}
    config = load_config(run_dir / "config.toml")
    # The run's data, frame and probes are kept: the file only added a model.
    assert config.data.label_space == "toyworld"
    assert config.probes.section("scramble")["blocks"] == [112]
    report = read_json(run_dir / "evaluate-report.json")
    assert report["status"] == "done"


def test_replace_removes_a_model_and_redoes_what_follows(run_dir: Path):
    result = invoke("evaluate", "--run", run_dir, "--models", "toy-shape", "--replace")
    assert result.exit_code == 0, result.output
    assert models_in(run_dir) == {"toy-shape"}
    states = {s.name: s for s in stage_states(RunDir(run_dir, REGISTRY),
                                              load_config(run_dir / "config.toml"))}
    assert states["analyze"].status == "out of date"
    assert states["report"].status == "out of date"


def test_report_refuses_after_a_failed_analysis(run_dir: Path, monkeypatch):
    declared = REGISTRY["analyze"]

    def broken(ctx):
        raise StageError("analyze: the figures could not be drawn")

    monkeypatch.setitem(REGISTRY._stages, "analyze", dataclasses.replace(declared, body=broken))
    result = invoke("analyze", "--run", run_dir, "--force")
    assert result.exit_code != 0
    monkeypatch.setitem(REGISTRY._stages, "analyze", declared)
    before = (run_dir / "report" / "index.html").read_bytes()
    result = invoke("report", "--run", run_dir, "--force")
    assert result.exit_code != 0
    assert "analyze" in result.output and "failed" in result.output
    assert (run_dir / "report" / "index.html").read_bytes() == before


@pytest.mark.parametrize("command", ["analyze", "report", "show", "stages", "evaluate"])
def test_a_folder_that_is_not_a_run_is_an_error(command: str, tmp_path: Path):
    missing = tmp_path / "no-such-run"
    args = [command, "--run", missing] if command != "show" else [command, "x", "--run",
                                                                   missing]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and "no-such-run" in result.output
    assert not missing.exists(), "a misspelled --run must not create a run"


def test_a_stage_with_a_failed_model_exits_non_zero(run_dir: Path):
    text = to_toml(load_config(run_dir / "config.toml"))
    text += '\n[models.broken]\narch = "toy-shape"\nweights = "/no/such/weights.pt"\n'
    (run_dir / "config.toml").write_text(text)
    result = invoke("evaluate", "--run", run_dir, "--models", "broken")
    assert result.exit_code == 1, result.output
    assert "broken" in result.output
    assert models_in(run_dir) == {"toy-texture", "toy-shape"}
    assert read_json(run_dir / "evaluate-report.json")["models"]["failed"][0]["model"] \
        == "broken"


def test_stages_lists_status_reason_and_outputs(run_dir: Path):
    (run_dir / "samples.parquet").unlink()
    result = invoke("stages", "--run", run_dir)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    index_line = next(line for line in lines if line.startswith("index"))
    assert "out of date" in index_line and "samples.parquet is missing" in index_line
    assert next(line for line in lines if line.startswith("annotations")).split()[1] == "done"
    assert any("predictions.parquet" in line for line in lines)


def test_a_run_started_on_ones_own_images_computes_exactly_the_named_models(tmp_path: Path):
    world = build_world(tmp_path / "world", toy_run.SMALL_WORLD)
    small = tmp_path / "small.toml"
    small.write_text('[index]\nper_class = 1\n\n[probes]\nprobes = ["scramble"]\n\n'
                     '[probes.scramble]\nblocks = [112]\nvariants = 1\n\n'
                     '[evaluate]\ndevice = "cpu"\n')
    run_dir = tmp_path / "run"
    result = invoke("index", world, "--run", run_dir, "--config", small,
                    "--label-space", "toyworld", "--no-require-box")
    assert result.exit_code == 0, result.output
    # The thesis's model lists stay out of a run on one's own data until asked for.
    config = load_config(run_dir / "config.toml")
    assert config.evaluate.models == [] and config.attribute.models == []
    assert invoke("perturb", "--run", run_dir).exit_code == 0
    # No model computed yet: --models is the whole list.
    result = invoke("evaluate", "--run", run_dir, "--models", "toy-texture")
    assert result.exit_code == 0, result.output
    assert models_in(run_dir) == {"toy-texture"}
    assert load_config(run_dir / "config.toml").evaluate.models == ["toy-texture"]
    # With results, --models adds.
    result = invoke("evaluate", "--run", run_dir, "--models", "toy-shape")
    assert result.exit_code == 0, result.output
    assert models_in(run_dir) == {"toy-texture", "toy-shape"}
