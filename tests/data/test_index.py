"""The index stage: a reproducible, balanced draw, boxes in the input frame, bad images reported."""

import os

import numpy as np
import pandas as pd
import pytest

from localglobal.config import RunConfig
from localglobal.data import index as index_module
from localglobal.data.annotations import read_annotations
from localglobal.data.classes import get_label_space
from localglobal.data.fixture import build_fixture, downscale_fixture
from localglobal.data.geometry import frame_transform, to_input_frame, voc_to_edges
from localglobal.data.index import (
    ImageIndexError,
    boxes_in_frame,
    build_index,
    draw_order,
)
from localglobal.run import StageError, prepare_run, run_stage

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

WNIDS = ["n01440764", "n02102040", "n02979186"]
SPACE = get_label_space("imagenette")
CONTRACT = ["image_id", "path", "split", "wnid", "class_index", "class_name", "width", "height",
            "box_x0", "box_y0", "box_x1", "box_y1", "boxes_input"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Six training and two validation images per class; every third has no box."""
    root = tmp_path_factory.mktemp("index")
    info = build_fixture(root, wnids=WNIDS, per_class=6, unboxed_every=3, bad_images=True)
    (info.images / "train" / "n09999999").mkdir()  # a class outside the label space
    boxes = read_annotations(info.annotations).table.to_pandas()
    return info, boxes


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Four training images per class, all with boxes, none broken."""
    info = build_fixture(tmp_path_factory.mktemp("clean"), wnids=WNIDS, per_class=4,
                         splits=("train",))
    return info, read_annotations(info.annotations).table.to_pandas()


def index(info, boxes, **options):
    options.setdefault("splits", ["train"])
    return build_index(info.images, boxes, SPACE, **options)


def sampled(result):
    return result.samples.to_pandas()


def test_the_draw_is_reproducible_and_balanced(dataset):
    info, boxes = dataset
    first = sampled(index(info, boxes, per_class=2, seed=1))
    again = sampled(index(info, boxes, per_class=2, seed=1))
    pd.testing.assert_frame_equal(first, again)
    assert first.groupby("wnid").size().to_dict() == dict.fromkeys(WNIDS, 2)
    assert set(first["image_id"]) <= set(info.boxes), "only images with a box are drawn"
    draws = {tuple(sampled(index(info, boxes, per_class=2, seed=s))["image_id"])
             for s in range(6)}
    assert len(draws) > 1, "the seed changes the draw"


def test_the_draw_does_not_depend_on_file_system_order(dataset, monkeypatch):
    info, boxes = dataset
    expected = sampled(index(info, boxes, per_class=2, seed=3))
    real_scandir = os.scandir

    def reversed_scandir(path):
        with real_scandir(path) as entries:
            return iter(sorted(entries, key=lambda e: e.name, reverse=True))

    monkeypatch.setattr(index_module.os, "scandir", reversed_scandir)
    pd.testing.assert_frame_equal(sampled(index(info, boxes, per_class=2, seed=3)), expected)


def test_each_class_draws_from_its_own_stream():
    ids = [f"n01440764_{k}" for k in range(20)]
    order = draw_order(ids, seed=1, wnid="n01440764")
    assert sorted(order) == sorted(ids)
    assert order == draw_order(list(reversed(ids)), seed=1, wnid="n01440764")
    assert order != draw_order(ids, seed=1, wnid="n02102040")


def test_boxes_are_mapped_into_the_input_frame(dataset):
    info, boxes = dataset
    frame = sampled(index(info, boxes, per_class=None))
    assert frame["image_id"].is_unique
    assert list(frame.columns[:len(CONTRACT)]) == CONTRACT
    for row in frame.itertuples():
        true = np.array([voc_to_edges(*b) for b in info.boxes[row.image_id]])
        expected = frame_transform(row.width, row.height, 256, 224).map_boxes(true)
        assert np.allclose(np.stack(row.boxes_input), expected)
        assert row.n_objects == len(true)
        kept = expected[(expected[:, 2] > expected[:, 0]) & (expected[:, 3] > expected[:, 1])]
        assert np.allclose([row.box_x0, row.box_y0, row.box_x1, row.box_y1],
                           [*kept[:, :2].min(axis=0), *kept[:, 2:].max(axis=0)])
        assert row.class_index == SPACE.index_of(row.wnid)
        assert row.class_name == SPACE.name_of(row.wnid)


def object_extent(image_rgb):
    """Pixel-edge extent of the fixture's bright object pixels in an input-frame image."""
    bright = np.asarray(image_rgb).max(axis=2) > 150
    cols, rows = np.flatnonzero(bright.any(axis=0)), np.flatnonzero(bright.any(axis=1))
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=float)


def test_downscaled_variants_get_their_boxes_rescaled(clean, tmp_path):
    # Like imagenette2-320: smaller copies of the images, the XML still gives the
    # original size.
    info, boxes = clean
    small = downscale_fixture(info, tmp_path / "small", shorter_side=48)
    full = sampled(index(info, boxes, per_class=3)).set_index("image_id")
    result = index(small, boxes, per_class=3)
    variant = sampled(result).set_index("image_id")
    assert list(variant.index) == list(full.index), "the draw does not depend on image size"
    assert result.report["boxes_rescaled"] == len(variant)
    for image_id, row in variant.iterrows():
        assert (row.width, row.height) == small.sizes[image_id]
        assert (row.xml_width, row.xml_height) == info.sizes[image_id]
        assert np.allclose(np.stack(row.boxes_input), np.stack(full.at[image_id, "boxes_input"]),
                           atol=2.5)
        if row.n_objects == 1:
            pixels = to_input_frame(np.asarray(_open_rgb(row.path)), 256, 224)
            assert np.allclose(object_extent(pixels), row.boxes_input[0], atol=3.0), image_id
    # Without the rescaling the boxes would be far off: the test can tell.
    row = variant.iloc[0]
    unscaled = frame_transform(row.width, row.height).map_boxes(
        np.array([voc_to_edges(*b) for b in info.boxes[row.name]]))
    assert not np.allclose(unscaled, np.stack(row.boxes_input), atol=10)


