"""A fake but contract-complete run directory with a known built-in effect.

Shared by the analysis, report and stage tests (``from tests.fake_run import …``; the
conftests of ``tests/analysis`` and ``tests/report`` make its fixtures theirs). Every
table is written where the stages' declarations put it, and every stage that would
have written it is recorded as done with the real hash and output digests, so that
the runner sees the run as up to date.

Model ``a`` behaves like a shape-reliant network (the Stylized-ImageNet analogue) and
``b`` like a texture-reliant one: scrambling hurts ``a`` more, smoothing hurts ``b``
more, ``a``'s single-patch drops predict its all-patches drop (``b``'s do not),
``a``'s positive relevance lies on edges more, and ``a`` follows shape on cue-conflict
stimuli. The removed-detail images affect both alike (a null comparison).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from localglobal.analysis.shape_bias import shape_bias
from localglobal.config import RunConfig, config_from_dict
from localglobal.io.atomic import write_json, write_npy, write_npz
from localglobal.io.images import write_png
from localglobal.pipeline.fingerprint import output_digest
from localglobal.pipeline.manifest import Manifest
from localglobal.pipeline.rundir import RunDir
from localglobal.pipeline.runner import Runner
from localglobal.run import prepare_run
from localglobal.stages import REGISTRY

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

CROP = 64
MODELS = ("a", "b")
CONTROLS = ("none", "random-weights", "shuffled-edges")
SCRAMBLE_BLOCKS = [16, 32]
PATCH_SIZES = [8, 10, 12, 16, 20]
SMOOTH_PASSES = 3

HYPOTHESES = [
    {"id": "SCR", "probe": "scramble", "relative_to": "original", "model_a": "a",
     "model_b": "b", "alternative": "greater",
     "description": "scrambling hurts a more than b"},
    {"id": "SCR-16", "probe": "scramble", "levels": [16], "relative_to": "original",
     "model_a": "a", "model_b": "b", "alternative": "greater",
     "description": "16-pixel blocks hurt a more than b"},
    {"id": "INT", "source": "interaction", "probe": "patch", "measure": "correlation",
     "model_a": "b", "model_b": "a", "alternative": "less",
     "description": "single/all-patch correlation is lower for b"},
    {"id": "SMO", "probe": "smooth", "relative_to": "original", "model_a": "a",
     "model_b": "b", "alternative": "less", "description": "a loses less under smoothing"},
    {"id": "LRP-pos", "source": "attributions", "measure": "share_pos_on_edges",
     "model_a": "a", "model_b": "b", "alternative": "greater",
     "description": "a's positive relevance lies on edges more"},
    {"id": "NULL", "probe": "smooth_diff", "relative_to": "original", "model_a": "a",
     "model_b": "b", "alternative": "greater",
     "description": "removed detail hurts a more (no effect built in)"},
]


def patch_count(size: int, crop: int = CROP) -> int:
    """Number of single patches of a side on the odd grid of the design."""
    n = crop // size
    n -= 1 if n % 2 == 0 else 0
    return ((n + 1) // 2) ** 2


def fake_config(**analysis) -> RunConfig:
    """A small configuration matching the fake run (bootstrap and figures kept cheap)."""
    return config_from_dict({
        "frame": {"resize": 73, "crop": CROP},
        "probes": {"scramble": {"blocks": SCRAMBLE_BLOCKS, "variants": 2},
                   "patch": {"sizes": PATCH_SIZES},
                   "smooth": {"iterations": SMOOTH_PASSES}},
        "evaluate": {"models": list(MODELS)},
        "attribute": {"models": list(MODELS)},
        "analysis": {"bootstrap": 200, "figure_dpi": 50, "contact_sheets": 0,
                     "hypotheses": HYPOTHESES, **analysis},
        "report": {"title": "Fake run", "gallery_images": 2},
    })


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _items(image_ids: list[str]) -> list[tuple[str, str, int, str]]:
    items = []
    for image_id in image_ids:
        items.append((image_id, "original", 0, "0"))
        items += [(image_id, "scramble", b, str(v)) for b in SCRAMBLE_BLOCKS for v in range(2)]
        for size in PATCH_SIZES:
            items += [(image_id, "patch", size, str(j)) for j in range(patch_count(size))]
            items.append((image_id, "patch", size, "all"))
        items += [(image_id, "smooth", k, "0") for k in range(1, SMOOTH_PASSES + 1)]
        items += [(image_id, "smooth_diff", 1, "0"), (image_id, "smooth_diff_inv", 1, "0")]
    return items


def _drops(model: str, items: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Logit drop of every item relative to its original, with the built-in effect."""
    shape_reliant = model == "a"
    drop = np.zeros(len(items))
    probe, level = items["probe"].to_numpy(), items["level"].to_numpy(dtype=float)
    scramble = probe == "scramble"
    drop[scramble] = (3.0 * np.sqrt(16 / level[scramble]) if shape_reliant else 0.6) \
        + rng.normal(0, 0.3, scramble.sum())
    smooth = probe == "smooth"
    drop[smooth] = (0.15 if shape_reliant else 0.9) * level[smooth] \
        + rng.normal(0, 0.2, smooth.sum())
    detail = np.isin(probe, ["smooth_diff", "smooth_diff_inv"])
    drop[detail] = rng.normal(3.0, 0.5, detail.sum())
    # Patches: every image has its own sensitivity u, so S varies across images.
    sensitivity = {i: rng.uniform(0.5, 1.5) for i in items["image_id"].unique()}
    single = (probe == "patch") & (items["variant"].to_numpy() != "all")
    u = items["image_id"].map(sensitivity).to_numpy()
    drop[single] = np.abs(u[single] * 0.01 * level[single] + rng.normal(0, 0.01, single.sum()))
    frame = items.assign(drop=drop)
    sums = frame[single].groupby(["image_id", "level"])["drop"].sum()
    for (image_id, size), total in sums.items():
        mask = ((items["image_id"] == image_id) & (items["level"] == size)
                & (items["variant"] == "all")).to_numpy()
        if shape_reliant:
            drop[mask] = 1.1 * total + rng.normal(0, 0.02)
        else:
            drop[mask] = sums.xs(size, level="level").mean() * rng.uniform(0.2, 1.8)
    return drop


