"""Run directories: a misspelled or wrong --run is an error, never a new run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from localglobal.errors import MissingInputError
from localglobal.pipeline.rundir import RunDir


def test_a_missing_folder_is_not_a_run(tmp_path: Path):
    with pytest.raises(MissingInputError, match="no such run directory"):
        RunDir.existing(tmp_path / "typo")
    assert not (tmp_path / "typo").exists()


def test_a_file_is_not_a_run(tmp_path: Path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(MissingInputError, match="is a file"):
        RunDir.existing(tmp_path / "file")


def test_an_empty_folder_is_not_a_run(tmp_path: Path):
    with pytest.raises(MissingInputError, match="not a run directory"):
        RunDir.existing(tmp_path)


def test_a_folder_with_a_configuration_is_a_run(tmp_path: Path):
    (tmp_path / "config.toml").write_text("")
    assert RunDir.existing(tmp_path).root == tmp_path.resolve()


def test_tables_round_trip_through_the_catalog(tmp_path: Path):
    from localglobal.stages import REGISTRY

    run = RunDir(tmp_path / "run", REGISTRY).ensure()
    table = pd.DataFrame({"image_id": ["a", "b"], "value": [1.5, 2.5]})
    run.write("samples", table)
    assert run.artifact_path("samples").name == "samples.parquet"
    pd.testing.assert_frame_equal(run.read("samples"), table)


def test_a_missing_table_says_which_stage_writes_it(tmp_path: Path):
    from localglobal.stages import REGISTRY

    with pytest.raises(MissingInputError, match="localglobal index"):
        RunDir(tmp_path, REGISTRY).read("samples")
