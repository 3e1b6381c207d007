"""The geirhos stage: models and human observers on the Geirhos stimuli, and the toy world."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from localglobal.analysis.figures import shape_bias_category_figure
from localglobal.config import RunConfig, config_from_dict
from localglobal.evaluation.decisions import IMAGENET_TO_16
from localglobal.io.images import read_png
from localglobal.models import load_model, resolve_model
from localglobal.models.preprocessing import normalise
from localglobal.report.geirhos_tables import accuracy_table, consistency_table, shape_bias_lines
from localglobal.run import prepare_run, run_stage
from localglobal.toyworld.build import WorldConfig, build_world
from tests.shared_data import (
    geirhos_sample,
    model_vs_human_raw_data,
    require_geirhos_sample,
    require_model_vs_human_raw_data,
)

SAMPLE = geirhos_sample()
OUTPUTS = ("geirhos_decisions", "shape_bias", "shape_bias_by_category", "accuracy16",
           "error_consistency")
TINY = {"arch": "torchvision:resnet18", "weights": "random", "label_space": "imagenet-1k"}


@pytest.fixture(autouse=True)
def _quiet(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
    monkeypatch.setenv("LOCALGLOBAL_CACHE", str(tmp_path / "cache"))


def needs_sample() -> None:
    require_geirhos_sample("human-raw-data")


def make_config(**geirhos) -> RunConfig:
    return config_from_dict({
        "run": {"workers": 1}, "models": {"tiny": TINY},
        "evaluate": {"models": ["tiny"], "device": "cpu"},
        "geirhos": {"batch_size": 16, "device": "cpu", **geirhos}})


def stage(tmp_path: Path, config: RunConfig, **options):
    run, config = prepare_run(tmp_path / "run", config=config, create=True)
    return run, run_stage("geirhos", run, config, **options)


def test_humans_only_give_every_observer_and_their_mean(tmp_path):
    needs_sample()
    run, summary = stage(tmp_path, make_config(humans=str(SAMPLE)))
    decisions = run.read("geirhos_decisions")
    assert set(decisions["kind"]) == {"human"}
    bias = run.read("shape_bias").set_index("model")
    subjects = sorted(o for o in decisions["observer"].unique())
    assert sorted(bias.index[bias.index != "humans"]) == subjects
    # by hand: shape / (shape + texture) over conflict trials, then the mean over observers
    conflict = decisions[decisions["texture"].notna()
                         & (decisions["texture"] != decisions["category"])]
    own = {}
    for observer, rows in conflict.groupby("observer"):
        shape = int((rows["decision"] == rows["category"]).sum())
        texture = int((rows["decision"] == rows["texture"]).sum())
        own[observer] = shape / (shape + texture)
        assert bias.loc[observer, "shape_bias"] == pytest.approx(own[observer])
    assert bias.loc["humans", "shape_bias"] == pytest.approx(np.mean(list(own.values())))
    assert set(bias["kind"]) == {"human"} and set(bias["dataset"]) == {"cue-conflict"}
    pairs = run.read("error_consistency")
    assert set(pairs["dataset"]) == {"cue-conflict", "edge", "silhouette"}
    n = len(subjects)
    assert (pairs.groupby("dataset").size() == n * (n - 1) // 2).all()
    accuracy = run.read("accuracy16")
    assert {"edge", "silhouette"} <= set(accuracy["dataset"])
    assert summary["observers"] == n


def test_a_random_imagenet_model_decides_as_the_mapping_of_its_logits(tmp_path):
    needs_sample()
    run, _ = stage(tmp_path, make_config(stimuli=str(SAMPLE), humans=str(SAMPLE)))
    decisions = run.read("geirhos_decisions")
    model = decisions[decisions["observer"] == "tiny"].reset_index(drop=True)
    assert len(model) == 64 and set(model["kind"]) == {"model"}
    assert set(model["dataset"]) == {"cue-conflict", "edge", "silhouette"}
    # one stimulus by hand: fed as it is (224 × 224), the model's mean and std, the mapping
    row = model.iloc[0]
    folder = {"cue-conflict": "cue-conflict", "edge": "edges",
              "silhouette": "filled-silhouettes"}[row["dataset"]]
    image = read_png(SAMPLE / folder / row["category"] / row["image"])
    assert image.shape[:2] == (224, 224)
    spec = resolve_model("tiny", make_config())
    net = load_model(spec, device="cpu").eval()
    with torch.inference_mode():
        x = normalise(image[None], spec.mean, spec.std, channels_last=False)
        logits = net(x).numpy()
    assert row["decision"] == IMAGENET_TO_16.decide(logits, "logits")[0]
    bias = run.read("shape_bias")
    assert {"tiny", "humans", "subject-01"} <= set(bias["model"])
    assert bias.set_index("model").loc["tiny", "kind"] == "model"
    pairs = run.read("error_consistency")
    assert ((pairs["a"] == "tiny") & pairs["b"].str.startswith("subject-")).any()
    categories = run.read("shape_bias_by_category")
    assert set(categories[categories["model"] == "tiny"]["category"]) <= set(model["category"])
    # what the report shows of them
    figure = shape_bias_category_figure(categories)
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert "tiny" in labels and any(label.startswith("humans") for label in labels)
    assert {row[0] for row in accuracy_table(run.read("accuracy16"))["rows"]} == {
        "tiny", "humans"}
    consistency = consistency_table(pairs)["rows"]
    assert any(row[1] == "tiny" for row in consistency)
    assert any(row[1].startswith("humans") for row in consistency)
    lines = shape_bias_lines(bias)
    assert any(line.startswith("- tiny: ") for line in lines)
    assert any(line.startswith("- humans (mean of 10)") for line in lines)
    assert "bootstrap interval over a model's stimuli" in lines[0]  # what the bounds are over


def test_an_unreadable_stimulus_is_a_bad_item_by_name(tmp_path):
    needs_sample()
    stimuli = tmp_path / "stimuli"
    shutil.copytree(SAMPLE / "edges", stimuli / "edges")
    broken = sorted((stimuli / "edges" / "cat").iterdir())[0]
    broken.write_bytes(b"not a png")
    run, summary = stage(tmp_path, make_config(stimuli=str(stimuli)))
    assert summary["bad"] == 1
    report = pd.read_json(run.path("geirhos-report.json"), typ="series")
    assert any(broken.name in entry["item"] for entry in report["bad_items"])
    assert len(run.read("geirhos_decisions")) == 15


def test_nothing_configured_writes_nothing(tmp_path):
    run, summary = stage(tmp_path, make_config())
    assert "skipped" in summary
    assert not any(run.has(name) for name in OUTPUTS)


def test_the_toy_world_keeps_its_shape_bias(tmp_path):
    world = build_world(tmp_path / "world", WorldConfig(
        seed=2024, train_per_class=0, val_per_class=0, cue_conflict_per_pair=1))
    config = make_config(stimuli=str(world), models=["toy-texture", "toy-shape"])
    run, _ = stage(tmp_path, config)
    bias = run.read("shape_bias").set_index("model")["shape_bias"]
    assert bias["toy-shape"] > bias["toy-texture"]
    decisions = run.read("geirhos_decisions")
    assert set(decisions["dataset"]) == {"cue-conflict"}
    assert (decisions["texture"] != decisions["category"]).all()


RAW = model_vs_human_raw_data()


def parametric_stimuli(folder: Path, dataset: str, per_condition: int = 2) -> pd.DataFrame:
    """model-vs-human's release layout for a few of the stimuli subject-01 saw."""
    from PIL import Image

    trials = pd.read_csv(RAW / dataset / f"{dataset}_subject-01_session_1.csv", dtype=str)
    chosen = trials.groupby("condition").head(per_condition)
    session = folder / dataset / "dnn" / "session-1"
    session.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in chosen["imagename"]:
        pixels = rng.integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(session / name)
    return chosen


