"""Throughput of the probes: the thesis probe set on 30 images, edges on 300.

Generates synthetic ImageNet-sized JPEGs (about 500×375, textured objects on
textured backgrounds), then measures

* images/s per probe in one process (generation plus PNG encoding),
* the perturb stage with one process and with a pool (``--workers``, default 2):
  the speed-up of the pool over one process (goal ≥ 1.6× on 2 cores),
* the edges stage on 300 images, with one process and with the pool, and the
  auto-Canny alone on full-size images, each as a ratio to the thesis's edge step
  (1.15 images/s on full-size images).

Run: ``.venv/bin/python benchmarks/probes.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from localglobal.config import config_from_dict
from localglobal.data.geometry import frame_transform, union_box
from localglobal.io.images import decode_rgb, encode_png
from localglobal.pipeline.context import StageContext
from localglobal.pipeline.executors import parallel_map
from localglobal.pipeline.rundir import RunDir
from localglobal.probes.plan import ProbePlan, probe_images
from localglobal.run import run_options
from localglobal.stages import REGISTRY

THESIS_EDGES_PER_S = 1.15
SIZES = [(500, 375), (375, 500), (500, 333), (500, 400), (640, 480), (400, 300)]


def synthetic_image(rng: np.random.Generator, width: int, height: int,
                    ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A textured ellipse on a background of stripes and noise; returns image and box."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    background = rng.uniform(40, 200, 3).astype(np.float32)
    period = rng.uniform(4, 12)
    image = background + 30 * np.sin(xx / period + yy / (2 * period))[..., None]
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    rx, ry = rng.uniform(0.15, 0.3) * width, rng.uniform(0.15, 0.3) * height
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    texture = 35 * (((xx // 5) + (yy // 5)) % 2)
    image[inside] = rng.uniform(40, 220, 3) + texture[inside][:, None]
    image += rng.normal(0, 8, image.shape)
    box = (int(cx - rx), int(cy - ry), int(cx + rx) + 1, int(cy + ry) + 1)
    return np.clip(image, 0, 255).astype(np.uint8), box


def make_dataset(folder: Path, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` JPEGs under ``folder/<wnid>/`` and their samples table."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        width, height = SIZES[k % len(SIZES)]
        image, box = synthetic_image(rng, width, height)
        wnid = f"n0000000{k % 10}"
        path = folder / wnid / f"{wnid}_{k}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path, quality=90)
        mapped = frame_transform(width, height).map_boxes(np.array([box]))
        x0, y0, x1, y1 = union_box(mapped)
        rows.append({"image_id": path.stem, "path": str(path), "split": "train", "wnid": wnid,
                     "class_index": k % 10, "class_name": wnid, "width": width,
                     "height": height, "box_x0": x0, "box_y0": y0, "box_x1": x1, "box_y1": y1})
    return pd.DataFrame(rows)


def stage_seconds(samples: pd.DataFrame, config, root: Path, name: str,
                  workers: int, label: str) -> tuple[float, dict]:
    """Wall seconds of stage ``name``'s body on a fresh run, and its summary."""
    # Each measurement has its own run, so that none resumes another's shards.
    run = RunDir(root / f"{name}-{label}").ensure()
    run.write("samples", samples)
    declared = REGISTRY[name]
    ctx = StageContext(run, config, declared, "benchmark", run_options(config, workers=workers))
    before = os.times()
    start = time.perf_counter()
    summary = ctx.finish(declared.body(ctx))
    wall = time.perf_counter() - start
    after = os.times()
    cpu = sum(after[:4]) - sum(before[:4])  # user + system, this process and its workers
    summary = dict(summary, cores_obtained=cpu / wall)
    return wall, summary


def one_against_pool(samples: pd.DataFrame, config, root: Path, name: str,
                     workers: int) -> tuple[float, dict, float, dict]:
    """Seconds and summary of stage ``name`` in one process, then with ``workers``."""
    t1, single = stage_seconds(samples, config, root, name, 1, "single")
    tn, pooled = stage_seconds(samples, config, root, name, workers, "pool")
    return t1, single, tn, pooled


def per_probe_rates(samples: pd.DataFrame, config) -> dict[str, tuple[int, float]]:
    """(images, seconds) per probe in this process, generation plus PNG encoding."""
    plan = ProbePlan.from_config(config)
    # Warm up: the first resize imports torchvision, which is not a probe's cost.
    for _ in probe_images(ProbePlan(), np.zeros((8, 8, 3), np.uint8), "warm-up"):
        pass
    counts: dict[str, int] = defaultdict(int)
    seconds: dict[str, float] = defaultdict(float)
    for row in samples.itertuples():
        image = decode_rgb(row.path)
        start = time.perf_counter()
        for item, pixels in probe_images(plan, image, row.image_id):
            encode_png(pixels)
            probe = item.probe
            now = time.perf_counter()
            group = "scramble+original" if probe in ("scramble", "original") else probe
            group = "removed detail" if probe.startswith("smooth_diff") else group
            counts[group] += 1
            seconds[group] += now - start
            start = now
    return {k: (counts[k], seconds[k]) for k in counts}