def make_predictions(image_ids: list[str], classes: dict[str, int], wnids: dict[str, str],
                     rng: np.random.Generator) -> pd.DataFrame:
    items = pd.DataFrame(_items(image_ids), columns=["image_id", "probe", "level", "variant"])
    items["level"] = items["level"].astype("int64")
    tables = []
    for model in MODELS:
        base = {i: rng.normal(4.0, 0.4) for i in image_ids}
        logit = items["image_id"].map(base).to_numpy() - _drops(model, items, rng)
        prob = _sigmoid(logit - 2.0)
        true_index = items["image_id"].map(classes).to_numpy()
        correct = prob > 0.5
        pred_index = np.where(correct, true_index, (true_index + 1) % 10)
        tables.append(pd.DataFrame({
            "model": model,
            "item_id": items["image_id"] + "/" + items["probe"] + "/"
            + items["level"].astype(str) + "/" + items["variant"],
            "true_index": true_index, "true_logit": logit, "true_prob": prob,
            "true_rank": np.where(correct, 1, 2), "pred_index": pred_index,
            "pred_logit": np.maximum(logit, 2.0), "pred_prob": np.maximum(prob, 0.5),
            "top5": [[int(p), int(p + 1) % 10, int(p + 2) % 10, int(p + 3) % 10,
                      int(p + 4) % 10] for p in pred_index],
            "subset_pred_index": pred_index, "subset_true_prob": prob,
            "image_id": items["image_id"], "wnid": items["image_id"].map(wnids),
            "probe": items["probe"], "level": items["level"], "variant": items["variant"],
        }))
    return pd.concat(tables, ignore_index=True)


