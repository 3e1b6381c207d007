"""A small run directory built from scratch: a few JPEGs and a samples.parquet."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from localglobal.config import config_from_dict
from localglobal.data.geometry import frame_transform, union_box
from localglobal.run import StageContext
from localglobal.store import RunDir

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

TINY_PROBES = {
    "scramble": {"blocks": [56, 112], "variants": 3},
    "patch": {"sizes": [70], "fill": "black"},
    "smooth": {"iterations": 2},
}


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


def make_run(root: Path, rows: list[dict], probes: dict | None = None,
             **sections) -> tuple[RunDir, object]:
    """A run directory holding ``samples.parquet`` and a configuration for it."""
    run = RunDir(root).ensure()
    run.write("samples", pd.DataFrame(rows))
    config = config_from_dict({"probes": probes or TINY_PROBES, **sections})
    return run, config


def context(run: RunDir, config, stage: str, workers: int = 1, force: bool = False):
    return StageContext(run=run, config=config, stage=stage, params_hash="test",
                        workers=workers, force=force)


@pytest.fixture(scope="session")
def image_rows(tmp_path_factory) -> list[dict]:
    return build_images(tmp_path_factory.mktemp("images"), n=3)


@pytest.fixture(scope="session")
def generated_run(tmp_path_factory, image_rows):
    """A run where perturb and edges have run on three images."""
    from localglobal.probes.generate import edges_stage, perturb_stage

    run, config = make_run(tmp_path_factory.mktemp("run"), image_rows)
    perturb_summary = perturb_stage(context(run, config, "perturb"))
    edges_summary = edges_stage(context(run, config, "edges"))
    return run, config, perturb_summary, edges_summary
