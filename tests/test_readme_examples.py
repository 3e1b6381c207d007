"""The README's examples, run as a reader would run them, wherever they need no download.

Every ``localglobal …`` line of the README is either run here — in a fresh folder,
through the CLI, the thesis run's folder standing in for the toy world's demo run —
or listed in :data:`NEEDS_DATA` with what it needs, so a new example cannot slip by
unrun. The demo gets the reduced configuration the suite uses (``configs/demo-ci.toml``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from tests.test_readme import command_path, readme_commands

pytestmark = pytest.mark.slow

CI_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo-ci.toml"

NEEDS_DATA = {
    ("run",): "the ImageNet images and boxes configs/thesis.toml names",
    ("annotations",): "ImageNet's Annotation.tar.gz",
    ("index",): "an ImageNet-format image tree",
    ("evaluate",): "the pretrained resnet50 and sin-resnet50 weights, and CUDA",
    ("attribute",): "the pretrained resnet50 and sin-resnet50 weights",
    ("fetch", "geirhos"): "a download of the Geirhos stimuli",
    ("fetch", "model-vs-human"): "a download of model-vs-human's datasets",
    ("geirhos",): "the full Geirhos stimuli and the pretrained weights",
    ("toyworld", "train"): "a few minutes of training (the demo ships trained weights)",
}
"""README commands that need what a test machine has not, and what that is."""

ON_THE_DEMO_RUN = {("edges",), ("perturb",), ("analyze",), ("report",), ("stages",),
                   ("show",)}
"""Commands on the thesis run that run as they are on the demo run."""

STANDALONE = {("models",), ("probes",), ("toyworld", "build"), ("demo",)}


def _examples() -> list[tuple[tuple[str, ...], list[str]]]:
    return [(tuple(command_path(words)[0]), words) for words in readme_commands()]


def test_every_readme_example_is_run_here_or_says_what_it_needs():
    unclassified = [" ".join(words) for path, words in _examples()
                    if path not in NEEDS_DATA | dict.fromkeys(ON_THE_DEMO_RUN | STANDALONE)]
    assert unclassified == []


def _invoke(words: list[str]) -> str:
    result = CliRunner().invoke(app, words, catch_exceptions=False)
    assert result.exit_code == 0, f"localglobal {' '.join(words)}:\n{result.output}"
    return result.output


def test_the_offline_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
    examples = _examples()
    standalone = [words for path, words in examples if path in STANDALONE]
    assert {tuple(command_path(w)[0]) for w in standalone} == STANDALONE
    for words in standalone:
        if words[0] == "demo":
            words = [*words, "--config", str(CI_CONFIG)]
        output = _invoke(words)
        if words[0] == "models":
            assert "resnet50" in output and "toy-shape" in output
    assert Path("runs/world").is_dir() and Path("runs/demo/report/index.html").is_file()

    demo = next(words for words in standalone if words[0] == "demo")
    demo_run = demo[demo.index("--run") + 1]
    image_id = str(pd.read_parquet(os.path.join(demo_run, "samples.parquet"))["image_id"][0])
    for path, words in examples:
        if path not in ON_THE_DEMO_RUN:
            continue
        words = [demo_run if w == "runs/thesis" else w for w in words]
        if path == ("show",):  # the thesis's image id is not in the toy world
            words = ["show", image_id, *words[2:]]
        output = _invoke(words)
        assert not [line for line in output.splitlines() if line.startswith("error:")]
