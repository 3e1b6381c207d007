"""The attribute stage on a tiny run: a random toy ResNet, six images, every control."""

from __future__ import annotations

import os
import uuid

import numpy as np
import pandas as pd
import pytest
import torch

from localglobal.attribution import explainer as explainer_module
from localglobal.attribution import passes as passes_module
from localglobal.attribution.controls import derangement
from localglobal.attribution.explainer import explain
from localglobal.attribution.outputs import load_relevance
from localglobal.attribution.regions import RegionStatistics, region_statistics
from localglobal.config import config_from_dict
from localglobal.errors import StageError
from localglobal.io.atomic import write_json, write_npz
from localglobal.io.images import read_png, to_input_frame, write_png
from localglobal.labels import get_label_space
from localglobal.models import load_model, resolve_model
from localglobal.pipeline.fingerprint import output_digest
from localglobal.pipeline.manifest import Manifest
from localglobal.pipeline.runner import Runner
from localglobal.probes.canny import pack_mask, unpack_mask
from localglobal.run import prepare_run, run_stage
from localglobal.stages import REGISTRY

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

CROP, RESIZE = 64, 72
CONTRACT = ["model", "control", "image_id", "target", "logit", "r_mean", "pos_mean",
            "neg_mean", "n_pos", "n_neg", "n_pos_on_edges", "n_neg_on_edges",
            "share_pos_on_edges", "share_neg_on_edges", "mass_in_box", "rank_accuracy",
            "pointing_hit", "auc_edges"]
TINY = {"arch": "localglobal.toyworld.model:toy_resnet", "weights": "random",
        "label_space": "toyworld", "canonizer": "resnet"}


def mark_done(run, config, name: str) -> None:
    """Record stage ``name`` as done with what the run directory holds (reports empty)."""
    manifest = Manifest(run.root)
    manifest.record_run(config)
    digest, parts = Runner(run, config, REGISTRY).stage_hash(name, manifest)
    outputs = {}
    for artifact in REGISTRY.catalog.of_stage(name):
        path = run.path(artifact.path)
        if not path.exists() and artifact.always:
            if artifact.kind == "json":
                write_json(path, {"stage": name})
            elif artifact.kind == "table":
                run.write(artifact.name, pd.DataFrame())
            elif artifact.kind == "folder":
                path.mkdir(parents=True)
        found = output_digest(path)
        if found is not None:
            outputs[artifact.name] = found
    manifest.set_stage(name, status="done", hash=digest, parts=parts, outputs=outputs,
                       run_id=uuid.uuid4().hex[:16], summary={})


def make_run(tmp_path, n_images: int = 6, entries: dict | None = None, empty=(),
             **attribute):
    """A run with samples, edges (index and edges done) and source images."""
    rng = np.random.default_rng(0)
    wnids = get_label_space("toyworld").wnids
    rows, masks, edge_rows = [], {}, []
    for i in range(n_images):
        wnid = wnids[i % 3]
        image_id = f"img{i}"
        path = tmp_path / "images" / wnid / f"{image_id}.png"
        write_png(path, rng.integers(0, 256, (80, 96, 3), dtype=np.uint8))
        rows.append({"image_id": image_id, "path": str(path), "split": "train", "wnid": wnid,
                     "class_index": i % 3, "class_name": wnid, "width": 96, "height": 80,
                     "box_x0": 8.0 + i, "box_y0": 10.0, "box_x1": 40.0 + i, "box_y1": 50.5})
        masks[image_id] = pack_mask(rng.random((CROP, CROP)) < 0.15)
        edge_rows.append({"image_id": image_id, "lower": 1.0, "upper": 2.0, "n_edge": 9,
                          "n_edge_in_box": 3, "empty": image_id in empty})
    settings = {"models": ["tiny"], "batch_size": 2, "device": "cpu", **attribute}
    config = config_from_dict({
        "run": {"shard_size": 4, "seed": 3, "workers": 1},
        "frame": {"resize": RESIZE, "crop": CROP},
        "models": {"tiny": TINY, "no-lrp": dict(TINY, canonizer="none"),
                   "wrong-canonizer": dict(TINY, canonizer="seresnet"),
                   "no-weights": dict(TINY, weights=str(tmp_path / "missing.pt")),
                   **(entries or {})},
        "attribute": settings,
    })
    run, config = prepare_run(tmp_path / "run", config=config)
    run.write("samples", pd.DataFrame(rows))
    mark_done(run, config, "index")
    write_npz(run.artifact_path("edge_masks"), shape=np.array([CROP, CROP]), **masks)
    run.write("edges", pd.DataFrame(edge_rows))
    mark_done(run, config, "edges")
    return run, config


