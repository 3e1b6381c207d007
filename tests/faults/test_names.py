"""Model names map to file names one to one: names that would share a file are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.config import config_from_dict
from localglobal.errors import ConfigError


@pytest.mark.parametrize("a,b", [("toy:a", "toy_a"), ("timm:x/y", "timm_x_y"),
                                 ("Toy-A", "toy-a")])
def test_two_models_that_would_share_a_file_are_refused(a: str, b: str):
    with pytest.raises(ConfigError, match=f"{a!r} and {b!r} would share the file name"):
        config_from_dict({"evaluate": {"models": [a]}, "attribute": {"models": [b]}})


def test_a_clashing_model_added_on_the_command_line_changes_nothing(run_copy: Path):
    before = {p: p.read_bytes() for p in run_copy.rglob("*") if p.is_file()}
    result = CliRunner().invoke(app, ["attribute", "--run", str(run_copy),
                                      "--models", "Toy-Texture"])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1, result.output
    assert "'toy-texture' and 'Toy-Texture' would share" in result.output
    assert {p: p.read_bytes() for p in run_copy.rglob("*") if p.is_file()} == before
