"""Every GPU figure in one go: the evaluate and scale benchmarks on a CUDA device.

Runs ``benchmarks/evaluate.py`` (bfloat16 and float32 at batch 256, channels-last:
the stage on the fly and on stored PNGs against the bare model on preloaded tensors;
goal: on the fly at least 0.9 of the bare model, i.e. the input path never starves
the GPU) and ``benchmarks/scale.py`` (disk, files and time per 100 images, both modes,
extrapolated to ImageNet-val × six models) one after the other on ``cuda``, and
prints the GPU's name, the library versions and both scripts' figures. Without a
CUDA device it says so and measures nothing (``make bench`` runs the CPU figures).

    .venv/bin/python benchmarks/gpu.py            # 512 images for evaluate
    .venv/bin/python benchmarks/gpu.py --quick    # smoke run of both
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def _run(script: str, *arguments: str) -> int:
    """Run one benchmark script on CUDA, its output passed through; its exit status."""
    command = [sys.executable, str(HERE / script), "--device", "cuda", *arguments]
    print(f"$ {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    status = subprocess.run(command, check=False).returncode
    print(f"  ({script}: {time.perf_counter() - started:.0f} s, exit {status})\n", flush=True)
    return status


def main() -> None:
    """Measure and print this benchmark's figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke runs of both scripts")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu benchmark: no CUDA device here; nothing measured (the CPU figures come "
              "from benchmarks/evaluate.py and benchmarks/scale.py)")
        return
    props = torch.cuda.get_device_properties(0)
    print(f"gpu benchmark: {props.name}, {props.total_memory / 2**30:.0f} GiB, "
          f"{torch.cuda.device_count()} device(s); torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}\n", flush=True)
    quick = ["--quick"] if args.quick else []
    statuses = [_run("evaluate.py", *quick), _run("scale.py", *quick)]
    sys.exit(max(statuses))


if __name__ == "__main__":
    main()
