"""Cost of the attribute stage against a bare zennit call, on the same images.

The stage reads input-frame PNGs from a run directory, explains each image's
predicted class with ``EpsilonPlusFlat`` (ε = 0.1) and the ResNet canonizer, and
scores every map against edges and box, writing tables, float16 maps and heat-map
overlays. The baseline is the bare zennit call — the same model (ResNet-50,
random weights), composite, canonizer and batch size over the same images already
decoded and normalised on the device, with no statistics and no output. The ratio
(goal: at most 1.2) is the price of the pipeline; the thesis's LRP, through a
PyTorch→Keras conversion and iNNvestigate, took 22–120 s per image.

The stage's time includes building the model; the ratio without that one-off cost
is printed too (it is what a longer run converges to). Baseline and stage runs
alternate (baseline first and last) and the fastest of each counts, so a drifting
machine load favours neither.

    .venv/bin/python benchmarks/attribute.py                 # 32 images, 224×224
    .venv/bin/python benchmarks/attribute.py --quick         # 4 images, 64×64, a smoke run
    .venv/bin/python benchmarks/attribute.py --device cuda   # images/s on a GPU
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from localglobal.config import config_from_dict
from localglobal.io.atomic import write_npz
from localglobal.io.images import read_png, write_png
from localglobal.models import load_model, resolve_model
from localglobal.models.devices import select_device
from localglobal.pipeline.context import StageContext
from localglobal.pipeline.rundir import RunDir
from localglobal.probes.canny import pack_mask
from localglobal.run import run_options
from localglobal.stages import REGISTRY

THESIS_SECONDS_PER_IMAGE = (22.0, 120.0)
MODEL = "bench-resnet50"


def synthetic_image(rng: np.random.Generator, size: int) -> tuple[np.ndarray, tuple]:
    """A smooth background with a few filled ellipses; returns the image and a box."""
    image = cv2.resize(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), (size, size),
                       interpolation=cv2.INTER_CUBIC)
    for _ in range(3):
        centre = tuple(int(v) for v in rng.integers(size // 4, 3 * size // 4, 2))
        axes = tuple(int(v) for v in rng.integers(size // 10, size // 4, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    return image, (size * 0.2, size * 0.15, size * 0.85, size * 0.9)


def make_run(root: Path, n: int, size: int, batch_size: int, device: str,
             heatmaps: bool) -> tuple[RunDir, object]:
    """A run directory with ``n`` synthetic images, ready for the attribute stage."""
    rng = np.random.default_rng(0)
    run = RunDir(root / "run").ensure()
    samples, items, masks, edges = [], [], {}, []
    for i in range(n):
        image_id = f"bench_{i:04d}"
        image, box = synthetic_image(rng, size)
        path = f"perturbations/original/n00000000/{image_id}.png"
        write_png(run.path(path), image)
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        mask = cv2.Canny(grey, 50, 150) > 0
        masks[image_id] = pack_mask(mask)
        edges.append({"image_id": image_id, "lower": 50.0, "upper": 150.0,
                      "n_edge": int(mask.sum()), "n_edge_in_box": 0, "empty": not mask.any()})
        samples.append({"image_id": image_id, "path": str(run.path(path)), "split": "val",
                        "wnid": "n00000000", "class_index": 0, "class_name": "synthetic",
                        "width": size, "height": size, "box_x0": box[0], "box_y0": box[1],
                        "box_x1": box[2], "box_y1": box[3]})
        items.append({"item_id": f"{image_id}/original/0/0", "image_id": image_id,
                      "wnid": "n00000000", "probe": "original", "level": 0, "variant": "0",
                      "params": "{}", "path": path})
    run.write("samples", pd.DataFrame(samples))
    run.write("perturbations", pd.DataFrame(items))
    write_npz(run.artifact_path("edge_masks"), shape=np.array([size, size]), **masks)
    run.write("edges", pd.DataFrame(edges))
    config = config_from_dict({
        "frame": {"resize": size, "crop": size},
        "models": {MODEL: {"arch": "torchvision:resnet50", "weights": "random",
                           "label_space": "imagenet-1k", "canonizer": "resnet"}},
        "attribute": {"models": [MODEL], "controls": [], "heatmaps": heatmaps,
                      "batch_size": batch_size, "device": device},
    })
    return run, config


def bare_zennit(model: torch.nn.Module, images: torch.Tensor, batch_size: int) -> float:
    """Seconds for zennit's Gradient attributor over preloaded, normalised tensors."""
    from zennit.attribution import Gradient
    from zennit.composites import EpsilonPlusFlat
    from zennit.torchvision import ResNetCanonizer

    def run_all() -> None:
        composite = EpsilonPlusFlat(epsilon=0.1, canonizers=[ResNetCanonizer()])
        with Gradient(model=model, composite=composite) as attributor:
            for start in range(0, len(images), batch_size):
                x = images[start:start + batch_size]

                def start_relevance(output: torch.Tensor) -> torch.Tensor:
                    one_hot = torch.zeros_like(output)
                    one_hot.scatter_(1, output.argmax(1, keepdim=True), 1.0)
                    return one_hot * output

                _, relevance = attributor(x, start_relevance)
                relevance.sum(1).cpu()

    warm_up = images[: min(batch_size, len(images))]  # allocator and kernels, not timed
    Gradient(model=model, composite=EpsilonPlusFlat(canonizers=[ResNetCanonizer()]))(
        warm_up, lambda output: output)
    synchronize(images.device)
    started = time.perf_counter()
    run_all()
    synchronize(images.device)
    return time.perf_counter() - started


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timer sees it finish."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    """Measure and print this benchmark's figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 images of 64×64, a smoke run")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-heatmaps", action="store_true")
    parser.add_argument("--repeats", type=int, default=2,
                        help="stage runs, alternating with baseline runs (fastest counts)")
    args = parser.parse_args()
    n = args.images or (4 if args.quick else 32)
    size = 64 if args.quick else 224
    os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

    device = select_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        run, config = make_run(Path(tmp), n, size, args.batch_size, str(device),
                               heatmaps=not args.no_heatmaps)
        spec = resolve_model(MODEL, config)

        started = time.perf_counter()
        model = load_model(spec, device=device)
        synchronize(device)
        build_seconds = time.perf_counter() - started
        paths = run.read("perturbations")["path"]
        images = np.stack([read_png(run.path(p)) for p in paths])
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255)
        mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
        std = torch.tensor(spec.std).view(1, 3, 1, 1)
        x = ((x - mean) / std).to(device)
        # Baseline and stage alternate, the baseline first and last, and the fastest run
        # of each counts: on a shared machine the load drifts, and the minimum is the
        # least disturbed measurement of either.
        bare_runs = [bare_zennit(model, x, args.batch_size)]
        stage_runs = []
        for _ in range(args.repeats):
            # The stage's body alone, as the runner calls it (no upstream bookkeeping).
            declared = REGISTRY["attribute"]
            ctx = StageContext(run, config, declared, "bench",
                               run_options(config, force=True, device=str(device)))
            started = time.perf_counter()
            summary = ctx.finish(declared.body(ctx))
            synchronize(device)
            stage_runs.append(time.perf_counter() - started)
            assert summary["rows"] == n, summary
            bare_runs.append(bare_zennit(model, x, args.batch_size))
        bare, stage = min(bare_runs), min(stage_runs)
        del model, x

    per_image = stage / n
    print(f"attribute stage vs bare zennit: {n} images {size}×{size}, ResNet-50 (random "
          f"weights), EpsilonPlusFlat ε=0.1, batch {args.batch_size}, device {device}, "
          f"torch threads {torch.get_num_threads()}, heat maps {not args.no_heatmaps}")
    print(f"  bare zennit call (preloaded tensors): {bare:8.2f} s  ({bare / n:.3f} s/image; "
          f"runs {', '.join(f'{t:.2f}' for t in bare_runs)} s)")
    print(f"  attribute stage (files to tables):    {stage:8.2f} s  ({per_image:.3f} s/image; "
          f"runs {', '.join(f'{t:.2f}' for t in stage_runs)} s)")
    print(f"    of which building the model:        {build_seconds:8.2f} s (measured apart)")
    print(f"  ratio stage / bare: {stage / bare:.2f}×   without the model build: "
          f"{max(stage - build_seconds, 0.0) / bare:.2f}×   (goal ≤ 1.2×)")
    low, high = THESIS_SECONDS_PER_IMAGE
    print(f"  seconds per image: {per_image:.3f} here vs {low:.0f}–{high:.0f} in the thesis "
          f"({low / per_image:.0f}–{high / per_image:.0f}× faster)")
    if device.type == "cuda":
        print(f"  GPU throughput: stage {n / stage:.1f} images/s, bare {n / bare:.1f} images/s "
              f"({torch.cuda.get_device_name(device)})")


if __name__ == "__main__":
    main()
