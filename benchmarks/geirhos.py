"""Throughput of the geirhos stage against the bare model, on the same decoded stimuli.

A dataset in model-vs-human's release layout (``contrast/dnn/session-1/<trial>.png``,
224 × 224 PNGs named as the humans' trials are, photo-like synthetic pixels) goes
through the geirhos stage's body: decoding, the model in one batched pass, the
16-class decision mapping, every table and model-vs-human's benchmark with its
bootstrap (against the four human observers of ``contrast`` when model-vs-human's raw
data is at ``../shared/data/model-vs-human-raw-data``). The baseline is the same model
(EfficientNet-Lite0 with its real weights when the ``real-models`` extra is installed,
else with random weights; channels-last and inference mode, as the stage runs it; same
batch size) over the same stimuli
already decoded and normalised in memory. The ratio stage / bare says how much of the
model's throughput the stage keeps (goal: at least 0.9).

The stage's timing holds everything its run does: finding the stimuli, loading the
model, decoding, the forward passes, the tables; what a process does once (imports) is
done before, by an untimed run over a few other stimuli, as the bare model's first
batch is untimed. Bare and stage runs alternate (bare, stage, bare, …); each stage run
is set against the mean of the bare runs either side of it, and the ratio printed is
the median over the repeats, so that a shared machine's changing load falls on both.
The CPU time per stimulus (all threads) is printed beside it, with the part spent in the
kernel: on Linux much of a CPU forward pass's time can be page faults, as glibc's
malloc hands the large blocks of a batch's activations back to the system when they
are freed and faults them in afresh for the next batch; that part varies with the
allocator's state and the machine, and moves both timings.

    .venv/bin/python benchmarks/geirhos.py            # 1,280 stimuli, 3 repeats
    .venv/bin/python benchmarks/geirhos.py --quick    # 128 stimuli, a smoke run

The default is one whole dataset as large as ``contrast`` (1,280 stimuli): the stage
runs a dataset as one batched pass, and its fixed costs (loading the model, reading the
human trials, the bootstrap) are paid per dataset or once per model. On smaller sets
they weigh more: ``--stimuli 512`` measures that.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from localglobal.config import config_from_dict
from localglobal.io.images import read_png, write_png
from localglobal.models import load_model, resolve_model
from localglobal.models.packaged import PACKAGED
from localglobal.models.preprocessing import normalise
from localglobal.pipeline.context import StageContext
from localglobal.pipeline.rundir import RunDir
from localglobal.run import run_options
from localglobal.stages import REGISTRY

GOAL = 0.9
RAW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "model-vs-human-raw-data"
CATEGORIES = ("airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair",
              "clock", "dog", "elephant", "keyboard", "knife", "oven", "truck")


def synthetic_image(rng: np.random.Generator, size: int = 224) -> np.ndarray:
    """A photo-like stimulus: smooth colour regions, a blob and grain."""
    import cv2

    coarse = rng.integers(0, 256, size=(8, 8, 3)).astype(np.float32)
    image = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[:size, :size]
    cx, cy = rng.integers(size // 4, 3 * size // 4, 2).tolist()
    image[(xx - cx) ** 2 + (yy - cy) ** 2 < (size // 5) ** 2] = rng.integers(0, 256, 3)
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def trial_names(n: int) -> list[str]:
    """File names of ``n`` stimuli: subject-01's contrast trials where the raw data is here."""
    path = RAW / "contrast" / "contrast_subject-01_session_1.csv"
    if path.is_file():
        names = list(pd.read_csv(path, dtype=str)["imagename"])
        if len(names) >= n:
            return names[:n]
    conditions = ("c100", "c50", "c30", "c15", "c10", "c05", "c03", "c01")
    return [f"{k + 1:04d}_cop_s01_{conditions[k % 8]}_{CATEGORIES[k % 16]}_10_"
            f"n0{k:07d}_{k}.png" for k in range(n)]


def build_stimuli(root: Path, n: int) -> Path:
    """``n`` stimuli in model-vs-human's release layout under ``root``."""
    session = root / "contrast" / "dnn" / "session-1"
    rng = np.random.default_rng(0)
    for name in trial_names(n):
        write_png(session / name, synthetic_image(rng))
    return session


def cpu_seconds() -> np.ndarray:
    """CPU seconds of the process so far: (all, in the kernel)."""
    times = os.times()
    return np.array([times.user + times.system, times.system])


def bare_throughput(model: torch.nn.Module,
                    batches: list[torch.Tensor]) -> tuple[float, np.ndarray]:
    """Stimuli per second of the model alone over decoded, normalised batches, and its CPU
    seconds per stimulus (all, in the kernel)."""
    n = sum(len(batch) for batch in batches)
    with torch.inference_mode():
        model(batches[0])  # warm-up
        started, cpu = time.perf_counter(), cpu_seconds()
        for batch in batches:
            model(batch).float()
    return n / (time.perf_counter() - started), (cpu_seconds() - cpu) / n


