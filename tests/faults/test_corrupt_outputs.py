"""Truncated and garbage outputs of every kind are noticed: redone, or refused with a message.

Each output is damaged after a clean run; the stage that wrote it, run again without
``--force``, must either write the clean run's outputs again or stop with one
message naming the file. A corrupt shard is discarded and recomputed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localglobal.config import load_config
from localglobal.errors import LocalglobalError
from localglobal.pipeline.rundir import RunDir
from localglobal.run import run_stage
from tests.toy_run import same_outputs

OUTPUTS = [  # (stage, file or glob in the run, damage) for each kind of artifact
    ("annotations", "boxes.parquet", "truncated"),
    ("index", "samples.parquet", "garbage"),
    ("evaluate", "predictions.parquet", "truncated"),
    ("attribute", "attributions.parquet", "empty"),
    ("edges", "edges.npz", "truncated"),
    ("edges", "outlines.npz", "garbage"),
    ("attribute", "relevance/*.npy", "truncated"),
    ("perturb", "perturbations/scramble/*/*.png", "truncated"),
    ("perturb", "perturbations/original/*/*.png", "garbage"),
    ("evaluate", ".shards/evaluate/*/*", "garbage"),
    ("attribute", ".shards/attribute/*/*", "truncated"),
]
DAMAGE = {"truncated": lambda data: data[: len(data) // 2],
          "garbage": lambda data: bytes(range(256)) * 4,
          "empty": lambda data: b""}


def _damage(run: Path, pattern: str, how: str) -> Path:
    target = sorted(p for p in run.glob(pattern) if p.is_file())[0]
    target.write_bytes(DAMAGE[how](target.read_bytes()))
    return target


@pytest.mark.parametrize("stage,pattern,how", OUTPUTS, ids=[f"{p}-{h}" for _, p, h in OUTPUTS])
def test_a_damaged_output_is_redone_or_refused(stage: str, pattern: str, how: str,
                                               clean_run: Path, run_copy: Path):
    damaged = _damage(run_copy, pattern, how)
    try:
        run_stage(stage, RunDir(run_copy), load_config(run_copy / "config.toml"))
    except LocalglobalError as error:  # refused: the message names the file
        assert damaged.name in str(error) or str(damaged.parent) in str(error), error
        return
    same_outputs(stage, clean_run, run_copy)
