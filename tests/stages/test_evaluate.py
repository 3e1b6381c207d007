"""The evaluate stage through ``run_stage``: batched inference over perturbations,
resumable per (model, shard), failed models reported while the others run."""

from __future__ import annotations

import json
import os
import uuid

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision

from localglobal.config import RunConfig, config_from_dict
from localglobal.errors import StageError, UnknownNameError
from localglobal.evaluation.loader import fit_image
from localglobal.evaluation.scoring import PREDICTION_COLUMNS
from localglobal.io.atomic import write_json
from localglobal.io.images import read_png, write_png
from localglobal.labels import get_label_space
from localglobal.models import load_model, resolve_model
from localglobal.pipeline.fingerprint import output_digest
from localglobal.pipeline.manifest import Manifest
from localglobal.pipeline.runner import Runner
from localglobal.run import prepare_run, run_pipeline, run_stage
from localglobal.stages import REGISTRY

CROP = 48
IMAGENETTE = get_label_space("imagenette")
TINY = {"arch": "torchvision:resnet18", "weights": "random", "crop": CROP, "resize": CROP}


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


def mark_done(run, config, name: str) -> None:
    """Record stage ``name`` as done with what the run directory holds."""
    manifest = Manifest(run.root)
    manifest.record_run(config)
    digest, parts = Runner(run, config, REGISTRY).stage_hash(name, manifest)
    outputs = {}
    for artifact in REGISTRY.catalog.of_stage(name):
        path = run.path(artifact.path)
        if not path.exists() and artifact.always and artifact.kind == "json":
            write_json(path, {"stage": name})
        found = output_digest(path)
        if found is not None:
            outputs[artifact.name] = found
    manifest.set_stage(name, status="done", hash=digest, parts=parts, outputs=outputs,
                       run_id=uuid.uuid4().hex[:16], summary={})


def make_config(models: dict | None = None, evaluate: dict | None = None, **data) -> RunConfig:
    models = models if models is not None else {"tiny": TINY}
    section = {"models": list(models), "batch_size": 4, "loader_workers": 0, "device": "cpu"}
    section.update(evaluate or {})
    return config_from_dict({
        "run": {"shard_size": 4, "workers": 1},
        "data": {"label_space": "imagenette", **data},
        "frame": {"resize": CROP, "crop": CROP},
        "models": models,
        "evaluate": section,
    })


def make_run(root, config: RunConfig, n_images: int = 3, seed: int = 0):
    """A run with perturbations (original + 2 scrambles per image) and their PNGs;
    ``perturb`` is recorded as done."""
    run, config = prepare_run(root, config=config)
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n_images):
        wnid = IMAGENETTE.wnids[i % 2]
        image_id = f"{wnid}_{i}"
        for probe, level, variant in [("original", 0, "0"), ("scramble", 16, "0"),
                                      ("scramble", 16, "1")]:
            relative = f"perturbations/{probe}/{wnid}/{image_id}_{level}_{variant}.png"
            write_png(run.path(relative), _image(rng))
            items.append({
                "item_id": f"{image_id}/{probe}/{level}/{variant}", "image_id": image_id,
                "wnid": wnid, "probe": probe, "level": level, "variant": variant,
                "params": json.dumps({}), "path": relative,
            })
    run.write("perturbations", pd.DataFrame(items))
    mark_done(run, config, "perturb")
    return run, config


def evaluate(run, config, **options) -> dict:
    return run_stage("evaluate", run, config, workers=1, **options)


def report(run) -> dict:
    return run.read("evaluate_report")


def reference_logits(spec, image: np.ndarray) -> torch.Tensor:
    """A plain forward pass: (x / 255 - mean) / std, NCHW float32, no tricks."""
    model = load_model(spec)
    x = torch.tensor(np.array(image)).permute(2, 0, 1).float()[None] / 255.0
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        return model((x - mean) / std)[0]


def test_stage_logits_equal_a_plain_forward_pass(tmp_path):
    run, config = make_run(tmp_path / "run", make_config(evaluate={"loader_workers": 2}))
    summary = evaluate(run, config)
    predictions = run.read("predictions")
    items = run.read("perturbations")

    assert summary["models"] == ["tiny"] and summary["predictions"] == len(items)
    assert summary["status"] == "done" and summary["bad"] == summary["failed"] == 0
    assert list(predictions.columns[:len(PREDICTION_COLUMNS)]) == PREDICTION_COLUMNS
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
    record = report(run)
    assert record["status"] == "done" and record["items"]["total"] == len(items)
    assert record["details"]["models"]["tiny"]["spec"]["arch"] == "torchvision:resnet18"


