"""``localglobal geirhos`` and ``localglobal fetch geirhos`` from the command line."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.data.geirhos_fetch import HUMAN_DATA, STIMULI
from tests.data.test_geirhos_fetch import SYNTHETIC, checksum_list, serve
from tests.data.test_geirhos_fetch import server as server  # the fixture
from tests.shared_data import geirhos_sample, require_geirhos_sample

SAMPLE = geirhos_sample()


@pytest.fixture(autouse=True)
def _quiet(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
    monkeypatch.setenv("LOCALGLOBAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LOCALGLOBAL_OFFLINE", raising=False)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_geirhos_creates_the_run_and_keeps_the_folders_in_its_config(tmp_path):
    require_geirhos_sample("human-raw-data")
    run = tmp_path / "run"
    result = invoke("geirhos", "--run", run, "--humans", SAMPLE)
    assert result.exit_code == 0, result.output
    assert "created run directory" in result.output
    assert f"wrote {run / 'shape_bias.parquet'}" in result.output
    bias = pd.read_parquet(run / "shape_bias.parquet").set_index("model")
    assert 0.5 < bias.loc["humans", "shape_bias"] <= 1
    assert str(SAMPLE) in (run / "config.toml").read_text(encoding="utf-8")
    again = invoke("geirhos", "--run", run)  # the folders come from the run's config
    assert again.exit_code == 0, again.output


def test_geirhos_names_a_missing_folder_in_one_line(tmp_path):
    result = invoke("geirhos", "--run", tmp_path / "run", "--humans", tmp_path / "nowhere")
    assert result.exit_code == 2
    assert result.output.count("error:") == 1 and "nowhere" in result.output
    assert "Traceback" not in result.output


def test_fetch_geirhos_prints_where_the_files_are(server, tmp_path):
    folder, base = server
    serve(folder, SYNTHETIC)
    sums = checksum_list(tmp_path / "sums.txt", SYNTHETIC)
    to = tmp_path / "geirhos"
    result = invoke("fetch", "geirhos", "--to", to, "--mirror", base, "--checksums", sums)
    assert result.exit_code == 0, result.output
    assert f"stimuli: {to / STIMULI.top / 'stimuli'}" in result.output
    assert f"human raw data: {to / HUMAN_DATA.top / 'raw-data'}" in result.output
    assert (to / STIMULI.top / "stimuli" / "edges" / "cat" / "cat1.png").is_file()
