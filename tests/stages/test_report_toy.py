"""A toy-world run of one's own models with the default hypotheses: analyze runs and says
why no hypothesis was tested, and summary.md holds every model's shape bias and its
accuracy on the originals and at the strongest scramble level."""

from __future__ import annotations

import os

import pytest
from markupsafe import escape

from localglobal.probes.catalog import described_probes
from localglobal.report.accuracy import probe_accuracy
from localglobal.run import prepare_run, run_pipeline
from localglobal.toyworld.build import build_world
from tests import toy_run

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

MODELS = ["toy-texture", "toy-shape"]
STAGES = ("annotations", "index", "perturb", "evaluate", "geirhos", "analyze", "report")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy-report")
    world = build_world(root / "world",
                        toy_run.SMALL_WORLD.model_copy(update={"cue_conflict_per_pair": 1}))
    config = toy_run.small_config(world)
    config.evaluate.models = list(MODELS)
    config.geirhos.stimuli = str(world)
    config.geirhos.device = "cpu"
    config.analysis.hypotheses = None  # the default: the thesis set, which cannot fit
    run, config = prepare_run(root / "run", config=config)
    run_pipeline(run, config, stages=STAGES)
    return run, config


@pytest.mark.slow
def test_default_hypotheses_on_ones_own_models_test_every_probe_on_every_model(toy):
    run, config = toy
    assert config.analysis.hypotheses is None  # the run's config.toml kept it unset
    # No thesis hypothesis fits these models, so each probe's effect on each model is
    # tested: one-sample, over images, Holm across the family.
    tested = run.read("hypotheses")
    assert sorted(tested["hypothesis"]) == sorted(f"scramble:{m}" for m in MODELS)
    assert (tested["n"] == tested["n"].max()).all() and tested["n"].max() > 0
    summary = run.path("report", "summary.md").read_text(encoding="utf-8")
    html = run.path("report", "index.html").read_text(encoding="utf-8")
    for hypothesis in tested["hypothesis"]:
        assert hypothesis in summary and str(escape(hypothesis)) in html


@pytest.mark.slow
def test_the_summary_holds_every_models_shape_bias_and_accuracies(toy):
    run, config = toy
    summary = run.path("report", "summary.md").read_text(encoding="utf-8")
    bias = run.read("shape_bias").set_index("model")
    for model in MODELS:
        (line,) = [x for x in summary.splitlines() if x.startswith(f"- {model}: ")]
        assert line.startswith(f"- {model}: {bias.loc[model, 'shape_bias']:.3g}")
    predictions = run.read("predictions")
    probes = described_probes(config, predictions["probe"].unique())
    accuracy = probe_accuracy(predictions, probes).set_index(["model", "probe"])
    rows = {x.split(" | ")[0][2:]: x for x in summary.splitlines() if x.startswith("| toy-")}
    assert set(rows) == set(MODELS)
    header = next(x for x in summary.splitlines() if x.startswith("| model |"))
    assert "| original |" in header and "| scramble 112 |" in header
    for model in MODELS:
        for probe in ("original", "scramble"):
            rows_of = predictions[(predictions["model"] == model)
                                  & (predictions["probe"] == probe)]
            right = int(rows_of["correct"].sum())
            assert accuracy.loc[(model, probe), "n_correct"] == right
            assert f"({right}/{len(rows_of)}; {rows_of['image_id'].nunique()} images)" \
                in rows[model]
    assert "Strongest levels: scramble 112: block side 112 px" in summary
    html = run.path("report", "index.html").read_text(encoding="utf-8")
    assert "Top-1 accuracy on the original images" in html
