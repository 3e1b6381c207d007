"""``localglobal run CONFIG --dry-run``: the plan's counts are the real run's."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.config import to_toml
from localglobal.pipeline.estimate import format_estimates
from localglobal.run import estimate_run, prepare_run, run_pipeline
from localglobal.toyworld.build import build_world
from tests.toy_run import LONG_STAGES, SMALL_WORLD, small_config

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    world = build_world(tmp_path_factory.mktemp("world"), SMALL_WORLD)
    config = small_config(world)
    config.probes.probes = ["scramble", "patch"]
    config.probes.set_section("patch", sizes=[112])
    config.attribute.controls = ["random-weights"]
    return config


@pytest.mark.slow
def test_the_plan_counts_the_items_of_the_real_run(config, tmp_path):
    plan = {s.stage: s for s in estimate_run(config)}
    run, config = prepare_run(tmp_path / "run", config=config)
    run_pipeline(run, config, stages=LONG_STAGES)
    for stage in LONG_STAGES:
        assert plan[stage].items == run.read(f"{stage}_report")["items"]["total"], stage
        if stage != "annotations":
            assert plan[stage].seconds is not None and plan[stage].seconds > 0, stage
    stored = sum(p.stat().st_size for p in run.path("perturbations").rglob("*.png"))
    assert 0.5 < plan["perturb"].bytes / stored < 2
    text = format_estimates(list(plan.values()))
    assert text.splitlines()[-1].startswith("total")


def test_the_dry_run_prints_the_plan_and_creates_nothing(config, tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(path), "--run", str(tmp_path / "run"),
                                      "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "perturb" in result.output and "total" in result.output
    assert not (tmp_path / "run").exists()