def test_a_parametric_dataset_gives_the_benchmark_and_its_curves(tmp_path):
    require_model_vs_human_raw_data()
    chosen = parametric_stimuli(tmp_path / "datasets", "contrast")
    run, _ = stage(tmp_path, make_config(stimuli=str(tmp_path), humans=str(RAW)))
    decisions = run.read("geirhos_decisions")
    assert set(decisions["dataset"]) == {"contrast"}  # only the humans of what the models saw
    model = decisions[decisions["observer"] == "tiny"]
    assert len(model) == len(chosen) == 16
    assert sorted(model["condition"].unique()) == sorted(chosen["condition"].unique())
    benchmark = run.read("benchmark").set_index(["observer", "dataset", "metric"])
    assert benchmark.loc[("tiny", "contrast", "accuracy"), "n"] == 10  # 5 benchmark conditions
    assert benchmark.loc[("humans", "contrast", "accuracy"), "n"] == 4 * 5 * 160
    kappa = benchmark.loc[("tiny", "contrast", "error_consistency")]
    assert kappa["n_humans"] == 4 and -1 <= kappa["value"] <= 1
    assert benchmark.loc[("humans", "contrast", "error_consistency"), "value"] > 0.2
    curves = run.read("benchmark_conditions")
    tiny = curves[(curves["observer"] == "tiny") & (curves["metric"] == "accuracy")]
    assert list(tiny["condition"]) == ["c100", "c50", "c30", "c15", "c10", "c05", "c03", "c01"]
    assert (tiny["n"] == 2).all()


def test_datasets_pick_the_stimuli_and_the_humans(tmp_path):
    require_model_vs_human_raw_data()
    parametric_stimuli(tmp_path / "datasets", "rotation", per_condition=1)
    parametric_stimuli(tmp_path / "datasets", "false-colour", per_condition=1)
    run, _ = stage(tmp_path, make_config(stimuli=str(tmp_path), humans=str(RAW),
                                         datasets=["false-colour"]))
    decisions = run.read("geirhos_decisions")
    assert set(decisions["dataset"]) == {"false-colour"}
    # model-vs-human's condition strings, whatever the raw data's spelling ("true")
    assert set(decisions["condition"]) == {"True", "False"}
