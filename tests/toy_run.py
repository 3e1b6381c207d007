"""A small toy-world run for the fault, run-state and planning tests: one image per class.

:func:`small_config` keeps every long stage to a second or two; :func:`same_outputs`
compares what one stage wrote in two runs (tables by value, arrays by value, every
other file but the stage's JSON report by its bytes).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from localglobal.config import RunConfig
from localglobal.demo import demo_config
from localglobal.stages import REGISTRY
from localglobal.toyworld.build import WorldConfig

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

SMALL_WORLD = WorldConfig(seed=5, train_per_class=1, val_per_class=0, cue_conflict_per_pair=0)
LONG_STAGES = ("annotations", "index", "edges", "perturb", "evaluate", "attribute")


def small_config(world: Path) -> RunConfig:
    """The demo's configuration cut down to one image per class and one model."""
    config = demo_config(world)
    config.run.workers = 1
    config.run.shard_size = 4
    config.index.per_class = 1
    config.probes.probes = ["scramble"]
    config.probes.set_section("scramble", blocks=[112], variants=1)
    config.geirhos.stimuli = None
    config.evaluate.models = ["toy-texture"]
    config.evaluate.device = "cpu"
    config.attribute.models = ["toy-texture"]
    config.attribute.controls = []
    config.attribute.heatmaps = False
    config.attribute.device = "cpu"
    config.analysis.hypotheses = []
    return config


def cli(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``localglobal ARGS`` in a fresh interpreter (so that signals and locks are real)."""
    return subprocess.run([sys.executable, "-m", "localglobal.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "LOCALGLOBAL_NO_PROGRESS": "1"})


def start_cli(*args: object) -> subprocess.Popen[str]:
    """``localglobal ARGS`` started in a fresh interpreter, not waited for."""
    return subprocess.Popen([sys.executable, "-m", "localglobal.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LOCALGLOBAL_NO_PROGRESS": "1"})


def _same_file(a: Path, b: Path) -> None:
    if a.suffix == ".parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))
    elif a.suffix == ".npz":
        with np.load(a) as left, np.load(b) as right:
            assert sorted(left.files) == sorted(right.files), a
            for key in left.files:
                np.testing.assert_array_equal(left[key], right[key], err_msg=f"{a}:{key}")
    elif a.suffix == ".npy":
        np.testing.assert_array_equal(np.load(a), np.load(b), err_msg=str(a))
    else:
        assert a.read_bytes() == b.read_bytes(), a


def same_outputs(stage: str, a: Path, b: Path) -> None:
    """Assert that ``stage`` wrote the same outputs into run directories ``a`` and ``b``.

    The stage's JSON report is left out: it holds times and counts of resumed work.
    """
    for artifact in REGISTRY.catalog.of_stage(stage):
        if artifact.kind == "json":
            continue
        left, right = a / artifact.path, b / artifact.path
        assert left.exists() == right.exists(), artifact.path
        if left.is_dir():
            names = sorted(p.relative_to(left) for p in left.rglob("*") if p.is_file())
            assert names == sorted(p.relative_to(right) for p in right.rglob("*")
                                   if p.is_file()), artifact.path
            for name in names:
                _same_file(left / name, right / name)
        elif left.exists():
            _same_file(left, right)