def attribute(run, config, **options) -> dict:
    return run_stage("attribute", run, config, workers=1, **options)


def report(run) -> dict:
    return run.read("attribute_report")


def frame_input(run, image_id, spec) -> tuple[np.ndarray, torch.Tensor]:
    samples = run.read("samples").set_index("image_id")
    from PIL import Image

    rgb = np.array(to_input_frame(Image.open(samples.loc[image_id, "path"]), RESIZE, CROP))
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return rgb, (x - mean) / std


def edge_mask(run, image_id) -> np.ndarray:
    with np.load(run.artifact_path("edge_masks")) as archive:
        return unpack_mask(archive[image_id], tuple(archive["shape"]))


def test_stage_writes_contract_tables_maps_and_heatmaps(tmp_path):
    run, config = make_run(tmp_path)
    summary = attribute(run, config)

    table = run.read("attributions")
    assert {*CONTRACT, "item_id", "probe", "finite", "method"} <= set(table.columns)
    # Every statistic the regions module returns is a column, new ones included.
    assert set(RegionStatistics.undefined().as_dict()) <= set(table.columns)
    assert {"auc_edges_in_box", "edge_enrichment_pos", "edge_enrichment_neg"} <= set(table)
    assert (table["method"] == "lrp-epsilon-plus-flat").all()
    assert summary["models"] == ["tiny"] and summary["items_per_model"] == 6
    assert summary["status"] == "done" and summary["method"] == "lrp-epsilon-plus-flat"
    counts = table.groupby("control").size().to_dict()
    assert counts == {"none": 6, "random-weights": 6, "shuffled-edges": 6}
    assert table["finite"].all() and (table["probe"] == "original").all()
    assert table["control"].tolist() == ["none"] * 6 + ["random-weights"] * 6 \
        + ["shuffled-edges"] * 6

    maps, index = load_relevance(run.root, "tiny")
    assert maps.dtype == np.float16 and maps.shape == (12, CROP, CROP)
    assert sorted(index["control"].unique()) == ["none", "random-weights"]
    assert index["row"].tolist() == list(range(12))

    # The stored map of an image is the channel sum of a direct LRP call.
    spec = resolve_model("tiny", config)
    model = load_model(spec)
    none = table[table["control"] == "none"].set_index("image_id")
    _, x = frame_input(run, "img2", spec)
    direct = explain(model, x, composite="epsilon-plus-flat", canonizer="resnet")
    relevance = direct.maps[0]
    row = index[(index["image_id"] == "img2") & (index["control"] == "none")]["row"].item()
    scale = np.abs(relevance).max()
    np.testing.assert_allclose(maps[row].astype(np.float32), relevance, atol=2e-3 * scale)
    assert none.loc["img2", "target"] == direct.targets.item()
    assert none.loc["img2", "logit"] == pytest.approx(direct.logits.item(), rel=1e-4)

    # Its statistics are the regions module's, against its own edges and box.
    samples = run.read("samples").set_index("image_id")
    box = tuple(samples.loc["img2", ["box_x0", "box_y0", "box_x1", "box_y1"]])
    expected = region_statistics(relevance, edge_mask(run, "img2"), box)
    assert none.loc["img2", "n_pos"] == pytest.approx(expected.n_pos, abs=2)
    assert none.loc["img2", "auc_edges"] == pytest.approx(expected.auc_edges, abs=1e-3)

    # Heat maps of the real model, one per image.
    heatmaps = sorted(p.name for p in run.path("heatmaps", "tiny").glob("*.png"))
    assert heatmaps == [f"img{i}.png" for i in range(6)]
    assert read_png(run.path("heatmaps", "tiny", "img2.png")).shape == (CROP, CROP, 3)
    record = report(run)
    assert record["summary"]["rows"] == 18 and record["status"] == "done"
    assert record["details"]["per_model"]["tiny"]["rows"] == 18
    # Up to date now: a second run is skipped.
    assert attribute(run, config).get("skipped")


