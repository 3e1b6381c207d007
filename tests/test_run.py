"""Stages are skipped when up to date, redone when forced or changed, and resume."""

import json
import os

import pytest

from localglobal.config import RunConfig
from localglobal.data import annotations as annotations_module
from localglobal.data.fixture import build_fixture
from localglobal.run import (
    Manifest,
    StageError,
    prepare_run,
    run_pipeline,
    run_stage,
    stage_hash,
)

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

WNIDS = ["n01440764", "n02102040", "n02979186", "n03000684", "n03028079", "n03394916"]


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("fixture"), wnids=WNIDS, per_class=3,
                         splits=("train",))


@pytest.fixture
def run(fixture, tmp_path):
    config = RunConfig()
    config.data.annotations = str(fixture.annotations)
    config.data.images = str(fixture.images)
    config.run.shard_size = 2  # two per-synset archives per stored shard
    return prepare_run(tmp_path / "run", config=config)


@pytest.fixture
def counted(monkeypatch):
    """Counts the annotation work units read; ``fail_after`` makes the n+1-th one raise."""
    state = {"calls": 0, "fail_after": None}
    real = annotations_module.read_unit

    def read_unit(unit):
        if state["fail_after"] is not None and state["calls"] >= state["fail_after"]:
            raise KeyboardInterrupt("interrupted")
        state["calls"] += 1
        return real(unit)

    monkeypatch.setattr(annotations_module, "read_unit", read_unit)
    return state


def manifest(run_dir):
    return json.loads(run_dir.manifest_path.read_text())


def test_an_up_to_date_stage_is_skipped_and_force_redoes_it(run, counted):
    run_dir, config = run
    first = run_stage("annotations", run_dir, config, workers=1)
    assert counted["calls"] == len(WNIDS) and not first.get("skipped")
    second = run_stage("annotations", run_dir, config, workers=1)
    assert second["skipped"] and counted["calls"] == len(WNIDS)
    run_stage("annotations", run_dir, config, workers=1, force=True)
    assert counted["calls"] == 2 * len(WNIDS)
    record = manifest(run_dir)["stages"]["annotations"]
    assert record["status"] == "done" and record["summary"]["objects"] > 0


def test_changed_parameters_rerun_the_stage_and_everything_downstream(run, fixture):
    run_dir, config = run
    run_stage("annotations", run_dir, config, workers=1)
    run_stage("index", run_dir, config, workers=1)
    index_hash = manifest(run_dir)["stages"]["index"]["hash"]
    assert run_stage("index", run_dir, config, workers=1)["skipped"]

    config.index.per_class = 2
    assert not run_stage("index", run_dir, config, workers=1).get("skipped")
    assert len(run_dir.read("samples")) == 2 * len(WNIDS)
    assert run_stage("annotations", run_dir, config, workers=1)["skipped"]

    # A new annotation source changes the annotations hash, hence the index's.
    copy = fixture.root / "copy" / "Annotation.tar.gz"
    copy.parent.mkdir(exist_ok=True)
    copy.write_bytes(fixture.annotations.read_bytes() + b"\0" * 1024)
    config.data.annotations = str(copy)
    config.index.per_class = 3
    assert not run_stage("annotations", run_dir, config, workers=1).get("skipped")
    summary = run_stage("index", run_dir, config, workers=1)
    assert not summary.get("skipped")
    assert manifest(run_dir)["stages"]["index"]["hash"] != index_hash


def test_a_stage_needs_its_inputs_first(run):
    run_dir, config = run
    with pytest.raises(StageError, match="localglobal annotations"):
        run_stage("index", run_dir, config, workers=1)


def test_an_interrupted_stage_resumes_without_redoing_finished_shards(run, counted):
    run_dir, config = run
    counted["fail_after"] = 3  # three archives read, the fourth is interrupted
    with pytest.raises(KeyboardInterrupt):
        run_stage("annotations", run_dir, config, workers=1)
    record = manifest(run_dir)["stages"]["annotations"]
    assert record["status"] == "failed"
    assert not run_dir.table_path("boxes").exists()
    finished = counted["calls"]

    counted["fail_after"] = None
    summary = run_stage("annotations", run_dir, config, workers=1)
    redone = counted["calls"] - finished
    assert redone == len(WNIDS) - finished, "finished work units are not read again"

    fresh = run_stage("annotations", run_dir, config, workers=1, force=True)
    assert summary["objects"] == fresh["objects"]
    assert run_dir.read("boxes")["image_id"].nunique() == len(WNIDS) * 3


def test_the_analysis_hash_follows_every_table_it_reads(run):
    # analyze draws density maps from the edges and contact sheets from the samples,
    # so new edges must make a finished analysis out of date.
    run_dir, config = run
    records = Manifest(run_dir)
    upstream = ["evaluate", "attribute", "edges", "index", "perturb"]
    for name in upstream:
        records.set_stage(name, status="done", hash=f"{name}-1")
    reference = stage_hash("analyze", config, records)
    for name in upstream:
        records.set_stage(name, hash=f"{name}-2")
        assert stage_hash("analyze", config, records) != reference, name
        records.set_stage(name, hash=f"{name}-1")
    assert stage_hash("analyze", config, records) == reference


def test_a_bad_smoother_stops_the_pipeline_before_the_first_stage(run, tmp_path):
    run_dir, config = run
    config.probes.smooth.operator = str(tmp_path / "missing-smoother.pt")
    with pytest.raises(Exception, match=r"missing-smoother\.pt"):
        run_pipeline(run_dir, config)
    # Not even the annotations ran.
    assert not run_dir.manifest_path.exists() or manifest(run_dir)["stages"] == {}
