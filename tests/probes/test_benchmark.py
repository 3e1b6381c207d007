"""The probe benchmark runs end to end on a tiny workload."""

import runpy
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).parents[2] / "benchmarks" / "probes.py"


@pytest.mark.slow
def test_the_benchmark_smoke_run_prints_every_figure(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(BENCHMARK), "--quick", "--images", "1",
                                      "--edge-images", "2", "--workers", "1"])
    runpy.run_path(str(BENCHMARK), run_name="__main__")
    out = capsys.readouterr().out
    for figure in ("images/s", "speed-up of the pool", "the thesis's 1.15 images/s",
                   "like for like"):
        assert figure in out
