"""Disk and time per 100 images with probes stored as PNGs and built on the fly, and at scale.

Synthetic photographs (500×375, the size of a typical ImageNet image) get the thesis's
probes (the original, 12 scrambles, 201 patches, 5 L0 smoothings and 2 removed-detail
images: 221 per image) through the perturb stage's own renderer, once with
``probes.materialize = true`` (every probe a PNG) and once with ``false`` (the
originals and smoothings only). The evaluate stage's throughput in both modes is
measured on ResNet-50 (random weights) as in ``benchmarks/evaluate.py`` (bfloat16,
batch 256, channels-last on CUDA). Everything is then extrapolated to ImageNet-val
(50,000 images) × the thesis's probes × six models, and printed as one table.

    .venv/bin/python benchmarks/scale.py            # 6 source images, 512 probe images
    .venv/bin/python benchmarks/scale.py --quick    # 2 source images, 64 probe images
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from localglobal.config import RunConfig
from localglobal.io.images import write_png
from localglobal.models.devices import select_device
from localglobal.probes.catalog import on_the_fly
from localglobal.probes.materialize import render_sample
from localglobal.probes.plan import ProbePlan
from localglobal.probes.sources import SourceImage

IMAGENET_VAL = 50_000
MODELS = 6


def _evaluate_module():
    path = Path(__file__).with_name("evaluate.py")
    spec = importlib.util.spec_from_file_location("bench_evaluate", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def perturb_cost(n_sources: int, materialize: bool, root: Path) -> tuple[float, int, int]:
    """Seconds, bytes and files per source image of the perturb stage's work."""
    bench = _evaluate_module()
    config = RunConfig()
    config.probes.materialize = materialize
    plan = ProbePlan.from_config(config)
    rng = np.random.default_rng(0)
    seconds, out = 0.0, root / ("stored" if materialize else "fly")
    for k in range(n_sources):
        image = bench.synthetic_image(rng, 500)[:375]
        source = root / "sources" / f"n01440764_{k}.png"
        write_png(source, image)
        started = time.perf_counter()
        render_sample(plan, SourceImage(f"n01440764_{k}", str(source), "n01440764"), out)
        seconds += time.perf_counter() - started
    files = list((out / "perturbations").rglob("*.png"))
    return (seconds / n_sources, sum(f.stat().st_size for f in files) // n_sources,
            len(files) // n_sources)


def evaluate_rates(n_images: int, device: torch.device, root: Path) -> dict[str, float]:
    """Probe images per second of the evaluate stage, stored and on the fly (best of two)."""
    bench = _evaluate_module()
    batch = 256 if device.type == "cuda" else 32
    models = {"bench-resnet50": {"arch": "torchvision:resnet50", "weights": "random"}}
    settings = {"batch_size": batch, "loader_workers": None, "device": str(device),
                "channels_last": True, "bf16": device.type == "cuda"}
    rates = {}
    for mode, materialize in (("stored", True), ("on the fly", False)):
        run = bench.build_run(root / f"eval-{materialize}", n_images, 224, materialize)
        rates[mode] = max(bench.stage_throughput(run, models, settings)[0] for _ in range(2))
    return rates


def _size(value: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{value:.1f} {unit}"
        value /= 1000
    return ""


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main() -> None:
    """Measure and print this benchmark's figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 source images, 64 probes")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")
    device = select_device(args.device)
    sources, probes = (2, 64) if args.quick else (6, 512)
    thesis = ProbePlan.from_config(RunConfig())
    per_image = thesis.items_per_image()
    built = [name for name in thesis.probes if on_the_fly(name)]
    with tempfile.TemporaryDirectory(prefix="localglobal-scale-") as tmp:
        perturb = {mode: perturb_cost(sources, m, Path(tmp) / mode)
                   for mode, m in (("stored", True), ("on the fly", False))}
        rates = evaluate_rates(probes, device, Path(tmp))
    print(f"scale benchmark: thesis probes ({per_image} per image), {sources} synthetic "
          f"500×375 images, ResNet-50 on {device} ({torch.get_num_threads()} threads); "
          f"on the fly builds {', '.join(built)} where the model runs")
    if device.type != "cuda":
        print("  no CUDA device: the GPU figures (bfloat16, batch 256, channels-last) are "
              "not measured")
    header = (f"  {'mode':<11} {'disk/100':>10} {'files/100':>10} {'perturb/100':>12} "
              f"{'eval/100/model':>15} | {'ImageNet-val disk':>17} {'files':>12} "
              f"{'perturb':>9} {'eval x6 models':>15}")
    print(header)
    for mode, (seconds, size, files) in perturb.items():
        evaluate = per_image * 100 / rates[mode]
        scale = IMAGENET_VAL / 100
        print(f"  {mode:<11} {_size(size * 100):>10} {files * 100:>10,} "
              f"{_hours(seconds * 100):>12} {_hours(evaluate):>15} | "
              f"{_size(size * IMAGENET_VAL):>17} {files * IMAGENET_VAL:>12,} "
              f"{_hours(seconds * IMAGENET_VAL):>9} {_hours(evaluate * scale * MODELS):>15}")
    stored, fly = perturb["stored"], perturb["on the fly"]
    print(f"  ratios (on the fly / stored): disk {fly[1] / stored[1]:.3f}, files "
          f"{fly[2] / stored[2]:.3f}, perturb time {fly[0] / stored[0]:.3f}, evaluate "
          f"throughput {rates['on the fly'] / rates['stored']:.3f}")
    print("  times are one process on this machine; the stages spread over run.workers "
          "processes (perturb) and one Ray actor per GPU (evaluate, attribute)")


if __name__ == "__main__":
    main()
