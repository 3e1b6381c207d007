"""A run of the geirhos stage alone has a complete report of its own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from localglobal.run import prepare_run, run_stage
from tests.stages.test_geirhos import RAW, SAMPLE, make_config, parametric_stimuli


@pytest.fixture(scope="module")
def benchmark_run(tmp_path_factory):
    """contrast (one stimulus per condition) and the sample's cue-conflict, a random
    ResNet-18 and the human observers of both, through the geirhos stage only."""
    if not RAW.is_dir() or not SAMPLE.is_dir():
        pytest.skip("model-vs-human's raw data or the Geirhos sample is not here")
    root = tmp_path_factory.mktemp("benchmark")
    parametric_stimuli(root / "stimuli" / "datasets", "contrast", per_condition=1)
    shutil.copytree(SAMPLE / "cue-conflict", root / "stimuli" / "datasets" / "cue-conflict")
    config = make_config(stimuli=str(root / "stimuli"), humans=str(RAW))
    run, config = prepare_run(root / "run", config=config, create=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
        patch.setenv("LOCALGLOBAL_CACHE", str(root / "cache"))
        run_stage("geirhos", run, config)
        run_stage("report", run, config)
    return run, config


def test_report_without_evaluate_or_analyze_draws_the_benchmark(benchmark_run):
    run, _ = benchmark_run
    page = run.path("report", "index.html").read_text(encoding="utf-8")
    assert "model-vs-human benchmark" in page
    for title in ("Accuracy against condition", "Error consistency against condition",
                  "model-vs-human&#39;s rankings", "Shape bias per category"):
        assert title in page
    assert page.count("data:image/png;base64,") >= 5
    assert "Most human-like" in page and "OOD robustness" in page
    assert not list(run.root.glob("figures/*.png"))  # drawn in memory, nothing written


def test_summary_lists_only_the_models_that_ran_with_their_benchmark(benchmark_run):
    run, _ = benchmark_run
    summary = run.path("report", "summary.md").read_text(encoding="utf-8")
    assert "| observer | datasets | accuracy | shape bias | hit rate | error consistency |" \
        in summary
    (tiny,) = [line for line in summary.splitlines() if line.startswith("| tiny | 2 | ")]
    assert tiny.count("|") == 7 and "–" not in tiny  # every figure measured
    assert any(line.startswith("| humans (ceiling) | 2 | ") for line in summary.splitlines())
    assert "resnet50" not in summary and "vgg16" not in summary


def test_analyze_runs_on_a_benchmark_only_run_and_draws_its_figures(benchmark_run):
    run, config = benchmark_run
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
        summary = run_stage("analyze", run, config)
        assert summary["hypotheses"] == 0
        names = {p.name for p in Path(run.root, "figures").glob("*.png")}
        assert {"benchmark-accuracy.png", "benchmark-error-consistency.png",
                "benchmark-rankings.png", "shape-bias-categories.png"} <= names
        assert not run.has("hypotheses")
        run_stage("report", run, config, force=True)
    summary_md = run.path("report", "summary.md").read_text(encoding="utf-8")
    assert "a benchmark-only run" in summary_md
