"""The index stage through ``run_stage``: with boxes, without them, and what it refuses."""

import json
import os
import re
import shlex

import pandas as pd
import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.config import RunConfig
from localglobal.data.annotation_sources import read_annotations
from localglobal.data.sampling import SampleOptions, build_index
from localglobal.errors import ConfigError, MissingInputError, StageError
from localglobal.labels import get_label_space
from localglobal.run import prepare_run, run_pipeline, run_stage
from tests.imagenet_fixture import build_fixture

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

WNIDS = ["n01440764", "n02102040", "n02979186"]
CONTRACT = ["image_id", "path", "split", "wnid", "class_index", "class_name", "width", "height",
            "box_x0", "box_y0", "box_x1", "box_y1", "boxes_input"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("index"), wnids=WNIDS, per_class=6,
                         unboxed_every=3, bad_images=True)


def make_run(path, info, *, annotations=True, **index_options):
    config = RunConfig()
    config.data.annotations = str(info.annotations) if annotations else None
    config.data.images = str(info.images)
    for key, value in index_options.items():
        setattr(config.index, key, value)
    return prepare_run(path, config=config)


def report_of(run):
    return json.loads(run.path("index-report.json").read_text())


def test_the_stage_writes_samples_and_its_report(dataset, tmp_path):
    run, config = make_run(tmp_path / "run", dataset, splits=["train", "val"])
    run_stage("annotations", run, config, workers=1)
    summary = run_stage("index", run, config, workers=1)
    samples = run.read("samples")
    assert summary["sampled"] == len(samples) == 3 * len(WNIDS)
    assert list(samples.columns[:len(CONTRACT)]) == CONTRACT
    report = report_of(run)
    assert report["details"]["sampled"] == len(samples)
    assert report["details"]["label_space"] == "imagenette"
    # The same draw as the domain function's, in this process.
    boxes = read_annotations(dataset.annotations).table
    expected = build_index(dataset.images, boxes, get_label_space("imagenette"),
                           SampleOptions(splits=["train", "val"],
                                         extensions=config.index.extensions))
    pd.testing.assert_frame_equal(samples, expected.samples.to_pandas())
    assert run_stage("index", run, config, workers=1)["skipped"]


def test_unreadable_drawn_images_are_bad_items_by_name(dataset, tmp_path):
    run, config = make_run(tmp_path / "run", dataset, per_class=None)
    run_stage("annotations", run, config, workers=2)
    run_stage("index", run, config, workers=2)
    report = report_of(run)
    bad = {entry["item"]: entry["reason"] for entry in report["bad_items"]}
    assert "truncated" in bad[str(dataset.bad_images["truncated"].resolve())]
    assert "unreadable" in bad[str(dataset.bad_images["unreadable"].resolve())]
    assert report["items"]["bad"] == 2 and report["status"] == "done"
    assert report["items"]["total"] == report["details"]["images_opened"]


def test_without_annotations_and_require_box_false_no_annotations_stage_is_needed(
        dataset, tmp_path):
    run, config = make_run(tmp_path / "run", dataset, annotations=False, require_box=False,
                           per_class=2)
    run_stage("index", run, config, workers=1)  # annotations never ran
    samples = run.read("samples")
    assert len(samples) == 2 * len(WNIDS)
    assert samples[["box_x0", "box_y0", "box_x1", "box_y1"]].isna().all().all()
    assert not run.artifact_path("boxes").exists()
    # Boxes read later make the index out of date: it is drawn again with them.
    config.data.annotations = str(dataset.annotations)
    run, config = prepare_run(run.root, config=config)
    run_stage("annotations", run, config, workers=1)
    again = run_stage("index", run, config, workers=1)
    assert not again.get("skipped") and run.read("samples")["has_box"].any()


def suggested_commands(message: str) -> list[list[str]]:
    """The ``localglobal`` commands a message puts in backticks, as argument lists."""
    return [shlex.split(c)[1:] for c in re.findall(r"`(localglobal [^`]+)`", message)]


def follow(command: list[str], **placeholders: object) -> None:
    """Run a suggested command (placeholders such as SOURCE filled in); it must work."""
    args = [str(placeholders.get(a, a)) for a in command]
    result = CliRunner().invoke(app, [*args, "--workers", "1"])
    assert result.exit_code == 0, (args, result.output)


def test_a_required_box_without_boxes_suggests_commands_that_work(dataset, tmp_path):
    run, config = make_run(tmp_path / "run", dataset, annotations=False)
    with pytest.raises(MissingInputError, match=r"has no boxes\.parquet") as missing:
        run_stage("index", run, config, workers=1)
    message = str(missing.value)
    assert "data.annotations is not set" in message
    assert "require_box = false under [index]" in message
    read_boxes, without_boxes = suggested_commands(message)
    assert read_boxes[:2] == ["annotations", "SOURCE"]
    follow(without_boxes)  # the images without boxes
    assert run.read("samples")["has_box"].eq(False).all()
    follow(read_boxes, SOURCE=dataset.annotations)  # or the boxes, read first
    follow(["index", str(dataset.images), "--run", str(run.root), "--require-box"])
    assert run.read("samples")["has_box"].all()


def test_a_configured_source_not_yet_read_is_named_in_the_command(dataset, tmp_path):
    run, config = make_run(tmp_path / "run", dataset)
    with pytest.raises(MissingInputError, match=r"has no boxes\.parquet") as missing:
        run_stage("index", run, config, workers=1)
    command = suggested_commands(str(missing.value))[0]
    assert command == ["annotations", str(dataset.annotations), "--run", str(run.root)]
    follow(command)
    follow(["index", str(dataset.images), "--run", str(run.root)])


def test_a_source_without_boxes_is_named(dataset, tmp_path):
    run, config = make_run(tmp_path / "run", dataset, annotations=False)
    empty = tmp_path / "no-xml"
    empty.mkdir()
    config.data.annotations = str(empty)
    run, config = prepare_run(run.root, config=config)
    run_stage("annotations", run, config, workers=1)
    with pytest.raises(MissingInputError, match=r"gave no box") as none:
        run_stage("index", run, config, workers=1)
    assert str(empty) in str(none.value) and "annotations-report.json" in str(none.value)
    follow(suggested_commands(str(none.value))[-1])


def test_without_an_image_root_the_key_and_a_command_are_named(tmp_path):
    run, config = prepare_run(tmp_path / "run", config=RunConfig())
    with pytest.raises(ConfigError, match=r"data\.images is not set.*`localglobal index ROOT "
                                          r"--run DIR`"):
        run_stage("index", run, config, workers=1)
    with pytest.raises(ConfigError, match=r"data\.images"):
        run_pipeline(run, config)  # refused before the first stage runs
    assert not run.artifact_path("boxes").exists()


def test_a_missing_image_root_stops_the_stage_naming_it(dataset, tmp_path):
    run, config = make_run(tmp_path / "run", dataset)
    run_stage("annotations", run, config, workers=1)
    config.data.images = str(tmp_path / "nowhere")
    run, config = prepare_run(run.root, config=config)
    with pytest.raises(StageError, match="nowhere"):
        run_stage("index", run, config, workers=1)