def _open_rgb(path):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def test_boxes_of_another_version_of_the_picture_are_refused():
    voc = np.array([[10, 10, 100, 60]])
    fine = boxes_in_frame(voc, (400, 300), (320, 240), 256, 224)
    assert not fine.problem and fine.scale_x == pytest.approx(0.8)
    rotated = boxes_in_frame(voc, (400, 300), (300, 400), 256, 224)
    assert "not the same picture" in rotated.problem
    unknown = boxes_in_frame(voc, (0, 0), (320, 240), 256, 224)
    assert not unknown.problem and unknown.scale_x == 1.0


def test_bad_images_are_reported_and_unusual_ones_decoded(dataset):
    info, boxes = dataset
    result = index(info, boxes, per_class=None)
    problems = {p["path"]: p["reason"] for p in result.report["problems"]}
    assert "truncated" in problems[str(info.bad_images["truncated"].resolve())]
    assert "unreadable" in problems[str(info.bad_images["unreadable"].resolve())]
    assert result.report["n_problems"] == len(problems) == 2
    frame = sampled(result)
    kept = {"cmyk", "greyscale", "png_named_jpeg"}
    assert {p.stem for c, p in info.bad_images.items() if c in kept} <= set(frame["image_id"])
    assert result.report["decoded_to_rgb"] == {"CMYK": 1, "L": 1}
    (mismatch,) = result.report["format_mismatch"]
    assert mismatch["format"] == "PNG"


def test_a_broken_drawn_image_is_replaced_by_the_next_candidate(dataset):
    info, boxes = dataset
    wnid = WNIDS[0]
    candidates = info.image_ids(split="train", wnid=wnid, boxed=True)
    order = draw_order(candidates, seed=1, wnid=wnid)
    broken = {info.bad_images[c].stem for c in ("truncated", "unreadable")}
    position = min(order.index(b) for b in broken)
    per_class = position + 1  # the first broken image is among the drawn ones
    result = index(info, boxes, per_class=per_class, seed=1)
    drawn = set(sampled(result).query("wnid == @wnid")["image_id"])
    good = [i for i in order if i not in broken]
    assert drawn == set(good[:per_class])
    considered = order[: order.index(good[per_class - 1]) + 1]
    assert {p["image_id"] for p in result.report["problems"]} == broken & set(considered)


def test_images_without_boxes_are_drawn_when_no_box_is_required(dataset):
    info, boxes = dataset
    frame = sampled(index(info, boxes, per_class=None, require_box=False))
    unboxed = frame[frame["image_id"].isin(info.unboxed)]
    assert len(unboxed) == len([i for i in info.unboxed if info.split_of[i] == "train"])
    assert unboxed["box_x0"].isna().all() and (unboxed["n_objects"] == 0).all()
    assert all(len(b) == 0 for b in unboxed["boxes_input"])


def test_folders_outside_the_label_space_are_listed(dataset):
    info, boxes = dataset
    result = index(info, boxes, per_class=1)
    assert result.report["folders_outside_label_space"] == ["n09999999"]
    assert set(result.report["classes"]) >= set(WNIDS)


def test_a_missing_split_folder_is_named(dataset):
    info, boxes = dataset
    with pytest.raises(ImageIndexError, match=r"test: split folder not found"):
        index(info, boxes, splits=["test"])


def test_the_stage_writes_samples_and_report(dataset, tmp_path):
    info, _ = dataset
    config = RunConfig()
    config.data.annotations = str(info.annotations)
    config.data.images = str(info.images)
    config.index.splits = ["train", "val"]
    run, config = prepare_run(tmp_path / "run", config=config)
    run_stage("annotations", run, config, workers=1)
    summary = run_stage("index", run, config, workers=1)
    samples = run.read("samples")
    assert summary["sampled"] == len(samples) == 3 * len(WNIDS)
    assert set(CONTRACT) <= set(samples.columns)
    assert run.path("index-report.json").exists()
    config.data.images = str(tmp_path / "nowhere")
    with pytest.raises(StageError, match="nowhere"):
        run_stage("index", run, config, workers=1)


@pytest.mark.parametrize(("xml_size", "shorter"), [((1600, 1200), 320), ((500, 375), 160),
                                                   ((333, 500), 160), ((4000, 3000), 320)])
def test_rounded_downscales_of_any_size_are_accepted(xml_size, shorter):
    xml_width, xml_height = xml_size
    scale = shorter / min(xml_size)
    for rounding in (round, int):
        size = (rounding(xml_width * scale), rounding(xml_height * scale))
        frame = boxes_in_frame(np.array([[0, 0, xml_width - 1, xml_height - 1]]), xml_size,
                               size, 256, 224)
        assert not frame.problem, (size, frame.problem)
