"""The annotations stage through ``run_stage``: boxes, the report, bad items, resume."""

import json
import os

import pandas as pd
import pytest

from localglobal.config import RunConfig
from localglobal.data.annotation_sources import read_annotations
from localglobal.data.boxes import BOX_COLUMNS
from localglobal.errors import MissingInputError, StageError
from localglobal.run import prepare_run, run_stage
from localglobal.stages import annotations as stage_module
from tests.imagenet_fixture import build_fixture

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

WNIDS = ["n01440764", "n02102040", "n02979186"]


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("fixture"), wnids=WNIDS, per_class=3,
                         bad_annotations=True, bad_images=True)


def make_run(path, source=None, **run_options):
    config = RunConfig()
    config.data.annotations = str(source) if source is not None else None
    for key, value in run_options.items():
        setattr(config.run, key, value)
    return prepare_run(path, config=config)


def report_of(run):
    return json.loads(run.path("annotations-report.json").read_text())


def test_the_stage_writes_boxes_and_its_report(fixture, tmp_path):
    run, config = make_run(tmp_path / "run", fixture.annotations)
    summary = run_stage("annotations", run, config, workers=1)
    assert summary["objects"] == fixture.expected["objects"]
    assert summary["files_read"] == fixture.expected["files_read"]
    boxes = run.read("boxes")
    assert isinstance(boxes, pd.DataFrame) and tuple(boxes.columns) == BOX_COLUMNS
    assert len(boxes) == fixture.expected["objects"]
    report = report_of(run)
    assert report["stage"] == "annotations" and report["status"] == "done"
    details = report["details"]
    for key, value in fixture.expected.items():
        assert details[key] == value, key
    assert details["source"] == str(fixture.annotations)
    # Every skipped file and archive is a bad item, named with its reason.
    bad = {entry["item"]: entry["reason"] for entry in report["bad_items"]}
    skipped = details["skipped_files"] + details["skipped_archives"]
    assert bad == {entry["file"]: entry["reason"] for entry in skipped}
    assert "malformed XML" in bad[fixture.bad_annotations["malformed"]]
    assert report["items"]["bad"] == len(skipped)
    assert report["items"]["done"] == details["files_with_boxes"]


def test_the_stage_gives_what_the_domain_reader_gives(fixture, tmp_path):
    expected = read_annotations(fixture.annotations).table
    for workers, shard_size in ((1, 64), (2, 1)):  # one shard; many, on two processes
        run, config = make_run(tmp_path / f"run{workers}", fixture.annotations,
                               shard_size=shard_size)
        run_stage("annotations", run, config, workers=workers)
        pd.testing.assert_frame_equal(run.read("boxes"), expected)


def test_traversal_members_are_never_written_anywhere(fixture, tmp_path):
    run, config = make_run(tmp_path / "run", fixture.annotations)
    run_stage("annotations", run, config, workers=1)
    escaped = [fixture.root.parent / "escaped", fixture.root / "escaped-absolute.xml",
               fixture.root.parent / "outside.tar.gz", tmp_path / "escaped"]
    assert not any(path.exists() for path in escaped)
    written = {p.name for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert not any(name.endswith((".xml", ".tar.gz")) for name in written)


def test_a_corrupt_outer_archive_stops_and_leaves_no_boxes(fixture, tmp_path):
    run, config = make_run(tmp_path / "run", fixture.annotations)
    run_stage("annotations", run, config, workers=1)
    assert run.artifact_path("boxes").exists()
    broken = tmp_path / "Annotation.tar.gz"
    data = fixture.annotations.read_bytes()
    broken.write_bytes(data[: len(data) * 2 // 3])
    config.data.annotations = str(broken)
    run, config = prepare_run(run.root, config=config)
    with pytest.raises(StageError, match=rf"{broken}: corrupt archive"):
        run_stage("annotations", run, config, workers=1)
    assert not run.artifact_path("boxes").exists()
    assert not run.path("annotations-report.json").exists()


def test_without_a_source_the_stage_writes_an_empty_table(tmp_path):
    run, config = make_run(tmp_path / "run")
    summary = run_stage("annotations", run, config, workers=1)
    assert summary["objects"] == 0
    assert tuple(run.read("boxes").columns) == BOX_COLUMNS
    assert report_of(run)["details"]["source"] is None


def test_a_missing_source_is_named_and_keeps_the_previous_result(fixture, tmp_path):
    run, config = make_run(tmp_path / "run", fixture.annotations)
    run_stage("annotations", run, config, workers=1)
    config.data.annotations = str(tmp_path / "typo.tar.gz")
    with pytest.raises(MissingInputError, match=r"typo\.tar\.gz: annotation source not found"):
        run_stage("annotations", run, config, workers=1)
    assert run.artifact_path("boxes").exists()


def test_an_interrupted_read_resumes_from_its_finished_shards(fixture, tmp_path, monkeypatch):
    run, config = make_run(tmp_path / "run", fixture.annotations, shard_size=1)
    calls = {"n": 0, "fail_after": 1}
    real = stage_module._read_shard

    def read_shard(items):
        if calls["fail_after"] is not None and calls["n"] >= calls["fail_after"]:
            raise KeyboardInterrupt("interrupted")
        calls["n"] += 1
        return real(items)

    monkeypatch.setattr(stage_module, "_read_shard", read_shard)
    monkeypatch.setattr(stage_module, "FILES_PER_SHARD_ITEM", 4)  # eight shards
    with pytest.raises(KeyboardInterrupt):
        run_stage("annotations", run, config, workers=1)
    assert not run.artifact_path("boxes").exists()
    calls["fail_after"] = None
    summary = run_stage("annotations", run, config, workers=1)
    assert report_of(run)["items"]["resumed"] == 4  # the first shard's files
    assert calls["n"] == -(-31 // 4)  # 31 XML files (two more are unsafe, never read)
    assert summary["objects"] == fixture.expected["objects"]
    assert run_stage("annotations", run, config, workers=1)["skipped"]


def test_the_caps_come_from_the_configuration(fixture, tmp_path):
    run, config = make_run(tmp_path / "run", fixture.annotations)
    config.annotations.max_member_mb = 0.0001  # 105 bytes: every member is past it
    run, config = prepare_run(run.root, config=config)
    with pytest.raises(StageError, match="every one of the"):
        run_stage("annotations", run, config, workers=1)
    reasons = {entry["reason"] for entry in report_of(run)["bad_items"]}
    assert any("per-member cap" in reason for reason in reasons)
