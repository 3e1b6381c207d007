"""Your own images without boxes: ``index.require_box = false`` through every stage.

A small toy world is run with no annotation source at all (``data.annotations``
unset), as a researcher's own image folder would be: every stage finishes, the
measures that need an object box are NaN in ``attributions.parquet`` (not computed
against an empty or made-up box) and the report is written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from localglobal.attribution.regions import BOX_STATISTICS, STAT_COLUMNS
from localglobal.cli import app
from localglobal.config import to_toml
from localglobal.run import PIPELINE, open_run, prepare_run, stage_states
from localglobal.toyworld.build import build_world
from localglobal.toyworld.model import toy_resnet
from tests import toy_run

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

MAP_STATISTICS = [c for c in STAT_COLUMNS if c not in BOX_STATISTICS and c != "finite"]
EDGE_STATISTICS = [c for c in MAP_STATISTICS if "edges" in c or "enrichment" in c]


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def own_run(tmp_path_factory) -> Path:
    """``localglobal run`` on a configuration with images and no annotations."""
    root = tmp_path_factory.mktemp("own-data")
    world = build_world(root / "world", toy_run.SMALL_WORLD)
    config = toy_run.small_config(world)
    config.data.annotations = None
    config.data.outlines = None
    config.index.require_box = False
    config.analysis.hypotheses = None  # the defaults: whatever fits this run's models
    config.attribute.controls = ["shuffled-edges"]
    config.attribute.heatmaps = True
    config.attribute.composite = "gradient-x-input"
    path = root / "own.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    result = invoke("run", path, "--run", root / "run", "--workers", 1)
    assert result.exit_code == 0, result.output
    return root / "run"


def test_every_stage_runs_without_annotations(own_run: Path):
    run = open_run(own_run)
    _, config = prepare_run(run.root, create=False)
    states = {s.name: s.status for s in stage_states(run, config)}
    for name in PIPELINE:
        if name != "geirhos":  # no cue-conflict stimuli were given
            assert states[name] == "done", states
    samples = run.read("samples")
    assert len(samples) == 10 and not samples["has_box"].any()
    assert samples[["box_x0", "box_y0", "box_x1", "box_y1"]].isna().all().all()


def test_box_measures_are_nan_and_the_edge_measures_use_the_whole_image(own_run: Path):
    table = pd.read_parquet(own_run / "attributions.parquet")
    assert len(table) and set(table["control"]) == {"none", "shuffled-edges"}
    assert table["finite"].all()
    for column in BOX_STATISTICS:
        assert table[column].isna().all(), column
    # The edge measures are computed wherever Canny found edges: on the whole image.
    edges = pd.read_parquet(own_run / "edges.parquet").set_index("image_id")
    found = table[(table["control"] == "none")
                  & ~table["image_id"].map(edges["empty"]).astype(bool)]
    assert len(found) >= 5
    for column in MAP_STATISTICS:
        values = found[column] if column in EDGE_STATISTICS else table[column]
        assert values.notna().all(), column
    assert (table["n_pos"] > 0).all()
    # On the whole image, the edge share counts every edge pixel of the positive region.
    assert (found["n_pos_on_edges"] > 0).all()
    np.testing.assert_allclose(found["share_pos_on_edges"],
                               found["n_pos_on_edges"] / found["n_pos"])


def test_the_report_is_written_and_the_contact_sheet_drawn(own_run: Path):
    report = own_run / "report"
    assert (report / "index.html").stat().st_size > 0
    assert "require_box" in (report / "summary.md").read_text(encoding="utf-8")
    image_id = pd.read_parquet(own_run / "samples.parquet")["image_id"].iloc[0]
    shown = invoke("show", image_id, "--run", own_run, "--out", own_run / "sheet.png")
    assert shown.exit_code == 0, shown.output
    assert (own_run / "sheet.png").stat().st_size > 0


def test_a_whole_saved_model_as_weights_is_one_error_line(own_run: Path, tmp_path: Path):
    weights = tmp_path / "whole.pt"
    torch.save(toy_resnet(), weights)
    overlay = tmp_path / "models.toml"
    overlay.write_text(f'[models.mine]\narch = "localglobal.toyworld.model:toy_resnet"\n'
                       f'weights = "{weights}"\nlabel_space = "toyworld"\n')
    result = invoke("evaluate", "--run", own_run, "--config", overlay, "--models", "mine")
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert len(errors) == 1, result.output
    assert str(weights) in errors[0] and "save model.state_dict() instead" in errors[0]


def test_the_report_names_the_method_and_leaves_out_the_box_measures(own_run: Path):
    html = (own_run / "report" / "index.html").read_text(encoding="utf-8")
    summary = (own_run / "report" / "summary.md").read_text(encoding="utf-8")
    assert "gradient × input relevance, edges<" in html
    assert "gradient × input statistics per model" in html
    text = re.sub(r"data:[^\"']+", "", html)  # the words, not the embedded images
    assert "LRP" not in text  # no figure title, heading or table says LRP
    # The box-only measures are hidden, with one sentence saying why.
    assert "relevance mass in box" not in html and "pointing-game hit rate" not in html
    assert "share of positive region on edges" in html
    assert "computed on the whole image instead" in summary
    figures = {f["name"]: f for f in _analysis_figures(own_run)}
    assert figures["lrp-regions"]["title"] == "gradient × input regions and edges"
    assert "object box" not in figures["density"]["caption"]


def test_one_model_gets_a_hypothesis_per_probe_in_the_report(own_run: Path):
    table = pd.read_parquet(own_run / "hypotheses.parquet")
    assert list(table["hypothesis"]) == ["scramble:toy-texture"]
    assert table["n"].iloc[0] == 10 and table["verdict"].iloc[0] != "not tested"
    summary = (own_run / "report" / "summary.md").read_text(encoding="utf-8")
    html = (own_run / "report" / "index.html").read_text(encoding="utf-8")
    for text in (summary, html):
        assert "scramble:toy-texture" in text
        assert "under scramble: toy-texture &gt; 0" in text or \
            "under scramble: toy-texture > 0" in text


def _analysis_figures(run: Path) -> list[dict]:
    import json

    report = json.loads((run / "analyze-report.json").read_text(encoding="utf-8"))
    return report["details"]["figures"]