def make_attributions(image_ids: list[str], rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for model in MODELS:
        for control in CONTROLS:
            for image_id in image_ids:
                if control == "none":
                    share_pos = (0.45 if model == "a" else 0.25) + rng.normal(0, 0.05)
                    share_neg = (0.10 if model == "a" else 0.20) + rng.normal(0, 0.03)
                else:
                    share_pos, share_neg = 0.1 + rng.normal(0, 0.02), 0.1 + rng.normal(0, 0.02)
                n_pos, n_neg = int(rng.integers(300, 900)), int(rng.integers(300, 900))
                rows.append({
                    "model": model, "control": control, "image_id": image_id, "target": 3,
                    "logit": rng.normal(4, 0.5), "r_mean": rng.normal(0.001, 1e-4),
                    "pos_mean": abs(rng.normal(0.02, 0.005)),
                    "neg_mean": -abs(rng.normal(0.02, 0.005)), "n_pos": n_pos, "n_neg": n_neg,
                    "n_pos_on_edges": int(n_pos * share_pos),
                    "n_neg_on_edges": int(n_neg * share_neg),
                    "share_pos_on_edges": share_pos, "share_neg_on_edges": share_neg,
                    "mass_in_box": rng.uniform(0.4, 0.9), "rank_accuracy": rng.uniform(0.3, 0.8),
                    "pointing_hit": float(rng.random() < 0.7), "auc_edges": rng.uniform(0.5, 0.8),
                    "item_id": f"{image_id}/original/0/0", "probe": "original",
                })
    return pd.DataFrame(rows)


def make_cue_conflict(rng: np.random.Generator, n: int = 40) -> pd.DataFrame:
    wnids = [f"n0000000{k}" for k in range(5)]
    rows = []
    for model, p_shape, p_texture in (("a", 0.8, 0.1), ("b", 0.2, 0.7)):
        for k in range(n + 4):
            shape = wnids[k % 5]
            texture = shape if k >= n else wnids[(k + 1 + k // 5) % 5]
            if texture == shape and k < n:
                texture = wnids[(k + 2) % 5]
            draw = rng.random()
            pred = shape if draw < p_shape else texture if draw < p_shape + p_texture \
                else "n09999999"
            rows.append({"model": model, "path": f"stimuli/{k}.png", "shape_wnid": shape,
                         "texture_wnid": texture, "pred_wnid": pred, "pred_index": 0})
    return pd.DataFrame(rows)


def _params(items: pd.DataFrame, rng: np.random.Generator) -> list[str]:
    """The ``params`` JSON of every perturbation, as the contracts describe it."""
    params = []
    for probe, level, variant in items[["probe", "level", "variant"]].itertuples(index=False):
        if probe == "scramble":
            n = (CROP // level) ** 2
            record = {"block": int(level), "permutation": np.roll(np.arange(n), 1).tolist()}
        elif probe == "patch":
            n = CROP // level - (1 if (CROP // level) % 2 == 0 else 0)
            margin = (CROP - n * level) // 2
            cells = [(r, c) for r in range(0, n, 2) for c in range(0, n, 2)]
            rects = [[margin + c * level, margin + r * level, margin + (c + 1) * level,
                      margin + (r + 1) * level] for r, c in cells]
            if variant != "all":
                rects = [rects[int(variant)]]
            record = {"size": int(level), "fill": "black", "rects": rects}
        elif probe.startswith("smooth"):
            record = {"operator": "l0", "iterations": int(level)}
        else:
            record = {}
        params.append(json.dumps(record))
    return params


@dataclass
class FakeRun:
    run: RunDir
    config: RunConfig
    image_ids: list[str]
    crop: int = CROP
    models: tuple[str, ...] = MODELS
    scramble_blocks: tuple[int, ...] = tuple(SCRAMBLE_BLOCKS)


def mark_done(run: RunDir, config: RunConfig, name: str) -> None:
    """Record stage ``name`` as done with what the run directory holds now.

    Outputs the fake does not make (``boxes.parquet``, stage reports) are written
    empty, so that the stage's record is complete.
    """
    manifest = Manifest(run.root)
    digest, parts = Runner(run, config, REGISTRY).stage_hash(name, manifest)
    outputs = {}
    for artifact in REGISTRY.catalog.of_stage(name):
        path = run.path(artifact.path)
        if not path.exists() and artifact.always:
            if artifact.kind == "json":
                write_json(path, {"stage": name, "status": "done", "details": {}})
            elif artifact.kind == "table":
                run.write(artifact.name, pd.DataFrame())
            elif artifact.kind == "folder":
                path.mkdir(parents=True)
        found = output_digest(path)
        if found is not None:
            outputs[artifact.name] = found
    manifest.set_stage(name, status="done", hash=digest, parts=parts, outputs=outputs,
                       run_id=uuid.uuid4().hex[:16], seconds=0.5,
                       finished="2024-01-01T00:00:00+00:00", summary={"items": 1},
                       error=None)


def _write_relevance(run: RunDir, image_ids: list[str], rng: np.random.Generator) -> None:
    yy, xx = np.mgrid[0:CROP, 0:CROP]
    for model in MODELS:
        maps, index = [], []
        for control in CONTROLS:
            for image_id in image_ids:
                noise = rng.normal(0, 0.2, (CROP, CROP))
                blob = np.exp(-((yy - 32) ** 2 + (xx - 32) ** 2) / 200.0)
                maps.append((blob + noise if model == "a" else noise).astype(np.float16))
                index.append((image_id, control, len(index), f"{image_id}/original/0/0",
                              "original"))
        # A perturbed image's map, which the frame densities must leave out.
        maps.append(np.ones((CROP, CROP), dtype=np.float16))
        index.append((image_ids[0], "none", len(index), f"{image_ids[0]}/scramble/16/0",
                      "scramble"))
        folder = run.artifact_path("relevance")
        write_npy(folder / f"{model}.npy", np.stack(maps))
        pd.DataFrame(index, columns=["image_id", "control", "row", "item_id", "probe"]
                     ).to_parquet(folder / f"{model}.index.parquet", index=False)


def _write_samples(run: RunDir, image_ids: list[str], wnids: dict[str, str],
                   classes: dict[str, int], rng: np.random.Generator) -> None:
    boxes = []
    for _ in image_ids:
        x0, y0 = rng.uniform(4, 24, 2)
        boxes.append((x0, y0, x0 + rng.uniform(20, 36), y0 + rng.uniform(20, 36)))
    boxes = np.array(boxes)
    run.write("samples", pd.DataFrame({
        "image_id": image_ids, "path": [str(run.root / "images" / f"{i}.JPEG") for i in image_ids],
        "split": "train", "wnid": [wnids[i] for i in image_ids],
        "class_index": [classes[i] for i in image_ids],
        "class_name": [f"class {classes[i]}" for i in image_ids], "width": 100, "height": 80,
        "box_x0": boxes[:, 0], "box_y0": boxes[:, 1], "box_x1": boxes[:, 2],
        "box_y1": boxes[:, 3], "boxes_input": [[list(b)] for b in boxes],
    }))


def _write_perturbations(run: RunDir, image_ids: list[str], wnids: dict[str, str],
                         rng: np.random.Generator, images: bool) -> None:
    items = pd.DataFrame(_items(image_ids), columns=["image_id", "probe", "level", "variant"])
    item_id = (items["image_id"] + "/" + items["probe"] + "/" + items["level"].astype(str)
               + "/" + items["variant"])
    perturbations = items.assign(
        item_id=item_id, wnid=items["image_id"].map(wnids), params=_params(items, rng),
        path="perturbations/" + items["probe"] + "/" + items["image_id"].map(wnids) + "/"
        + item_id.str.replace("/", "_") + ".png")
    run.write("perturbations", perturbations)
    run.artifact_path("perturbation_images").mkdir(parents=True, exist_ok=True)
    if images:
        for path in perturbations["path"]:
            write_png(run.path(path), rng.integers(0, 255, (CROP, CROP, 3), dtype=np.uint8))


def _write_edges(run: RunDir, image_ids: list[str], rng: np.random.Generator) -> None:
    masks = {i: rng.random((CROP, CROP)) < 0.1 for i in image_ids}
    run.write("edges", pd.DataFrame({
        "image_id": image_ids, "lower": 10.0, "upper": 200.0,
        "n_edge": [int(masks[i].sum()) for i in image_ids],
        "n_edge_in_box": [int(masks[i].sum() // 2) for i in image_ids]}))
    # The edges stage's layout: one bit-packed row-major mask per image, plus shape.
    write_npz(run.artifact_path("edge_masks"), shape=np.array([CROP, CROP]),
              **{i: np.packbits(masks[i].ravel()) for i in image_ids})


def make_fake_run(root: Path, *, n_images: int = 10, seed: int = 0, attribute: bool = True,
                  cue_conflict: bool = True, edges: bool = True, images: bool = False,
                  config: RunConfig | None = None) -> FakeRun:
    """Write a fake run directory under ``root`` (every table the analysis reads).

    The stages that would have written the tables (annotations, index, perturb,
    evaluate, and edges and attribute unless left out) are recorded as done; an
    attribute stage's tables come with a few heat maps.
    """
    rng = np.random.default_rng(seed)
    run, config = prepare_run(root, config=config or fake_config())
    Manifest(run.root).record_run(config)

    image_ids = [f"n0000000{k % 2}_{k}" for k in range(n_images)]
    wnids = {i: i.split("_")[0] for i in image_ids}
    classes = {i: int(wnids[i][-1]) for i in image_ids}
    _write_samples(run, image_ids, wnids, classes, rng)
    _write_perturbations(run, image_ids, wnids, rng, images)
    run.write("predictions", make_predictions(image_ids, classes, wnids, rng))
    if edges:
        _write_edges(run, image_ids, rng)
    if attribute:
        run.write("attributions", make_attributions(image_ids, rng))
        _write_relevance(run, image_ids, rng)
        for model in MODELS:
            for image_id in [*image_ids[:4], f"{image_ids[0]}__scramble_16_0"]:
                write_png(run.path("heatmaps", model, f"{image_id}.png"),
                          rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
    if cue_conflict:  # what the geirhos stage writes
        bias = shape_bias(make_cue_conflict(rng))
        run.write("shape_bias", bias.assign(kind="model", dataset="cue-conflict"))

    done = ["annotations", "index", "edges" if edges else None, "perturb", "evaluate",
            "attribute" if attribute else None, "geirhos" if cue_conflict else None]
    for name in REGISTRY.order():
        if name in done:
            mark_done(run, config, name)
    return FakeRun(run, config, image_ids)


@pytest.fixture(scope="session")
def make_run():
    """The builder :func:`make_fake_run`, for tests that need other options."""
    return make_fake_run


@pytest.fixture(scope="session")
def make_config():
    """The builder :func:`fake_config` (keyword arguments go to ``[analysis]``)."""
    return fake_config


@pytest.fixture
def fake_run(tmp_path: Path) -> FakeRun:
    """A complete fake run (predictions, attributions, edges, cue conflict, manifest)."""
    return make_fake_run(tmp_path / "run")