def test_model_with_another_input_size_gets_resized_images(tmp_path):
    run, config = make_run(tmp_path / "run", make_config(
        {"small": {"arch": "torchvision:resnet18", "weights": "random", "crop": 32,
                   "resize": 32}}), n_images=1)
    evaluate(run, config)
    row = run.read("predictions").iloc[0]
    path = run.read("perturbations").set_index("item_id").at[row["item_id"], "path"]
    image = fit_image(read_png(run.path(path)), 32)
    logits = reference_logits(resolve_model("small", config), image)
    assert image.shape == (32, 32, 3)
    assert row["pred_logit"] == pytest.approx(float(logits.max()), abs=1e-4)


def test_resume_skips_finished_shards(tmp_path):
    run, config = make_run(tmp_path / "run", make_config())  # 9 items, shards of 4: 3
    evaluate(run, config)
    assert report(run)["items"]["resumed"] == 0
    before = run.read("predictions")
    shard_files = sorted(run.path(".shards", "evaluate").glob("*/*.parquet"))
    assert len(shard_files) == 3
    kept = {p: p.stat().st_mtime_ns for p in shard_files[:2]}
    shard_files[2].unlink()  # as if interrupted before the last shard

    evaluate(run, config, force=False)  # nothing changed: up to date, skipped
    assert report(run)["items"]["resumed"] == 0
    Manifest(run.root).set_stage("evaluate", status="running")  # as if interrupted
    evaluate(run, config)
    again = report(run)
    assert again["items"]["resumed"] == 8 and again["items"]["done"] == 9
    assert again["details"]["models"]["tiny"]["computed"] == 1
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    pd.testing.assert_frame_equal(run.read("predictions"), before)


def test_adding_a_model_does_not_redo_the_others(tmp_path):
    run, config = make_run(tmp_path / "run", make_config({"tiny": TINY}), n_images=1)
    evaluate(run, config)
    before = run.read("predictions")
    run, config = prepare_run(run.root, config=make_config(
        {"tiny": TINY, "other": {**TINY, "crop": 32}}))
    evaluate(run, config)
    models = report(run)["details"]["models"]
    assert models["tiny"]["computed"] == 0 and models["tiny"]["resumed"] == len(before)
    assert models["other"]["computed"] == len(before)
    after = run.read("predictions")
    assert set(after["model"]) == {"tiny", "other"}
    pd.testing.assert_frame_equal(after[after["model"] == "tiny"].reset_index(drop=True),
                                  before)


def test_a_model_that_fails_to_load_is_reported_and_the_others_run(tmp_path):
    missing = tmp_path / "nowhere.pth"
    run, config = make_run(tmp_path / "run", make_config({
        "tiny": TINY, "broken": {"arch": "torchvision:resnet18", "weights": str(missing)},
        "typo": {"arch": "resnet5"}}), n_images=1)
    with pytest.raises(StageError, match="broken"):
        evaluate(run, config)
    assert set(run.read("predictions")["model"]) == {"tiny"}
    record = report(run)
    assert record["status"] == "failed"
    failed = {m["model"]: m["reason"] for m in record["models"]["failed"]}
    assert set(failed) == {"broken", "typo"} and record["models"]["total"] == 3
    assert str(missing) in failed["broken"] and "closest: resnet50" in failed["typo"]
    assert record["failed_items"] == []  # the model failed, not its items


def test_a_model_whose_checkpoint_does_not_fit_fails_as_a_model(tmp_path):
    path = tmp_path / "resnet18-10.pth"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), path)
    run, config = make_run(tmp_path / "run", make_config({
        "tiny": TINY, "misfit": {**TINY, "weights": str(path)}}), n_images=1)
    with pytest.raises(StageError, match="misfit"):
        evaluate(run, config)
    failed = report(run)["models"]["failed"]
    assert [m["model"] for m in failed] == ["misfit"] and "does not fit" in failed[0]["reason"]
    assert set(run.read("predictions")["model"]) == {"tiny"}


def test_images_outside_the_model_label_space_are_refused_before_inference(tmp_path):
    labels = tmp_path / "other.txt"
    labels.write_text("n99999999 thing\nn99999998 other\n")
    run, config = make_run(tmp_path / "run", make_config(
        {"foreign": {**TINY, "label_space": str(labels)}}), n_images=1)
    with pytest.raises(StageError, match="every model failed") as error:
        evaluate(run, config)
    assert IMAGENETTE.wnids[0] in str(error.value)
    assert "refused before inference" in str(error.value)
    assert report(run)["models"]["failed"][0]["model"] == "foreign"


def test_an_unreadable_image_is_reported_and_skipped(tmp_path):
    run, config = make_run(tmp_path / "run", make_config(), n_images=1)
    items = run.read("perturbations")
    run.path(items.at[1, "path"]).write_bytes(b"not a png")
    mark_done(run, config, "perturb")  # as perturb left it
    summary = evaluate(run, config)
    assert summary["bad"] == 1 and summary["status"] == "done"
    assert summary["predictions"] == len(items) - 1
    bad = report(run)["bad_items"]
    assert [b["item"] for b in bad] == [items.at[1, "item_id"]]
    assert "not a decodable image" in bad[0]["reason"]