def test_controls(tmp_path):
    run, config = make_run(tmp_path)
    attribute(run, config)
    table = run.read("attributions")
    by = {c: t.set_index("image_id").sort_index() for c, t in table.groupby("control")}

    # Shuffled edges: the same relevance and box, another image's edges.
    box_metrics = ["target", "logit", "r_mean", "n_pos", "mass_in_box", "rank_accuracy"]
    pd.testing.assert_frame_equal(by["none"][box_metrics], by["shuffled-edges"][box_metrics])
    assert not np.allclose(by["none"]["auc_edges"], by["shuffled-edges"]["auc_edges"])
    partner = derangement([f"img{i}" for i in range(6)],
                          {f"img{i}": (CROP, CROP) for i in range(6)}, seed=3)
    assert sorted(partner) == sorted(partner.values()) == [f"img{i}" for i in range(6)]
    assert all(a != b for a, b in partner.items())

    # Random weights: the same target classes, other logits and maps.
    assert (by["random-weights"]["target"] == by["none"]["target"]).all()
    assert not np.allclose(by["random-weights"]["logit"], by["none"]["logit"])
    maps, index = load_relevance(run.root, "tiny")
    rows = index.set_index(["control", "image_id"])["row"]
    assert not np.allclose(maps[rows["none", "img0"]], maps[rows["random-weights", "img0"]])


def test_resume_refusal_and_true_targets(tmp_path):
    run, config = make_run(tmp_path, controls=[], heatmaps=False,
                           models=["no-lrp", "wrong-canonizer", "tiny"], target="true")
    with pytest.raises(StageError, match="no-lrp"):
        attribute(run, config)
    first = report(run)
    failed = {m["model"]: m["reason"] for m in first["models"]["failed"]}
    assert "has no LRP canonizer" in failed["no-lrp"]
    assert "does not fit" in failed["wrong-canonizer"]
    assert first["summary"]["models"] == ["tiny"]
    assert first["details"]["per_model"]["tiny"]["computed"] == 6  # items explained

    table = run.read("attributions")
    space = get_label_space("toyworld")
    samples = run.read("samples").set_index("image_id")
    expected = [space.index_of(samples.loc[i, "wnid"]) for i in table["image_id"]]
    assert table["target"].tolist() == expected
    assert not run.path("heatmaps").exists()

    # A failed stage runs again; the model that worked is resumed, not recomputed.
    with pytest.raises(StageError):
        attribute(run, config)
    again = report(run)["details"]["per_model"]["tiny"]
    assert again["computed"] == 0 and again["resumed"] == 6
    pd.testing.assert_frame_equal(run.read("attributions"), table)


def test_a_model_that_fails_to_load_is_reported_and_the_others_run(tmp_path):
    run, config = make_run(tmp_path, n_images=3, controls=[], heatmaps=False,
                           models=["no-weights", "tiny"])
    with pytest.raises(StageError, match="no-weights"):
        attribute(run, config)
    record = report(run)
    assert record["status"] == "failed"
    assert [m["model"] for m in record["models"]["failed"]] == ["no-weights"]
    assert "does not exist" in record["models"]["failed"][0]["reason"]
    assert set(run.read("attributions")["model"]) == {"tiny"}
    assert load_relevance(run.root, "tiny")[0].shape[0] == 3


def test_every_model_failing_fails_the_stage(tmp_path):
    run, config = make_run(tmp_path, n_images=2, controls=[], models=["no-lrp"])
    with pytest.raises(StageError, match="every model failed"):
        attribute(run, config)


