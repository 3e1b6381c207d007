"""The real pipeline's stages are skipped when up to date, redone when forced or changed,
and resume after an interruption."""

from __future__ import annotations

import os

import pytest

from localglobal.config import RunConfig
from localglobal.errors import MissingInputError
from localglobal.pipeline.manifest import Manifest
from localglobal.run import prepare_run, run_pipeline, run_stage, stage_states
from localglobal.stages import annotations as annotations_stage
from tests.imagenet_fixture import build_fixture

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
    config.run.shard_size = 1
    return prepare_run(tmp_path / "run", config=config)


@pytest.fixture
def counted(monkeypatch):
    """Counts the annotation shards read; ``fail_after`` makes the n+1-th one raise."""
    state = {"calls": 0, "files": 0, "fail_after": None}
    real = annotations_stage._read_shard

    def read_shard(items):
        if state["fail_after"] is not None and state["calls"] >= state["fail_after"]:
            raise KeyboardInterrupt("interrupted")
        state["calls"] += 1
        state["files"] += len(items)
        return real(items)

    monkeypatch.setattr(annotations_stage, "_read_shard", read_shard)
    monkeypatch.setattr(annotations_stage, "FILES_PER_SHARD_ITEM", 4)  # five shards
    return state


def test_an_up_to_date_stage_is_skipped_and_force_redoes_it(run, counted):
    run_dir, config = run
    first = run_stage("annotations", run_dir, config, workers=1)
    files = counted["files"]
    assert files == len(WNIDS) * 3 and not first.get("skipped")
    second = run_stage("annotations", run_dir, config, workers=1)
    assert second["skipped"] and counted["files"] == files
    run_stage("annotations", run_dir, config, workers=1, force=True)
    assert counted["files"] == 2 * files
    record = Manifest(run_dir.root).stage("annotations")
    assert record["status"] == "done" and record["summary"]["objects"] > 0


def test_changed_parameters_rerun_the_stage_and_everything_downstream(run, fixture):
    run_dir, config = run
    run_stage("annotations", run_dir, config, workers=1)
    run_stage("index", run_dir, config, workers=1)
    index_hash = Manifest(run_dir.root).stage("index")["hash"]
    assert run_stage("index", run_dir, config, workers=1)["skipped"]

    config.index.per_class = 2
    assert not run_stage("index", run_dir, config, workers=1).get("skipped")
    assert len(run_dir.read("samples")) == 2 * len(WNIDS)
    assert run_stage("annotations", run_dir, config, workers=1)["skipped"]

    # A new annotation source reruns the annotations, hence the index.
    copy = fixture.root / "copy" / "Annotation.tar.gz"
    copy.parent.mkdir(exist_ok=True)
    copy.write_bytes(fixture.annotations.read_bytes())
    config.data.annotations = str(copy)
    config.index.per_class = 3
    assert not run_stage("annotations", run_dir, config, workers=1).get("skipped")
    states = {s.name: s for s in stage_states(run_dir, config)}
    assert states["index"].status == "out of date"
    summary = run_stage("index", run_dir, config, workers=1)
    assert not summary.get("skipped")
    assert Manifest(run_dir.root).stage("index")["hash"] != index_hash


def test_the_index_without_boxes_names_the_command_to_run(run):
    run_dir, config = run
    with pytest.raises(MissingInputError, match="localglobal annotations"):
        run_stage("index", run_dir, config, workers=1)


def test_an_interrupted_stage_resumes_without_redoing_finished_shards(run, counted):
    run_dir, config = run
    counted["fail_after"] = 2
    with pytest.raises(KeyboardInterrupt):
        run_stage("annotations", run_dir, config, workers=1)
    assert Manifest(run_dir.root).stage("annotations")["status"] == "failed"
    assert not run_dir.artifact_path("boxes").exists()
    finished = counted["files"]
    assert 0 < finished < len(WNIDS) * 3

    counted["fail_after"] = None
    summary = run_stage("annotations", run_dir, config, workers=1)
    assert counted["files"] == len(WNIDS) * 3, "finished shards are not read again"
    fresh = run_stage("annotations", run_dir, config, workers=1, force=True)
    assert summary["objects"] == fresh["objects"]
    assert run_dir.read("boxes")["image_id"].nunique() == len(WNIDS) * 3


def test_the_analysis_follows_every_stage_it_reads(run):
    from localglobal.stages import REGISTRY

    upstream = set(REGISTRY.upstream("analyze"))
    assert {"evaluate", "attribute", "edges", "index", "perturb"} <= upstream


def test_a_bad_smoother_stops_the_pipeline_before_the_first_stage(run, tmp_path):
    run_dir, config = run
    config.probes.set_section("smooth", operator=str(tmp_path / "missing-smoother.pt"))
    with pytest.raises(Exception, match=r"missing-smoother\.pt"):
        run_pipeline(run_dir, config)
    assert Manifest(run_dir.root).data["stages"] == {}


def test_a_whole_configuration_given_to_run_is_recorded(run):
    run_dir, config = run
    config.run.seed = 11
    _, again = prepare_run(run_dir.root, config=config)
    assert again.run.seed == 11
    assert "seed = 11" in run_dir.config_path.read_text()


def test_a_configuration_file_is_laid_over_the_run(run, tmp_path):
    run_dir, config = run
    overlay = tmp_path / "overlay.toml"
    overlay.write_text("[index]\nper_class = 1\n")
    _, merged = prepare_run(run_dir.root, config_path=overlay)
    assert merged.index.per_class == 1
    assert merged.data.images == config.data.images, "the rest of the run is kept"
