"""A tampered ``params`` row of an on-the-fly probe is a bad item, named; the rest go on.

The run stores no scramble or patch PNGs (``probes.materialize = false``): the model
stages build them from each row's ``params``. Rows are tampered as a hostile run
directory would, each in its own way.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.config import load_config, to_toml
from localglobal.pipeline.fingerprint import output_digest
from localglobal.pipeline.manifest import Manifest
from localglobal.pipeline.rundir import RunDir
from localglobal.run import run_stage

TAMPER = {  # how, (probe, new params)
    "rotation as a scramble": ("scramble", {"block": 1, "permutation":
                                            list(range(224 * 224))[::-1]}),
    "duplicate block": ("scramble", {"block": 112, "permutation": [0, 0, 1, 2]}),
    "rect outside the frame": ("patch", {"size": 70, "fill": "black",
                                         "rects": [[-100, -100, 224, 224]]}),
    "colour out of range": ("patch", {"size": 70, "fill": "black", "colour": [1000, -5, 3],
                                      "rects": [[0, 0, 70, 70]]}),
    "missing key": ("scramble", {"permutation": [1, 0, 3, 2]}),
    "not JSON": ("scramble", "{block: 112"),
}


@pytest.fixture(scope="module")
def built_run(clean_run: Path, tmp_path_factory) -> Path:
    """The clean run with probes built on the fly (one scramble and patch level)."""
    root = tmp_path_factory.mktemp("built") / "run"
    shutil.copytree(clean_run, root)
    config = load_config(root / "config.toml")
    config.probes.materialize = False
    config.probes.probes = ["scramble", "patch"]
    config.probes.set_section("patch", sizes=[70])  # four patches: a small run
    (root / "config.toml").write_text(to_toml(config))
    run_stage("perturb", RunDir(root), config)
    return root


def _tamper(run: Path) -> dict[str, str]:
    """Tamper one built row per way; return ``{item_id: how}``."""
    path = run / "perturbations.parquet"
    table = pd.read_parquet(path)
    built = table["path"].str.contains("perturbations/original/")
    tampered: dict[str, str] = {}
    for how, (probe, params) in TAMPER.items():
        row = table.index[built & (table["probe"] == probe)
                          & ~table["item_id"].isin(tampered)][0]
        table.loc[row, "params"] = params if isinstance(params, str) else json.dumps(params)
        tampered[str(table.loc[row, "item_id"])] = how
    table.to_parquet(path, index=False)
    # A hostile run's manifest vouches for its tables: record the tampered one's digest.
    manifest = Manifest(run)
    manifest.data["stages"]["perturb"]["outputs"]["perturbations"] = output_digest(path)
    manifest.save()
    return tampered


def test_each_tampered_row_is_a_bad_item_and_the_others_are_evaluated(built_run: Path,
                                                                      tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(built_run, run)
    tampered = _tamper(run)
    config = load_config(run / "config.toml")
    summary = run_stage("evaluate", RunDir(run), config)
    assert summary["status"] == "done" and summary["bad"] == len(tampered)
    report = json.loads((run / "evaluate-report.json").read_text())
    assert {b["item"] for b in report["bad_items"]} == set(tampered)
    predictions = pd.read_parquet(run / "predictions.parquet")
    items = pd.read_parquet(run / "perturbations.parquet")["item_id"]
    assert set(predictions["item_id"]) == set(items) - set(tampered)


def test_show_names_a_tampered_item_in_one_line(built_run: Path, tmp_path: Path):
    run = tmp_path / "run"
    shutil.copytree(built_run, run)
    for item, how in _tamper(run).items():
        image_id = item.split("/")[0]
        result = CliRunner().invoke(app, ["show", image_id, "--run", str(run),
                                          "--out", str(tmp_path / "sheet.png")])
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert result.exit_code == 2 and len(errors) == 1, (how, result.output)
        assert "internal error" not in errors[0] and "params" in errors[0], (how, errors)