def test_an_unknown_model_name_stops_the_pipeline_before_any_stage(tmp_path):
    run, config = make_run(tmp_path / "run", make_config(), n_images=1)
    config.evaluate.models = ["tiny", "resnet5"]
    with pytest.raises(UnknownNameError, match="resnet50"):
        run_pipeline(run, config, stages=("evaluate",))
    assert not run.has("predictions")


def test_a_model_that_failed_is_retried_once_its_weights_are_there(tmp_path):
    later = tmp_path / "later.pth"
    run, config = make_run(tmp_path / "run", make_config({
        "tiny": TINY,
        "late": {"arch": "torchvision:resnet18", "weights": str(later), "crop": CROP,
                 "label_space": "imagenet-1k"},
    }), n_images=1)
    with pytest.raises(StageError, match="late"):
        evaluate(run, config)
    torch.save(torchvision.models.resnet18().state_dict(), later)
    second = evaluate(run, config)
    assert not second.get("skipped") and second["status"] == "done"
    assert set(run.read("predictions")["model"]) == {"tiny", "late"}
    # Now complete: the next call is skipped, and replacing the checkpoint redoes it.
    assert evaluate(run, config)["skipped"]
    torch.save(torchvision.models.resnet18().state_dict(), later)
    os.utime(later, ns=(later.stat().st_atime_ns, later.stat().st_mtime_ns + 10**9))
    assert not evaluate(run, config).get("skipped")
    assert report(run)["details"]["models"]["late"]["computed"] == 3


def test_a_model_is_loaded_only_when_it_has_work(tmp_path, monkeypatch):
    from localglobal.evaluation import inference

    run, config = make_run(tmp_path / "run", make_config(), n_images=1)
    evaluate(run, config)
    loaded = []
    monkeypatch.setattr(inference, "load_model",
                        lambda spec, **kw: loaded.append(spec.name) or load_model(spec, **kw))
    run, config = prepare_run(run.root, config=make_config({"tiny": TINY, "two": TINY}))
    evaluate(run, config)
    assert loaded == ["two"]


@pytest.mark.slow
def test_evaluate_on_ray_gives_the_table_of_the_process_executor(tmp_path):
    pytest.importorskip("ray", reason="Ray is in the test extra: pip install -e '.[test]'")
    local, config = make_run(tmp_path / "local", make_config())
    evaluate(local, config)
    config.run.executor = "ray"
    on_ray, config = make_run(tmp_path / "ray", config)
    evaluate(on_ray, config)
    assert report(on_ray)["executor"] == "ray"
    pd.testing.assert_frame_equal(local.read("predictions"), on_ray.read("predictions"),
                                  check_exact=False, atol=1e-5)


def test_own_images_in_the_16_geirhos_categories_are_scored_and_analysed_in_them(tmp_path):
    config = make_config(label_space="geirhos-16")
    run, config = prepare_run(tmp_path / "run", config=config)
    rng = np.random.default_rng(4)
    items = []
    for i in range(6):
        category = ("bear", "cat", "truck")[i % 3]
        image_id = f"{category}_{i}"
        for probe, level in [("original", 0), ("scramble", 16)]:
            relative = f"perturbations/{probe}/{category}/{image_id}_{level}.png"
            write_png(run.path(relative), _image(rng))
            items.append({"item_id": f"{image_id}/{probe}/{level}/0", "image_id": image_id,
                          "wnid": category, "probe": probe, "level": level, "variant": "0",
                          "params": json.dumps({}), "path": relative})
    run.write("perturbations", pd.DataFrame(items))
    mark_done(run, config, "perturb")
    evaluate(run, config)
    predictions = run.read("predictions")
    assert set(predictions["subset_classes"]) == {16}
    assert set(predictions["model_classes"]) == {1000}
    assert set(predictions["subset_pred_wnid"]) <= set(get_label_space("geirhos-16").wnids)
    np.testing.assert_array_equal(predictions["subset_correct"],
                                  predictions["subset_pred_wnid"] == predictions["wnid"])
    config.analysis.hypotheses = None
    config.analysis.bootstrap = 200
    config.analysis.contact_sheets = 0
    run, config = prepare_run(run.root, config=config)
    run_stage("analyze", run, config)
    assert set(run.read("probe_summary")["measure"]) == {"subset_true_prob"}
    hypotheses = run.read("hypotheses")
    assert list(hypotheses["hypothesis"]) == ["scramble:tiny"]
    assert hypotheses["measure"].iloc[0] == "subset_true_prob" and hypotheses["n"].iloc[0] == 6
