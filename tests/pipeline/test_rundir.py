"""Run directories: a misspelled or wrong --run is an error, never a new run."""

from __future__ import annotations

from pathlib import Path

import pytest

from localglobal.errors import NotARunError
from localglobal.pipeline.rundir import RunDir


def test_a_missing_folder_is_not_a_run(tmp_path: Path):
    with pytest.raises(NotARunError, match="no such run directory"):
        RunDir.existing(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()


def test_a_file_is_not_a_run(tmp_path: Path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotARunError, match="is a file"):
        RunDir.existing(tmp_path / "file")


def test_an_empty_folder_is_not_a_run(tmp_path: Path):
    with pytest.raises(NotARunError, match="not a run directory"):
        RunDir.existing(tmp_path)


def test_a_folder_with_a_configuration_is_a_run(tmp_path: Path):
    (tmp_path / "config.toml").write_text("")
    assert RunDir.existing(tmp_path).root == tmp_path.resolve()
