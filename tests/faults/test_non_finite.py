"""A model whose outputs are NaN is reported, never scored: no row of it counts as correct."""

from __future__ import annotations

from pathlib import Path

import torch

from localglobal.config import load_config
from localglobal.pipeline.rundir import RunDir
from localglobal.run import run_stage
from localglobal.toyworld.train import WEIGHTS_DIR


def _nan_checkpoint(tmp_path: Path) -> Path:
    state = torch.load(WEIGHTS_DIR / "toy-texture.pt", weights_only=True)
    bias = next(key for key in state if key.endswith("bias") and state[key].ndim == 1
                and key.startswith(("fc", "head", "classifier")))
    state[bias] = torch.full_like(state[bias], float("nan"))
    path = tmp_path / "toy-nan.pt"
    torch.save(state, path)
    return path


def test_nan_outputs_are_flagged_counted_and_left_out_of_accuracy(run_copy: Path,
                                                                   tmp_path: Path):
    config = load_config(run_copy / "config.toml")
    config = config.model_validate({
        **config.model_dump(mode="json", exclude_none=True),
        "models": {"toy-nan": {"arch": "toy-texture", "weights": str(_nan_checkpoint(tmp_path))}},
        "evaluate": {**config.evaluate.model_dump(mode="json"),
                     "models": ["toy-texture", "toy-nan"]}})
    run = RunDir(run_copy)
    summary = run_stage("evaluate", run, config)
    predictions = run.read("predictions")
    nan = predictions[predictions["model"] == "toy-nan"]
    assert len(nan) and not nan["finite"].any()
    assert not nan["correct"].any() and not nan["subset_correct"].any()
    assert summary["non_finite"] == {"toy-nan": len(nan)}
    assert predictions.loc[predictions["model"] == "toy-texture", "finite"].all()

    run_stage("analyze", run, config)
    run_stage("report", run, config)
    summary_md = (run_copy / "report" / "summary.md").read_text()
    assert f"model toy-nan is missing from the accuracy table: every one of its {len(nan)} " \
        "outputs is NaN or infinite" in summary_md
