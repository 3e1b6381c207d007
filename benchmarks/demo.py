"""Time the whole demo (every stage on the toy world) against its 5-minute target.

    .venv/bin/python benchmarks/demo.py            # the full demo (configs/demo.toml)
    .venv/bin/python benchmarks/demo.py --quick    # the reduced one (configs/demo-ci.toml)

Prints the seconds of each stage (from the run's manifest.json), the total, and the
total as a fraction of the target (below 1 meets it). Each run starts from an empty
run directory so that no stage is skipped as up to date.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 300.0


def main() -> None:
    """Measure and print this benchmark's figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the reduced CI demo")
    parser.add_argument("--run", type=Path, default=None,
                        help="run directory to use (default: a temporary one)")
    args = parser.parse_args()
    os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

    from localglobal.config import builtin_config
    from localglobal.demo import run_demo

    config = builtin_config("demo-ci" if args.quick else "demo")
    with tempfile.TemporaryDirectory(prefix="localglobal-demo-") as tmp:
        run_dir = args.run or Path(tmp) / "run"
        started = time.perf_counter()
        run = run_demo(run_dir, force=True, config_path=config)
        total = time.perf_counter() - started
        manifest = json.loads(run.manifest_path.read_text(encoding="utf-8"))
    stages = manifest.get("stages", {})
    print(f"demo ({config.name}), {os.cpu_count()} CPU cores")
    print(f"{'stage':<12} {'seconds':>8}")
    for name, record in stages.items():
        print(f"{name:<12} {record.get('seconds', float('nan')):>8.1f}")
    stage_sum = sum(record.get("seconds", 0.0) for record in stages.values())
    print(f"{'stages':<12} {stage_sum:>8.1f}")
    print(f"{'world+rest':<12} {total - stage_sum:>8.1f}")
    print(f"{'total':<12} {total:>8.1f}")
    print(f"total / target ({TARGET_SECONDS:.0f} s): {total / TARGET_SECONDS:.2f}"
          f" ({'meets' if total <= TARGET_SECONDS else 'misses'} the target)")


if __name__ == "__main__":
    main()
