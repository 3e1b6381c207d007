"""A finished small toy-world run, built once, copied by each test that changes it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from localglobal.run import prepare_run, run_pipeline
from localglobal.toyworld.build import build_world
from tests.toy_run import LONG_STAGES, SMALL_WORLD, small_config


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory) -> Path:
    """A run directory where every long stage finished without a fault."""
    root = tmp_path_factory.mktemp("faults")
    world = build_world(root / "world", SMALL_WORLD)
    run, config = prepare_run(root / "clean", config=small_config(world))
    run_pipeline(run, config, stages=LONG_STAGES)
    return run.root


@pytest.fixture
def run_copy(clean_run: Path, tmp_path: Path) -> Path:
    """A copy of :func:`clean_run` that a test may damage."""
    copy = tmp_path / "run"
    shutil.copytree(clean_run, copy)
    return copy