def stage_throughput(run: RunDir, config, n: int) -> tuple[float, np.ndarray, dict]:
    """Stimuli per second of the geirhos stage's body (every repeat computes it all), its
    CPU seconds per stimulus (all, in the kernel), and its summary."""
    declared = REGISTRY["geirhos"]
    ctx = StageContext(run, config, declared, "bench", run_options(config, force=True))
    started, cpu = time.perf_counter(), cpu_seconds()
    summary = ctx.finish(declared.body(ctx))
    return n / (time.perf_counter() - started), (cpu_seconds() - cpu) / n, summary


def stage_config(root: Path, models: dict, humans: str | None, batch_size: int):
    """The run's configuration: the stimuli under ``root``, one model on the CPU."""
    return config_from_dict({
        "run": {"workers": 1}, "models": models,
        "geirhos": {"stimuli": str(root), "humans": humans, "models": ["efficientnet-lite0"],
                    "device": "cpu", "batch_size": batch_size}})


def main() -> None:
    """Measure and print this benchmark's figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128 stimuli (a smoke run)")
    parser.add_argument("--stimuli", type=int, default=1280)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3,
                        help="stage runs, each between two bare runs (the median is kept)")
    args = parser.parse_args()
    n = 128 if args.quick else args.stimuli
    os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")
    real = importlib.util.find_spec(PACKAGED["efficientnet-lite0"].module) is not None
    models = ({} if real else {"efficientnet-lite0": {
        "arch": "timm:tf_efficientnet_lite0", "weights": "random", "mean": [0.5] * 3,
        "std": [0.5] * 3}})
    humans = str(RAW) if (RAW / "contrast").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="localglobal-bench-") as tmp:
        warm = Path(tmp) / "warm-up"
        build_stimuli(warm / "datasets", 8)
        stage_throughput(RunDir(warm / "run").ensure(),
                         stage_config(warm, models, humans, args.batch_size), 8)
        session = build_stimuli(Path(tmp) / "datasets", n)
        config = stage_config(Path(tmp), models, humans, args.batch_size)
        run = RunDir(Path(tmp) / "run").ensure()
        spec = resolve_model("efficientnet-lite0", config)
        # as the stage runs it: channels-last model and inputs, inference mode
        model = load_model(spec).to(memory_format=torch.channels_last)
        images = torch.stack([torch.from_numpy(read_png(p)) for p in sorted(session.iterdir())])
        # one tensor per batch, as the stage hands the model each batch
        batches = [normalise(images[start:start + args.batch_size], spec.mean, spec.std,
                             channels_last=True)
                   for start in range(0, n, args.batch_size)]
        bare, staged = [bare_throughput(model, batches)], []
        summary: dict = {}
        for _ in range(args.repeats):
            rate, cpu, summary = stage_throughput(run, config, n)
            staged.append((rate, cpu))
            bare.append(bare_throughput(model, batches))
    ratios = [rate / ((before[0] + after[0]) / 2)
              for (rate, _), before, after in zip(staged, bare, bare[1:], strict=False)]
    ratio = float(np.median(ratios))
    bare_rate, stage_rate = (float(np.median([r for r, _ in runs])) for runs in (bare, staged))
    # per stimulus, ms: (all CPU, in the kernel)
    bare_cpu, stage_cpu = (1000 * np.median([c for _, c in runs], axis=0)
                           for runs in (bare, staged))
    print(f"geirhos benchmark: EfficientNet-Lite0 ({'real' if real else 'random'} weights), "
          f"{n} stimuli 224×224 in one dataset (contrast), batch {args.batch_size}, cpu, "
          f"torch threads {torch.get_num_threads()}, humans "
          f"{'4 observers' if humans else 'none'}, bootstrap "
          f"{config.geirhos.bootstrap} resamples, {args.repeats} repeats (medians)")
    print(f"  bare model {bare_rate:8.1f} stimuli/s | stage {stage_rate:8.1f} stimuli/s | "
          f"stage / bare {ratio:.3f} ({'meets' if ratio >= GOAL else 'below'} the {GOAL} goal)")
    print(f"  CPU per stimulus: bare model {bare_cpu[0]:.1f} ms ({bare_cpu[1]:.1f} in the "
          f"kernel) | stage {stage_cpu[0]:.1f} ms ({stage_cpu[1]:.1f} in the kernel); "
          f"ratio per repeat: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(json.dumps({"ratio": round(ratio, 3), "ratios": [round(r, 3) for r in ratios],
                      "stage_summary": {k: v for k, v in summary.items()
                                        if not isinstance(v, dict | list)}}))

if __name__ == "__main__":
    main()