def print_efficiency(t1: float, single: dict, tn: float, pooled: dict, workers: int) -> None:
    """CPU seconds of one process over those of the pool, and what that implies.

    On a shared machine the pool may not get its cores, and the wall-clock speed-up
    then says little; the CPU-time ratio shows the pool's own overhead whatever the
    load, and ``workers × ratio`` is the speed-up to expect on idle cores.
    """
    cpu_single = t1 * single["cores_obtained"]
    cpu_pooled = tn * pooled["cores_obtained"]
    if cpu_pooled <= 0:  # too short to measure: say so rather than divide by zero
        print("  CPU seconds: too short to compare")
        return
    efficiency = cpu_single / cpu_pooled
    print(f"  CPU seconds: {cpu_single:.1f} in one process, {cpu_pooled:.1f} in the pool "
          f"(efficiency {efficiency:.2f}; expected on {workers} idle cores: "
          f"{workers * efficiency:.2f}×)")


def _busy(seconds: float) -> int:
    start, count = time.process_time(), 0
    while time.process_time() - start < seconds:
        count += 1
    return count


def machine_speedup(workers: int, seconds: float = 1.5) -> float:
    """Wall-clock speed-up a trivially parallel busy loop gets from the pool right now.

    The ceiling for any pool on this machine at this moment: 2.0 on two idle cores,
    about 1.0 when other work already fills them.
    """
    start = time.perf_counter()
    list(parallel_map(_busy, [seconds] * workers, workers=1))
    single = time.perf_counter() - start
    start = time.perf_counter()
    list(parallel_map(_busy, [seconds] * workers, workers=workers))
    return single / (time.perf_counter() - start)


def main() -> None:
    """Measure and print this benchmark's figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--workers", type=int, default=2, help="pool size to compare")
    parser.add_argument("--images", type=int, default=None, help="images for the probe set")
    parser.add_argument("--edge-images", type=int, default=None, help="images for edges")
    args = parser.parse_args()
    os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")
    n_probe = args.images or (4 if args.quick else 30)
    n_edges = args.edge_images or (24 if args.quick else 300)
    # Edges work in shards of run.shard_size images: small ones keep the pool busy.
    config = config_from_dict({"probes": {"smooth": {"iterations": 2 if args.quick else 5}},
                               "run": {"shard_size": 8}})

    root = Path(tempfile.mkdtemp(prefix="localglobal-bench-"))
    try:
        samples = make_dataset(root / "images", max(n_probe, n_edges))
        probe_samples = samples.iloc[:n_probe].reset_index(drop=True)
        edge_samples = samples.iloc[:n_edges].reset_index(drop=True)
        smooth = config.probes.section("smooth")
        print(f"probe set: {n_probe} images, thesis levels, smooth operator "
              f"{smooth.get('operator', 'l0')} × {smooth.get('iterations', 5)} passes; "
              f"CPU cores: {os.cpu_count()}")

        ceiling = machine_speedup(args.workers, 0.3 if args.quick else 1.5)
        print(f"machine check: a busy loop gets {ceiling:.2f}× from a pool of {args.workers} "
              "right now (the ceiling for the speed-ups below)")

        rates = per_probe_rates(probe_samples, config)
        print("\nper probe, one process (generate + PNG encode):")
        for group, (count, secs) in rates.items():
            print(f"  {group:18s} {count:6d} images  {secs:7.2f} s  {count / secs:8.1f} images/s")

        t1, summary, tn, pooled = one_against_pool(probe_samples, config, root, "perturb",
                                                   args.workers)
        items = summary["probe_images"]
        print(f"\nperturb stage: {items} images written ({summary['by_probe']})")
        print(f"  1 process:   {t1:7.2f} s  {items / t1:8.1f} images/s  "
              f"(CPU obtained: {summary['cores_obtained']:.2f} cores)")
        print(f"  {args.workers} processes: {tn:7.2f} s  {items / tn:8.1f} images/s  "
              f"(CPU obtained: {pooled['cores_obtained']:.2f} cores)")
        print(f"  speed-up of the pool over one process: {t1 / tn:.2f}× "
              f"(goal ≥ 1.6× on 2 cores)")
        print_efficiency(t1, summary, tn, pooled, args.workers)

        e1, esum, en, epooled = one_against_pool(edge_samples, config, root, "edges",
                                                 args.workers)
        n = esum["edges"]
        print(f"\nedges stage on {n} images (224×224 input frame, NL-means + auto-Canny):")
        print(f"  1 process:   {e1:7.2f} s  {n / e1:8.2f} images/s  "
              f"= {n / e1 / THESIS_EDGES_PER_S:.1f}× the thesis's {THESIS_EDGES_PER_S} images/s")
        print(f"  {args.workers} processes: {en:7.2f} s  {n / en:8.2f} images/s  "
              f"= {n / en / THESIS_EDGES_PER_S:.1f}× the thesis; pool speed-up {e1 / en:.2f}×")
        print(f"  (CPU obtained: {esum['cores_obtained']:.2f} cores with 1 process, "
              f"{epooled['cores_obtained']:.2f} with {args.workers})")
        print_efficiency(e1, esum, en, epooled, args.workers)

        from localglobal.probes.canny import auto_canny

        full = [decode_rgb(p) for p in probe_samples["path"]]
        start = time.perf_counter()
        for image in full:
            auto_canny(image)
        ef = time.perf_counter() - start
        print(f"  full-size images, auto-Canny alone, 1 process: {len(full) / ef:.2f} images/s "
              f"= {len(full) / ef / THESIS_EDGES_PER_S:.1f}× the thesis (like for like)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
