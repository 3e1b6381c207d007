"""The attribute stage on a tiny run: a random toy ResNet, six images, every control."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from localglobal.attribution import attribute as stage
from localglobal.attribution.canonizers import get_canonizers
from localglobal.attribution.lrp import explain, randomize_weights
from localglobal.attribution.regions import region_statistics
from localglobal.config import config_from_dict
from localglobal.data.classes import get_label_space
from localglobal.data.geometry import to_input_frame
from localglobal.models.registry import load_model, resolve_model
from localglobal.probes.edges import pack_mask
from localglobal.run import StageContext
from localglobal.store import RunDir, read_png, write_npz, write_png

CROP, RESIZE = 64, 72
CONTRACT = ["model", "control", "image_id", "target", "logit", "r_mean", "pos_mean",
            "neg_mean", "n_pos", "n_neg", "n_pos_on_edges", "n_neg_on_edges",
            "share_pos_on_edges", "share_neg_on_edges", "mass_in_box", "rank_accuracy",
            "pointing_hit", "auc_edges"]
TINY = {"arch": "localglobal.toyworld.model:toy_resnet", "weights": "random",
        "label_space": "toyworld", "canonizer": "resnet"}


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")


def make_run(tmp_path, n_images: int = 6, **attribute) -> tuple[RunDir, object]:
    """A run directory with samples, edges and source images, and its configuration."""
    rng = np.random.default_rng(0)
    wnids = get_label_space("toyworld").wnids
    run = RunDir(tmp_path / "run").ensure()
    rows, masks = [], {}
    for i in range(n_images):
        wnid = wnids[i % 3]
        image_id = f"img{i}"
        path = tmp_path / "images" / wnid / f"{image_id}.png"
        write_png(path, rng.integers(0, 256, (80, 96, 3), dtype=np.uint8))
        rows.append({"image_id": image_id, "path": str(path), "split": "train", "wnid": wnid,
                     "class_index": i % 3, "class_name": wnid, "width": 96, "height": 80,
                     "box_x0": 8.0 + i, "box_y0": 10.0, "box_x1": 40.0 + i, "box_y1": 50.5})
        masks[image_id] = pack_mask(rng.random((CROP, CROP)) < 0.15)
    run.write("samples", pd.DataFrame(rows))
    write_npz(run.path("edges.npz"), shape=np.array([CROP, CROP]), **masks)
    settings = {"models": ["tiny"], "batch_size": 2, "device": "cpu", **attribute}
    config = config_from_dict({
        "run": {"shard_size": 4, "seed": 3},
        "frame": {"resize": RESIZE, "crop": CROP},
        "models": {"tiny": TINY, "no-lrp": dict(TINY, canonizer="none"),
                   "wrong-canonizer": dict(TINY, canonizer="seresnet")},
        "attribute": settings,
    })
    return run, config


def run_stage(run, config, **kwargs) -> dict:
    ctx = StageContext(run=run, config=config, stage="attribute", params_hash="test",
                       workers=1, **kwargs)
    return stage.attribute_stage(ctx)


def frame_input(run, image_id, spec) -> tuple[np.ndarray, torch.Tensor]:
    samples = run.read("samples").set_index("image_id")
    from PIL import Image

    rgb = np.array(to_input_frame(Image.open(samples.loc[image_id, "path"]), RESIZE, CROP))
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return rgb, (x - mean) / std


def test_stage_writes_contract_tables_maps_and_heatmaps(tmp_path):
    run, config = make_run(tmp_path)
    summary = run_stage(run, config)

    table = run.read("attributions")
    assert {*CONTRACT, "item_id", "probe", "finite"} <= set(table.columns)
    assert summary["models"] == ["tiny"] and summary["items"] == 6
    counts = table.groupby("control").size().to_dict()
    assert counts == {"none": 6, "random-weights": 6, "shuffled-edges": 6}
    assert table["finite"].all() and (table["probe"] == "original").all()

    maps, index = stage.load_relevance(run, "tiny")
    assert maps.dtype == np.float16 and maps.shape == (12, CROP, CROP)
    assert sorted(index["control"].unique()) == ["none", "random-weights"]

    # The stored map of an image is the channel sum of a direct LRP call.
    spec = resolve_model("tiny", config)
    model = load_model(spec)
    none = table[table["control"] == "none"].set_index("image_id")
    _, x = frame_input(run, "img2", spec)
    direct = explain(model, x, None, "epsilon-plus-flat", get_canonizers("resnet"))
    relevance = direct.relevance.sum(1)[0].numpy()
    row = index[(index["image_id"] == "img2") & (index["control"] == "none")]["row"].item()
    scale = np.abs(relevance).max()
    np.testing.assert_allclose(maps[row].astype(np.float32), relevance, atol=2e-3 * scale)
    assert none.loc["img2", "target"] == direct.targets.item()
    assert none.loc["img2", "logit"] == pytest.approx(direct.target_logits.item(), rel=1e-4)

    # Its statistics are the regions module's, against its own edges and box.
    from localglobal.probes.generate import load_edge_masks

    edges = load_edge_masks(run, ["img2"])["img2"]
    samples = run.read("samples").set_index("image_id")
    box = tuple(samples.loc["img2", ["box_x0", "box_y0", "box_x1", "box_y1"]])
    expected = region_statistics(relevance, edges, box)
    assert none.loc["img2", "n_pos"] == pytest.approx(expected.n_pos, abs=2)
    assert none.loc["img2", "auc_edges"] == pytest.approx(expected.auc_edges, abs=1e-3)

    # Heat maps of the real model, one per image.
    heatmaps = sorted(p.name for p in run.path("heatmaps", "tiny").glob("*.png"))
    assert heatmaps == [f"img{i}.png" for i in range(6)]
    assert read_png(run.path("heatmaps", "tiny", "img2.png")).shape == (CROP, CROP, 3)
    report = json.loads(run.path("attribute-report.json").read_text())
    assert report["rows"] == 18


def test_controls(tmp_path):
    run, config = make_run(tmp_path)
    run_stage(run, config)
    table = run.read("attributions")
    by = {c: t.set_index("image_id").sort_index() for c, t in table.groupby("control")}

    # Shuffled edges: the same relevance and box, another image's edges.
    box_metrics = ["target", "logit", "r_mean", "n_pos", "mass_in_box", "rank_accuracy"]
    pd.testing.assert_frame_equal(by["none"][box_metrics], by["shuffled-edges"][box_metrics])
    assert not np.allclose(by["none"]["auc_edges"], by["shuffled-edges"]["auc_edges"])
    partner = stage.derangement([f"img{i}" for i in range(6)],
                                {f"img{i}": (CROP, CROP) for i in range(6)}, seed=3)
    assert sorted(partner) == sorted(partner.values()) == [f"img{i}" for i in range(6)]
    assert all(a != b for a, b in partner.items())

    # Random weights: the same target classes, other logits and maps.
    assert (by["random-weights"]["target"] == by["none"]["target"]).all()
    assert not np.allclose(by["random-weights"]["logit"], by["none"]["logit"])
    maps, index = stage.load_relevance(run, "tiny")
    rows = index.set_index(["control", "image_id"])["row"]
    assert not np.allclose(maps[rows["none", "img0"]], maps[rows["random-weights", "img0"]])


def test_randomize_weights_is_seeded_and_leaves_the_model_alone():
    from localglobal.toyworld.model import toy_resnet

    model = toy_resnet().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randn(4, 3, 32, 32)
    a = randomize_weights(model, seed=5, calibration=images)
    b = randomize_weights(model, seed=5, calibration=images)
    c = randomize_weights(model, seed=6)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    assert not torch.equal(a.fc.weight, c.fc.weight)
    assert not torch.equal(a.conv1.weight, model.conv1.weight)
    # Calibrated BatchNorm normalises the random network's own activations.
    assert not torch.equal(a.bn1.running_var, torch.ones_like(a.bn1.running_var))
    assert torch.equal(c.bn1.running_var, torch.ones_like(c.bn1.running_var))


def test_resume_refusal_and_true_targets(tmp_path):
    run, config = make_run(tmp_path, controls=[], heatmaps=False,
                           models=["no-lrp", "wrong-canonizer", "tiny"], target="true")
    first = run_stage(run, config)
    assert "has no LRP canonizer" in first["refused"]["no-lrp"]
    assert "does not fit" in first["refused"]["wrong-canonizer"]
    assert first["models"] == ["tiny"]
    assert first["per_model"]["tiny"]["computed"] == 2  # 6 items in shards of 4

    table = run.read("attributions")
    space = get_label_space("toyworld")
    samples = run.read("samples").set_index("image_id")
    expected = [space.index_of(samples.loc[i, "wnid"]) for i in table["image_id"]]
    assert table["target"].tolist() == expected
    assert not run.path("heatmaps").exists()

    again = run_stage(run, config)
    assert again["per_model"]["tiny"]["computed"] == 0
    assert again["per_model"]["tiny"]["resumed"] == 2
    pd.testing.assert_frame_equal(run.read("attributions"), table)


def test_non_finite_maps_are_kept_as_nan_rows_and_oom_halves_the_batch(tmp_path, monkeypatch):
    run, config = make_run(tmp_path, n_images=4, controls=[], heatmaps=False, batch_size=4)
    original = stage.Attributor._once
    calls = []

    def flaky(self, model, x, targets):
        calls.append(x.shape[0])
        if x.shape[0] > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        result = original(self, model, x, targets)
        if len(calls) == 4:  # the second image explained (after 4→2→1) gets a NaN map
            result.relevance[0, 0, 0, 0] = float("nan")
        return result

    monkeypatch.setattr(stage.Attributor, "_once", flaky)
    summary = run_stage(run, config)
    assert calls[:3] == [4, 2, 1]
    assert summary["per_model"]["tiny"]["batch_size"] == 1
    assert summary["per_model"]["tiny"]["halvings"] == 2
    assert summary["non_finite"] == 1

    table = run.read("attributions").set_index("image_id")
    assert len(table) == 4
    assert not table.loc["img1", "finite"]
    assert np.isnan(table.loc["img1", ["r_mean", "share_pos_on_edges", "auc_edges"]]
                    .astype(float)).all()
    assert table.drop(index="img1")["finite"].all()
    report = json.loads(run.path("attribute-report.json").read_text())
    assert [i["item_id"] for i in report["non_finite_items"]] == ["img1/original/0/0"]


def test_unreadable_images_are_reported_and_skipped(tmp_path):
    run, config = make_run(tmp_path, n_images=3, controls=["shuffled-edges"], heatmaps=False)
    samples = run.read("samples")
    samples.loc[1, "path"] = str(tmp_path / "missing.png")
    run.write("samples", samples)
    summary = run_stage(run, config)
    table = run.read("attributions")
    assert "img1" not in set(table["image_id"])
    assert len(table[table["control"] == "none"]) == 2
    assert summary["skipped"] >= 1
    report = json.loads(run.path("attribute-report.json").read_text())
    assert any(s["item_id"].startswith("img1/") for s in report["skipped_items"])


def test_perturbed_items_use_the_source_image_edges_and_box(tmp_path):
    run, config = make_run(tmp_path, n_images=2, controls=[], probes=["original", "scramble"])
    rows = []
    for image_id in ("img0", "img1"):
        for probe, level in (("original", 0), ("scramble", 32)):
            path = f"perturbations/{probe}/x/{image_id}_{level}.png"
            write_png(run.path(path), np.full((CROP, CROP, 3), 90 + level, np.uint8))
            rows.append({"item_id": f"{image_id}/{probe}/{level}/0", "image_id": image_id,
                         "wnid": "t00_circle", "probe": probe, "level": level, "variant": "0",
                         "params": "{}", "path": path})
    run.write("perturbations", pd.DataFrame(rows))
    run_stage(run, config)
    table = run.read("attributions")
    assert sorted(table["item_id"]) == sorted(r["item_id"] for r in rows)
    assert run.path("heatmaps", "tiny", "img0__scramble_32_0.png").exists()
    assert run.path("heatmaps", "tiny", "img0.png").exists()


def test_a_residual_canonizer_that_finds_no_block_is_refused():
    # timm's ResNet blocks are not torchvision's: the ResNet canonizer folds their
    # BatchNorms but finds no residual addition to split, so LRP would not conserve.
    import timm

    attributor = stage.Attributor(composite="epsilon-plus-flat", canonizer="resnet",
                                  epsilon=0.1, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2),
                                  device=torch.device("cpu"), batch_size=2)
    model = timm.create_model("resnet18", pretrained=False, num_classes=10).eval()
    with pytest.raises(stage.ModelRefused, match="none of its residual blocks"), \
            attributor.registered(model, "timm-resnet"):
        pass
    # The registry does not hand such a model a canonizer in the first place.
    assert resolve_model("timm:resnet18").canonizer is None
    assert resolve_model("timm:legacy_seresnet50").canonizer == "seresnet"
    # A torchvision ResNet under the same canonizer is accepted.
    torchvision_model = load_model(resolve_model("torchvision:resnet18:random")).eval()
    with attributor.registered(torchvision_model, "resnet18"):
        pass


def test_running_out_of_memory_while_copying_images_halves_the_batch(tmp_path, monkeypatch):
    run, config = make_run(tmp_path, n_images=4, controls=[], heatmaps=False, batch_size=4)
    original = stage.Attributor.normalise
    sizes = []

    def tight(self, images):
        sizes.append(len(images))
        if len(images) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory while copying")
        return original(self, images)

    monkeypatch.setattr(stage.Attributor, "normalise", tight)
    summary = run_stage(run, config)
    assert sizes[:2] == [4, 2]
    assert summary["per_model"]["tiny"]["halvings"] == 1
    assert len(run.read("attributions")) == 4