def test_non_finite_maps_are_kept_as_nan_rows_and_oom_halves_the_batch(tmp_path, monkeypatch):
    run, config = make_run(tmp_path, n_images=4, controls=[], heatmaps=False, batch_size=4)
    original = explainer_module.attribute_batch
    calls = []

    def flaky(attributor, method, x, targets, name):
        calls.append(x.shape[0])
        if x.shape[0] > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        result = original(attributor, method, x, targets, name)
        if len(calls) == 4:  # the second image explained (after 4→2→1) gets a NaN map
            result.maps[0, 0, 0] = float("nan")
        return result

    monkeypatch.setattr(explainer_module, "attribute_batch", flaky)
    summary = attribute(run, config)
    assert calls[:3] == [4, 2, 1]
    details = report(run)["details"]
    assert details["per_model"]["tiny"]["batch_size"] == 1
    assert details["per_model"]["tiny"]["halvings"] == 2
    assert summary["non_finite"] == 1

    table = run.read("attributions").set_index("image_id")
    assert len(table) == 4
    assert not table.loc["img1", "finite"]
    assert np.isnan(table.loc["img1", ["r_mean", "share_pos_on_edges", "auc_edges"]]
                    .astype(float)).all()
    assert table.drop(index="img1")["finite"].all()
    assert [i["item_id"] for i in details["non_finite_items"]] == ["img1/original/0/0"]
    maps, index = load_relevance(run.root, "tiny")
    row = index.set_index("image_id").loc["img1", "row"]
    assert maps[row][0, 0] == 0 and np.isfinite(maps[row]).all()  # NaN stored as 0


def test_unreadable_images_are_reported_and_skipped(tmp_path):
    run, config = make_run(tmp_path, n_images=3, controls=["shuffled-edges"], heatmaps=False)
    samples = run.read("samples")
    samples.loc[1, "path"] = str(tmp_path / "missing.png")
    run.write("samples", samples)
    mark_done(run, config, "index")
    mark_done(run, config, "edges")
    summary = attribute(run, config)
    table = run.read("attributions")
    assert "img1" not in set(table["image_id"])
    assert len(table[table["control"] == "none"]) == 2
    assert summary["bad"] >= 1 and summary["status"] == "done"
    bad = report(run)["bad_items"]
    assert any(b["item"].startswith("img1/") for b in bad)


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
    mark_done(run, config, "perturb")
    attribute(run, config)
    table = run.read("attributions")
    assert sorted(table["item_id"]) == sorted(r["item_id"] for r in rows)
    assert run.path("heatmaps", "tiny", "img0__scramble_32_0.png").exists()
    assert run.path("heatmaps", "tiny", "img0.png").exists()
    index = load_relevance(run.root, "tiny")[1]
    assert set(index["probe"]) == {"original", "scramble"}


def test_running_out_of_memory_while_copying_images_halves_the_batch(tmp_path, monkeypatch):
    run, config = make_run(tmp_path, n_images=4, controls=[], heatmaps=False, batch_size=4)
    original = explainer_module.model_input
    sizes = []

    def tight(images, *args):
        sizes.append(len(images))
        if len(images) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory while copying")
        return original(images, *args)

    monkeypatch.setattr(explainer_module, "model_input", tight)
    attribute(run, config)
    assert sizes[:2] == [4, 2]
    assert report(run)["details"]["per_model"]["tiny"]["halvings"] == 1
    assert len(run.read("attributions")) == 4


def test_new_region_statistics_flow_into_the_table(tmp_path, monkeypatch):
    # Whatever the regions module returns becomes a column, not a fixed list of them.
    real = passes_module.region_statistics

    class WithExtra:
        def __init__(self, stats):
            self.finite = stats.finite
            self._stats = stats

        def as_dict(self):
            return {**self._stats.as_dict(), "extra_statistic": 0.25}

    monkeypatch.setattr(passes_module, "region_statistics", lambda *a: WithExtra(real(*a)))
    run, config = make_run(tmp_path, n_images=2, controls=[], heatmaps=False)
    attribute(run, config)
    table = run.read("attributions")
    assert table["extra_statistic"].tolist() == [0.25, 0.25]
    assert table["extra_statistic"].dtype == np.float64


