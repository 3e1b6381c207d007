"""How fast and how light the commands start: wall time, CPU time and peak memory.

Each command runs in a fresh interpreter, as a user's shell runs it, several times;
the median wall time, the median CPU time (user + system: what the command costs on an
idle core, whatever else the machine runs) and the largest peak resident memory are
printed beside the goals:

* ``localglobal stages --run DIR``: under 0.5 s and 150 MB;
* ``localglobal annotations ARCHIVE --run DIR`` on a one-file archive: under 1.5 s;
* ``localglobal models`` and ``localglobal --help``: as fast as the interpreter allows.

The run directory is made here, by the annotations command (a one-file archive), so
``stages`` reads a real manifest. The first round is a warm-up (it compiles the
bytecode) and is not counted.

    .venv/bin/python benchmarks/startup.py            # 5 rounds
    .venv/bin/python benchmarks/startup.py --rounds 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

VOC = """<annotation><folder>n01440764</folder><filename>n01440764_1</filename>
<size><width>200</width><height>150</height><depth>3</depth></size>
<object><name>n01440764</name><pose>Unspecified</pose><truncated>0</truncated>
<difficult>0</difficult><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>120</xmax>
<ymax>140</ymax></bndbox></object></annotation>"""

GOALS = {"stages": (0.5, 150), "annotations": (1.5, None), "models": (None, None),
         "--help": (None, None)}
"""Per command: the wall-time goal in seconds and the memory goal in MB (None: none)."""


def one_file_archive(folder: Path) -> Path:
    """An ``Annotation.tar.gz`` of one VOC XML file."""
    xml = folder / "n01440764_1.xml"
    xml.write_text(VOC, encoding="utf-8")
    archive = folder / "one.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(xml, arcname="n01440764/n01440764_1.xml")
    return archive


def measure(args: list[str]) -> tuple[float, float, float]:
    """One run of ``localglobal ARGS``: wall seconds, CPU seconds, peak memory in MB."""
    env = {**os.environ, "LOCALGLOBAL_NO_PROGRESS": "1", "PYTHONHASHSEED": "0"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "localglobal.cli", *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"localglobal {' '.join(args)} failed: {child.stderr.read().decode()}")
    peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    return wall, usage.ru_utime + usage.ru_stime, peak_mb


def main() -> None:
    """Measure and print this benchmark's figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="counted runs per command")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        archive = one_file_archive(folder)
        run = folder / "run"
        commands = {
            "stages": ["stages", "--run", str(run)],
            # --force: every round reads the archive again, as a first run does.
            "annotations": ["annotations", str(archive), "--run", str(run), "--workers", "1",
                            "--force"],
            "models": ["models"],
            "--help": ["--help"],
        }
        measure(commands["annotations"])  # makes the run; compiles the bytecode
        results = {name: [measure(args) for _ in range(options.rounds + 1)][1:]
                   for name, args in commands.items()}
    load = os.getloadavg()[0]
    print(f"{options.rounds} runs each, fresh interpreter, {os.cpu_count()} cores, load "
          f"average {load:.1f} (wall time grows with the load; CPU time does not)")
    print(f"{'command':<26}{'wall (median)':>15}{'CPU (median)':>14}{'peak memory':>13}  goal")
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        peak = max(r[2] for r in runs)
        seconds, megabytes = GOALS[name]
        goal = []
        if seconds is not None:
            goal.append(f"< {seconds} s: {'met' if cpu < seconds else 'NOT met'} on CPU time, "
                        f"{'met' if wall < seconds else 'not met'} on wall time")
        if megabytes is not None:
            goal.append(f"< {megabytes} MB: {'met' if peak < megabytes else 'NOT met'}")
        print(f"{'localglobal ' + name:<26}{wall:>13.2f} s{cpu:>12.2f} s{peak:>10.0f} MB  "
              + "; ".join(goal))


if __name__ == "__main__":
    main()
