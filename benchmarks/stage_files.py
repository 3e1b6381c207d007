"""How many files a new stage touches: its module, and what else must know of it.

A minimal stage is added to a copy of a source tree: one module, ``stages/tally.py``,
that declares the stage (reads ``samples``, writes ``tally.parquet``), a command
option (``--label``) and a ``--dry-run`` estimate, with no configuration of its own.
Then the tree is asked, in a fresh interpreter, what it sees of the stage:

* the pipeline: is ``tally`` among the registered stages (else ``stages/__init__.py``
  must import the module);
* the command line: does ``localglobal tally --help`` show ``--label`` (else the CLI
  needs a hand-written command);
* ``--dry-run``: does the plan of a small run list ``tally`` (else the estimate is
  written in the dry-run module).

Each "no" is one more file to edit; a stage with parameters of its own adds its
configuration section (the configuration's tables) in every tree. The script prints the count for
the tree before the stage declarations (``--before``, a git revision) and for the
working tree.

    .venv/bin/python benchmarks/stage_files.py --before fdb8428
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STAGE = '''"""A minimal stage: counts the sampled images per class."""

from __future__ import annotations

from typing import Any

from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.stage import stage

DECLARED: dict[str, Any] = {}
try:  # a tree whose declarations carry command options and estimates
    from localglobal.pipeline.estimate import Estimate
    from localglobal.pipeline.stage_options import Option

    DECLARED["options"] = (Option("label", ("--label",), str | None,
                                  "a label for the counts [default: none]",
                                  metavar="TEXT"),)
    DECLARED["estimate"] = lambda config, earlier: Estimate(
        "tally", earlier["index"].items, 100, 0.0)
except ImportError:
    pass


@stage("tally", reads=("samples",),
       writes=(Artifact("tally", "tally.parquet", "table", "images per class"),),
       description="Count the sampled images per class.", **DECLARED)
def tally(ctx: Any) -> dict[str, Any]:
    """``tally.parquet``: images per class."""
    samples = ctx.run.read("samples")
    counts = samples.groupby("wnid").size().rename("images").reset_index()
    ctx.run.write("tally", counts)
    return {"classes": len(counts)}
'''

PROBE = '''
import json, sys, tempfile
from pathlib import Path
from PIL import Image
from typer.testing import CliRunner
from localglobal.cli import app
from localglobal.stages import REGISTRY

seen = {"registry": "tally" in REGISTRY}
help_text = CliRunner().invoke(app, ["tally", "--help"]).output
seen["command"] = "--label" in help_text
with tempfile.TemporaryDirectory() as tmp:
    root = Path(tmp) / "images"
    for wnid in ("n01440764", "n02102040"):
        folder = root / "train" / wnid
        folder.mkdir(parents=True)
        Image.new("RGB", (64, 48), (120, 80, 40)).save(folder / f"{wnid}_1.JPEG")
    config = Path(tmp) / "small.toml"
    config.write_text(
        f'[data]\\nimages = "{root}"\\nlabel_space = "imagenette"\\n'
        '[index]\\nrequire_box = false\\nper_class = 1\\n'
        '[probes]\\nprobes = ["scramble"]\\n[evaluate]\\nmodels = []\\n'
        '[attribute]\\nmodels = []\\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(config), "--run", str(Path(tmp) / "run"),
                                      "--dry-run"])
    seen["dry-run"] = any(line.startswith("tally") for line in result.output.splitlines())
print(json.dumps(seen))
'''

FIXES = {"registry": "stages/__init__.py", "command": "the command line (cli)",
         "dry-run": "the --dry-run estimates"}


def files_to_add_a_stage(src: Path) -> tuple[int, list[str]]:
    """Files a new stage touches in source tree ``src``: the module, plus one per thing
    that does not see it."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "src"
        shutil.copytree(src, copy, ignore=shutil.ignore_patterns("__pycache__"))
        (copy / "localglobal" / "stages" / "tally.py").write_text(STAGE, encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(copy), "LOCALGLOBAL_NO_PROGRESS": "1",
               "LOCALGLOBAL_OFFLINE": "1"}
        done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                              env=env, timeout=600, cwd=tmp)
    if done.returncode != 0:
        raise SystemExit(f"the probe failed on {src}:\n{done.stderr}")
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    edits = [FIXES[key] for key, visible in seen.items() if not visible]
    return 1 + len(edits), edits


def main() -> None:
    """Measure and print this benchmark's figures (see the module docstring)."""
    parser = argparse.ArgumentParser(description=inspect.getdoc(sys.modules[__name__])
                                     .split("\n")[0])
    parser.add_argument("--before", metavar="REV", help="a git revision to compare with")
    options = parser.parse_args()
    trees = {"working tree": ROOT / "src"}
    with tempfile.TemporaryDirectory() as tmp:
        if options.before:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", options.before, "src"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            trees = {options.before: Path(tmp) / "src", **trees}
        print("files a new stage touches (its module, and every file that must learn of "
              "it; a stage with its own parameters adds its config section to each):")
        for name, src in trees.items():
            count, edits = files_to_add_a_stage(src)
            also = f" + {', '.join(edits)}" if edits else ""
            print(f"  {name:<14} {count} (the stage module{also})")


if __name__ == "__main__":
    main()