def test_empty_edge_masks_are_counted_and_gradient_x_input_needs_no_canonizer(tmp_path):
    run, config = make_run(tmp_path, n_images=3, controls=[], heatmaps=False,
                           composite="gradient-x-input", models=["no-lrp"], empty=("img1",))
    summary = attribute(run, config)
    assert summary["method"] == "gradient-x-input"
    assert report(run)["details"]["empty_edge_masks"] == ["img1"]
    assert set(run.read("attributions")["method"]) == {"gradient-x-input"}


def test_an_unknown_composite_is_a_configuration_error(tmp_path):
    run, config = make_run(tmp_path, n_images=2, composite="epsilon-plus-flatt")
    with pytest.raises(ValueError, match="unknown composite 'epsilon-plus-flatt'; known: "
                       "epsilon-plus-flat"):
        attribute(run, config)


def test_adding_a_model_computes_only_that_model(tmp_path):
    second = {"tiny-b": dict(TINY)}
    run, config = make_run(tmp_path, n_images=3, controls=[], heatmaps=False, entries=second)
    attribute(run, config)
    first = run.read("attributions")
    config = config.model_copy(update={"attribute": config.attribute.model_copy(
        update={"models": ["tiny", "tiny-b"]})})
    run, config = prepare_run(run.root, config=config)
    attribute(run, config)
    per_model = report(run)["details"]["per_model"]
    assert per_model["tiny"]["computed"] == 0 and per_model["tiny-b"]["computed"] == 3
    table = run.read("attributions")
    pd.testing.assert_frame_equal(table[table["model"] == "tiny"].reset_index(drop=True),
                                  first)


@pytest.mark.slow
def test_attribute_on_ray_gives_the_tables_and_maps_of_the_local_run(tmp_path):
    pytest.importorskip("ray", reason="Ray is in the test extra: pip install -e '.[test]'")
    local, config = make_run(tmp_path / "local", n_images=5)
    attribute(local, config)
    on_ray, config = make_run(tmp_path / "ray", n_images=5)
    config.run.executor = "ray"
    attribute(on_ray, config)
    assert report(on_ray)["executor"] == "ray"
    assert report(local)["executor"] == "process"
    # The same rows (the paths of the source images differ between the two folders).
    pd.testing.assert_frame_equal(local.read("attributions").drop(columns="path",
                                                                  errors="ignore"),
                                  on_ray.read("attributions").drop(columns="path",
                                                                   errors="ignore"),
                                  check_exact=False, atol=1e-6)
    local_maps, local_index = load_relevance(local.root, "tiny")
    ray_maps, ray_index = load_relevance(on_ray.root, "tiny")
    pd.testing.assert_frame_equal(local_index, ray_index)
    np.testing.assert_allclose(local_maps.astype(np.float32), ray_maps.astype(np.float32),
                               atol=1e-3)
    names = sorted(p.name for p in local.path("heatmaps", "tiny").iterdir())
    assert names == sorted(p.name for p in on_ray.path("heatmaps", "tiny").iterdir())


@pytest.mark.slow
def test_a_model_that_fails_to_load_on_a_ray_actor_is_reported_as_that_model(tmp_path):
    pytest.importorskip("ray", reason="Ray is in the test extra: pip install -e '.[test]'")
    run, config = make_run(tmp_path, n_images=2, controls=[], heatmaps=False,
                           models=["no-weights", "tiny"])
    config.run.executor = "ray"
    with pytest.raises(StageError, match="no-weights"):
        attribute(run, config)
    record = report(run)
    assert [m["model"] for m in record["models"]["failed"]] == ["no-weights"]
    assert "does not exist" in record["models"]["failed"][0]["reason"]
    assert set(run.read("attributions")["model"]) == {"tiny"}
