"""Truncated and garbage outputs of every kind are noticed: redone, or refused with a message.

Each output is damaged after a clean run; the stage that wrote it, run again without
``--force``, must either write the clean run's outputs again or stop with one
message naming the file. A corrupt shard is discarded and recomputed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from localglobal.analysis.figure_drawing import draw_figures
from localglobal.analysis.figure_specs import FigureSpec
from localglobal.analysis.record import AnalysisRecord
from localglobal.config import load_config
from localglobal.errors import FigureError, LocalglobalError
from localglobal.pipeline.rundir import RunDir
from localglobal.pipeline.runner import Runner
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


SAME_SIZE = [  # (stage, file in an output folder) changed in place, at the same size
    ("attribute", "relevance/*.npy"),
    ("perturb", "perturbations/scramble/*/*.png"),
]


@pytest.mark.parametrize("stage,pattern", SAME_SIZE, ids=[p for _, p in SAME_SIZE])
def test_a_file_changed_at_the_same_size_makes_its_stage_out_of_date(
        stage: str, pattern: str, clean_run: Path, run_copy: Path):
    target = sorted(p for p in run_copy.glob(pattern) if p.is_file())[0]
    data = target.read_bytes()
    if target.suffix == ".npy":  # every map set to ones, as a hand would
        header = len(data) - int(np.load(target, mmap_mode="r").nbytes)
        data = data[:header] + np.ones(len(data[header:]) // 2, "<f2").tobytes()
    else:  # a garbled image of the same length
        data = data[:64] + bytes(255 - b for b in data[64:])
    target.write_bytes(data)
    run = RunDir(run_copy)
    config = load_config(run_copy / "config.toml")
    state = Runner(run, config).state(stage)
    assert state.status == "out of date" and "changed" in state.reason
    run_stage(stage, run, config)
    same_outputs(stage, clean_run, run_copy)


def test_a_figure_that_breaks_fails_the_analysis_unless_it_is_optional(tmp_path: Path):
    def broken() -> None:
        raise ValueError("no such column")

    specs = [FigureSpec("lines", "probes", "Lines", "", broken),
             FigureSpec("gallery", "lrp", "Gallery", "", broken, optional=True)]
    record = AnalysisRecord()
    with pytest.raises(FigureError, match=r"figure lines \(Lines\) failed: ValueError"):
        draw_figures(specs, tmp_path / "figures", tmp_path, 50, record, lambda line: None)
    assert [s["name"] for s in record.figures_skipped] == ["gallery"]
    assert "no such column" in record.figures_skipped[0]["reason"]
