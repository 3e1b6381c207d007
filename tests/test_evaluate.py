"""The evaluate stage: batched inference over perturbations, resumable per (model, shard)."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from localglobal.config import RunConfig, config_from_dict
from localglobal.data.classes import get_label_space
from localglobal.evaluate import (
    CUE_CONFLICT_TABLE,
    PREDICTION_COLUMNS,
    REPORT,
    evaluate_stage,
    fit_image,
    loader_worker_count,
    normalize,
    score_logits,
    select_device,
)
from localglobal.models.registry import load_model, resolve_model
from localglobal.run import Manifest, StageContext, StageError
from localglobal.run import run_stage as run_pipeline_stage
from localglobal.store import RunDir, read_png, write_png

CROP = 48
IMAGENETTE = get_label_space("imagenette")


@pytest.fixture(autouse=True)
def _quiet(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
    monkeypatch.setenv("LOCALGLOBAL_CACHE", str(tmp_path / "cache"))


def _image(rng: np.random.Generator, size: int = CROP) -> np.ndarray:
    """A smooth random image: low-frequency noise upsampled, plus a little grain."""
    coarse = rng.integers(0, 256, size=(6, 6, 3)).astype(np.float32)
    ys = np.linspace(0, 5, size)
    grid = coarse[np.round(ys).astype(int)][:, np.round(ys).astype(int)]
    grain = rng.normal(0, 8, size=(size, size, 3))
    return np.clip(grid + grain, 0, 255).astype(np.uint8)


def make_run(root, n_images: int = 3, seed: int = 0) -> RunDir:
    """A run directory with samples, perturbations (original + 2 scrambles) and PNGs."""
    run = RunDir(root).ensure()
    rng = np.random.default_rng(seed)
    samples, items = [], []
    for i in range(n_images):
        wnid = IMAGENETTE.wnids[i % 2]
        image_id = f"{wnid}_{i}"
        samples.append({
            "image_id": image_id, "path": str(root / "src" / f"{image_id}.JPEG"),
            "split": "train", "wnid": wnid, "class_index": IMAGENETTE.index_of(wnid),
            "class_name": IMAGENETTE.name_of(wnid), "width": CROP, "height": CROP,
            "box_x0": 4.0, "box_y0": 4.0, "box_x1": 40.0, "box_y1": 40.0,
            "boxes_input": [[4.0, 4.0, 40.0, 40.0]],
        })
        for probe, level, variant in [("original", 0, "0"), ("scramble", 16, "0"),
                                      ("scramble", 16, "1")]:
            relative = f"perturbations/{probe}/{wnid}/{image_id}_{level}_{variant}.png"
            write_png(run.path(relative), _image(rng))
            items.append({
                "item_id": f"{image_id}/{probe}/{level}/{variant}", "image_id": image_id,
                "wnid": wnid, "probe": probe, "level": level, "variant": variant,
                "params": json.dumps({}), "path": relative,
                "class_index": IMAGENETTE.index_of(wnid),
            })
    run.write("samples", pd.DataFrame(samples))
    run.write("perturbations", pd.DataFrame(items))
    return run


def make_config(models: dict | None = None, evaluate: dict | None = None, **data) -> RunConfig:
    models = models if models is not None else {
        "tiny": {"arch": "torchvision:resnet18", "weights": "random", "crop": CROP,
                 "resize": CROP},
    }
    evaluate_section = {"models": list(models), "batch_size": 4, "loader_workers": 0,
                        "device": "cpu"}
    evaluate_section.update(evaluate or {})
    return config_from_dict({
        "run": {"shard_size": 4},
        "data": {"label_space": "imagenette", **data},
        "frame": {"resize": CROP, "crop": CROP},
        "models": models,
        "evaluate": evaluate_section,
    })


def run_stage(run: RunDir, config: RunConfig, **options) -> dict:
    ctx = StageContext(run=run, config=config, stage="evaluate", params_hash="test", **options)
    return evaluate_stage(ctx)


def reference_logits(spec, image: np.ndarray) -> torch.Tensor:
    """A plain forward pass: (x / 255 - mean) / std, NCHW float32, no tricks."""
    model = load_model(spec)
    x = torch.tensor(np.array(image)).permute(2, 0, 1).float()[None] / 255.0
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        return model((x - mean) / std)[0]


def test_stage_logits_equal_a_plain_forward_pass(tmp_path):
    run = make_run(tmp_path / "run")
    config = make_config(evaluate={"loader_workers": 2})
    summary = run_stage(run, config)
    predictions = run.read("predictions")
    items = run.read("perturbations")

    assert summary["models"] == 1 and summary["predictions"] == len(items)
    assert set(PREDICTION_COLUMNS) <= set(predictions.columns)
    assert list(predictions["item_id"]) == list(items["item_id"])
    spec = resolve_model("tiny", config)
    imagenet = get_label_space("imagenet-1k")
    for _, row in predictions.sample(3, random_state=0).iterrows():
        path = items.set_index("item_id").at[row["item_id"], "path"]
        logits = reference_logits(spec, read_png(run.path(path)))
        true_index = imagenet.index_of(row["wnid"])
        assert row["true_index"] == true_index
        assert row["true_logit"] == pytest.approx(float(logits[true_index]), abs=1e-4)
        assert row["pred_index"] == int(logits.argmax())
        assert row["pred_logit"] == pytest.approx(float(logits.max()), abs=1e-4)
        assert row["true_prob"] == pytest.approx(float(logits.softmax(0)[true_index]), rel=1e-3)
        subset = torch.tensor(IMAGENETTE.parent_indices())
        sub_probs = logits[subset].softmax(0)
        position = IMAGENETTE.index_of(row["wnid"])
        assert row["subset_true_prob"] == pytest.approx(float(sub_probs[position]), rel=1e-3)
        assert row["subset_pred_index"] == int(sub_probs.argmax())


def test_model_with_another_input_size_gets_resized_images(tmp_path):
    run = make_run(tmp_path / "run", n_images=1)
    config = make_config({"small": {"arch": "torchvision:resnet18", "weights": "random",
                                    "crop": 32, "resize": 32}})
    run_stage(run, config)
    row = run.read("predictions").iloc[0]
    path = run.read("perturbations").set_index("item_id").at[row["item_id"], "path"]
    image = fit_image(read_png(run.path(path)), 32)
    logits = reference_logits(resolve_model("small", config), image)
    assert image.shape == (32, 32, 3)
    assert row["pred_logit"] == pytest.approx(float(logits.max()), abs=1e-4)


def test_subset_decisions_on_a_hand_made_logit_vector():
    logits = torch.tensor([[5.0, 2.0, 0.0, 3.0, 1.0, -1.0],
                           [0.0, 0.0, 9.0, 0.0, 0.0, 0.0]])
    subset = torch.tensor([4, 1, 3])  # the dataset's classes 0, 1, 2 in the model's space
    scores = score_logits(logits, torch.tensor([1, 2]), subset)

    # item 0: true class 1 (logit 2) is beaten by classes 0 (5) and 3 (3) overall
    assert scores["pred_index"][0] == 0 and scores["true_rank"][0] == 3
    assert scores["top5"][0]
    assert scores["true_prob"][0] == pytest.approx(
        math.exp(2) / sum(math.exp(v) for v in logits[0].tolist()))
    # within the subset (logits 1, 2, 3 for classes 4, 1, 3) class 3 wins: position 2
    assert scores["subset_pred_index"][0] == 2
    assert scores["subset_true_rank"][0] == 2
    expected = math.exp(2) / (math.exp(1) + math.exp(2) + math.exp(3))
    assert scores["subset_true_prob"][0] == pytest.approx(expected)
    assert scores["subset_pred_prob"][0] == pytest.approx(
        math.exp(3) / (math.exp(1) + math.exp(2) + math.exp(3)))
    # item 1: true class 2 is the overall winner but not one of the dataset's classes
    assert scores["pred_index"][1] == 2 and scores["true_rank"][1] == 1
    assert math.isnan(scores["subset_true_prob"][1])
    assert scores["subset_pred_index"][1] == 0  # ties go to the first dataset class


def test_resume_skips_finished_shards(tmp_path):
    run = make_run(tmp_path / "run")  # 9 items, shards of 4: 3 shards
    config = make_config()
    first = run_stage(run, config)
    assert (first["shards_computed"], first["shards_resumed"]) == (3, 0)
    before = run.read("predictions")
    shard_files = sorted(run.path(".shards", "evaluate").glob("*/000*.parquet"))
    assert len(shard_files) == 3
    kept = {p: p.stat().st_mtime_ns for p in shard_files[:2]}
    shard_files[2].unlink()  # as if interrupted before the last shard

    second = run_stage(run, config)
    assert (second["shards_computed"], second["shards_resumed"]) == (1, 2)
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    pd.testing.assert_frame_equal(run.read("predictions"), before)


def test_adding_a_model_does_not_redo_the_others(tmp_path):
    run = make_run(tmp_path / "run", n_images=1)
    tiny = {"arch": "torchvision:resnet18", "weights": "random", "crop": CROP}
    first = run_stage(run, make_config({"tiny": tiny}))
    before = run.read("predictions")
    second = run_stage(run, make_config({"tiny": tiny, "other": {**tiny, "crop": 32}}))
    assert second["shards_resumed"] == first["shards_computed"]
    after = run.read("predictions")
    assert set(after["model"]) == {"tiny", "other"}
    pd.testing.assert_frame_equal(after[after["model"] == "tiny"].reset_index(drop=True),
                                  before)


def test_a_model_that_fails_to_load_is_reported_and_the_others_run(tmp_path):
    run = make_run(tmp_path / "run", n_images=1)
    missing = tmp_path / "nowhere.pth"
    config = make_config({
        "tiny": {"arch": "torchvision:resnet18", "weights": "random", "crop": CROP},
        "broken": {"arch": "torchvision:resnet18", "weights": str(missing)},
    })
    summary = run_stage(run, config)
    assert summary["models"] == 1 and summary["models_failed"] == 1
    assert str(missing) in summary["failed"]["broken"]
    assert set(run.read("predictions")["model"]) == {"tiny"}
    report = json.loads(run.path(REPORT).read_text())
    assert report["models"]["broken"]["status"] == "failed"
    assert str(missing) in report["models"]["broken"]["error"]
    assert report["models"]["tiny"]["status"] == "ok"


def test_images_outside_the_model_label_space_are_refused_before_inference(tmp_path):
    run = make_run(tmp_path / "run", n_images=1)
    labels = tmp_path / "other.txt"
    labels.write_text("n99999999 thing\nn99999998 other\n")
    config = make_config({"foreign": {"arch": "torchvision:resnet18", "weights": "random",
                                      "crop": CROP, "label_space": str(labels)}})
    with pytest.raises(StageError, match="every model failed") as error:
        run_stage(run, config)
    assert IMAGENETTE.wnids[0] in str(error.value) and "refused before inference" in str(
        error.value)
    report = json.loads(run.path(REPORT).read_text())
    assert report["models"]["foreign"]["status"] == "refused"


def test_an_unreadable_image_is_reported_and_skipped(tmp_path):
    run = make_run(tmp_path / "run", n_images=1)
    items = run.read("perturbations")
    run.path(items.at[1, "path"]).write_bytes(b"not a png")
    summary = run_stage(run, make_config())
    assert summary["items_failed"] == 1
    assert summary["predictions"] == len(items) - 1
    report = json.loads(run.path(REPORT).read_text())
    failed = report["models"]["tiny"]["failed_items"]
    assert [f["item_id"] for f in failed] == [items.at[1, "item_id"]]
    assert "not a decodable image" in failed[0]["error"]


def test_unknown_model_name_stops_before_any_work(tmp_path):
    run = make_run(tmp_path / "run", n_images=1)
    config = make_config()
    config.evaluate.models = ["tiny", "resnet5"]
    with pytest.raises(KeyError, match="resnet50"):
        run_stage(run, config)
    assert not run.has("predictions")


def test_cue_conflict_decisions_are_among_the_stimulus_classes(tmp_path):
    run = make_run(tmp_path / "run", n_images=1)
    folder = tmp_path / "cue"
    rng = np.random.default_rng(3)
    rows = []
    pairs = [(IMAGENETTE.wnids[0], IMAGENETTE.wnids[1]), (IMAGENETTE.wnids[2],
                                                           IMAGENETTE.wnids[3])]
    for k, (shape, texture) in enumerate(pairs):
        write_png(folder / "img" / f"s{k}.png", _image(rng, 60)[:, :50])  # raw, not square
        rows.append({"path": f"img/s{k}.png", "shape_wnid": shape, "texture_wnid": texture})
    pd.DataFrame(rows).to_csv(folder / "stimuli.csv", index=False)
    config = make_config(cue_conflict=str(folder))
    summary = run_stage(run, config)
    cue = pd.read_parquet(run.path(CUE_CONFLICT_TABLE))
    assert summary["cue_conflict_predictions"] == 2
    classes = {w for pair in pairs for w in pair}
    assert set(cue["pred_wnid"]) <= classes
    imagenet = get_label_space("imagenet-1k")
    assert all(imagenet.wnids[i] == w for i, w in zip(cue["pred_index"], cue["pred_wnid"],
                                                        strict=True))
    # the decision is the arg-max over the stimulus classes of a plain forward pass
    spec = resolve_model("tiny", config)
    image = fit_image(read_png(folder / "img" / "s0.png"), spec.crop, mode="frame",
                      resize=spec.resize)
    logits = reference_logits(spec, image)
    ordered = sorted(classes, key=imagenet.index_of)
    best = max(ordered, key=lambda w: float(logits[imagenet.index_of(w)]))
    assert cue.iloc[0]["pred_wnid"] == best


def test_normalize_matches_the_textbook_formula_and_keeps_channels_last():
    batch = torch.randint(0, 256, (2, 8, 8, 3), dtype=torch.uint8)
    x = normalize(batch, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    expected = (batch.permute(0, 3, 1, 2).float() / 255 - torch.tensor([0.5, 0.4, 0.3]).view(
        1, 3, 1, 1)) / torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    assert torch.allclose(x, expected)
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_select_device():
    assert select_device("cpu").type == "cpu"
    assert select_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


def test_images_are_decoded_in_process_on_cpu_unless_configured():
    assert loader_worker_count(None, torch.device("cpu")) == 0
    assert 1 <= loader_worker_count(None, torch.device("cuda")) <= 4
    assert loader_worker_count(3, torch.device("cpu")) == 3


def test_a_model_that_failed_is_retried_once_its_weights_are_there(tmp_path):
    run = make_run(tmp_path / "run", n_images=1)
    Manifest(run).set_stage("perturb", status="done", hash="perturbed")
    later = tmp_path / "later.pth"
    config = make_config({
        "tiny": {"arch": "torchvision:resnet18", "weights": "random", "crop": CROP},
        "late": {"arch": "torchvision:resnet18", "weights": str(later), "crop": CROP,
                 "label_space": "imagenet-1k"},
    })
    first = run_pipeline_stage("evaluate", run, config, workers=1)
    assert first["models_failed"] == 1
    torch.save(torchvision.models.resnet18().state_dict(), later)
    second = run_pipeline_stage("evaluate", run, config, workers=1)
    assert not second.get("skipped") and second["models_failed"] == 0
    assert set(run.read("predictions")["model"]) == {"tiny", "late"}
    # Now complete: the next call is skipped, and replacing the checkpoint redoes it.
    assert run_pipeline_stage("evaluate", run, config, workers=1)["skipped"]
    torch.save(torchvision.models.resnet18().state_dict(), later)
    os.utime(later, ns=(later.stat().st_atime_ns, later.stat().st_mtime_ns + 10**9))
    assert not run_pipeline_stage("evaluate", run, config, workers=1).get("skipped")
