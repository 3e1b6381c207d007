"""Run directories for the perturb and edges stages: a few JPEGs and a samples.parquet.

``make_run`` writes ``samples.parquet`` as the index stage would and records the index
stage as done in the manifest, so that ``run_stage("perturb" | "edges", …)`` runs on
exactly these samples (broken, tiny and greyscale images included).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from localglobal.config import RunConfig, config_from_dict
from localglobal.data.geometry import frame_transform, union_box
from localglobal.io.atomic import write_json
from localglobal.pipeline.fingerprint import output_digest
from localglobal.pipeline.manifest import Manifest
from localglobal.pipeline.rundir import RunDir
from localglobal.pipeline.runner import Runner
from localglobal.run import prepare_run, run_stage
from localglobal.stages import REGISTRY

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

TINY_PROBES = {
    "scramble": {"blocks": [56, 112], "variants": 3},
    "patch": {"sizes": [70], "fill": "black"},
    "smooth": {"iterations": 2},
}
# Per image: original, 2 block sides × 3 variants, 4 patches + all, 2 passes, 2 detail images.
ITEMS_PER_IMAGE = 1 + 6 + 5 + 2 + 2


def textured_scene(rng: np.random.Generator, width: int = 300, height: int = 240,
                   ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A noisy two-tone background with a textured rectangle; returns image and box."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.float64)
    image[:] = rng.integers(40, 120, 3)
    image += 25 * np.sin(xx / 7.0)[..., None]
    x0, y0 = int(rng.integers(20, width // 3)), int(rng.integers(20, height // 3))
    x1, y1 = x0 + int(rng.integers(width // 3, width // 2)), y0 + int(rng.integers(60, 120))
    inside = (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)
    checker = ((xx // 4 + yy // 4) % 2) * 40.0
    image[inside] = rng.integers(150, 230, 3) + checker[inside][:, None]
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), (x0, y0, x1, y1)


def sample_row(path: Path, image_id: str, wnid: str, class_index: int, size: tuple[int, int],
               box: tuple[float, float, float, float], resize: int = 256, crop: int = 224,
               ) -> dict:
    """A samples.parquet row following the contract, box mapped into the input frame."""
    width, height = size
    mapped = frame_transform(width, height, resize, crop).map_boxes(np.array([box]))
    x0, y0, x1, y1 = union_box(mapped)
    return {
        "image_id": image_id, "path": str(path), "split": "train", "wnid": wnid,
        "class_index": class_index, "class_name": wnid, "width": width, "height": height,
        "box_x0": x0, "box_y0": y0, "box_x1": x1, "box_y1": y1,
        "boxes_input": [list(map(float, row)) for row in mapped],
    }


def build_images(folder: Path, n: int = 3, seed: int = 0) -> list[dict]:
    """``n`` JPEGs in ``folder/<wnid>/`` and their samples rows."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        wnid = f"n0000000{k % 2}"
        image, box = textured_scene(rng, 300 - 20 * k, 240)
        image_id = f"{wnid}_{k}"
        path = folder / wnid / f"{image_id}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, quality=95)
        rows.append(sample_row(path, image_id, wnid, k % 2, image.shape[1::-1], box))
    return rows


def mark_done(run: RunDir, config: RunConfig, name: str = "index") -> None:
    """Record stage ``name`` as done with what the run directory holds now."""
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
        found = output_digest(path)
        if found is not None:
            outputs[artifact.name] = found
    manifest.set_stage(name, status="done", hash=digest, parts=parts, outputs=outputs,
                       run_id=uuid.uuid4().hex[:16], summary={})


def make_run(root: Path, rows: list[dict], probes: dict | None = None,
             **sections) -> tuple[RunDir, RunConfig]:
    """A run directory holding ``samples.parquet`` (index done) and its configuration."""
    config = config_from_dict({"probes": probes or TINY_PROBES, **sections})
    run, config = prepare_run(root, config=config)
    run.write("samples", pd.DataFrame(rows))
    mark_done(run, config)
    return run, config


def stage_report(run: RunDir, name: str) -> dict:
    """The stage's ``<name>-report.json``."""
    return run.read(f"{name}_report")


def generate(root: Path, rows: list[dict]) -> tuple[RunDir, RunConfig, dict, dict]:
    """A run where perturb and edges have run on ``rows``; both summaries."""
    run, config = make_run(root, rows)
    perturb_summary = run_stage("perturb", run, config, workers=1)
    edges_summary = run_stage("edges", run, config, workers=1)
    return run, config, perturb_summary, edges_summary
