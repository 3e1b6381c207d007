"""The draw: reproducible, balanced, boxes in the input frame, bad images replaced."""

import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from localglobal.data import image_tree
from localglobal.data.annotation_sources import read_annotations
from localglobal.data.geometry import frame_transform, voc_to_edges
from localglobal.data.sampling import SAMPLE_SCHEMA, SampleOptions, build_index, draw_order
from localglobal.errors import MissingInputError
from localglobal.io.images import to_input_frame
from localglobal.labels import get_label_space
from tests.imagenet_fixture import build_fixture, downscale_fixture

WNIDS = ["n01440764", "n02102040", "n02979186"]
SPACE = get_label_space("imagenette")
CONTRACT = ["image_id", "path", "split", "wnid", "class_index", "class_name", "width", "height",
            "box_x0", "box_y0", "box_x1", "box_y1", "boxes_input"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Six training and six validation images per class; every third has no box."""
    root = tmp_path_factory.mktemp("index")
    info = build_fixture(root, wnids=WNIDS, per_class=6, unboxed_every=3, bad_images=True)
    (info.images / "train" / "n09999999").mkdir()  # a class outside the label space
    return info, read_annotations(info.annotations).table


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Four training images per class, all with boxes, none broken."""
    info = build_fixture(tmp_path_factory.mktemp("clean"), wnids=WNIDS, per_class=4,
                         splits=("train",))
    return info, read_annotations(info.annotations).table


def index(info, boxes, **options):
    return build_index(info.images, boxes, SPACE, SampleOptions(**options))


def sampled(result):
    return result.samples.to_pandas()


def test_the_table_has_the_contract_columns_first():
    assert SAMPLE_SCHEMA.names[:len(CONTRACT)] == CONTRACT


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

    monkeypatch.setattr(image_tree.os, "scandir", reversed_scandir)
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


def _open_rgb(path):
    with Image.open(path) as image:
        return image.convert("RGB")


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


def test_without_any_annotations_every_box_is_nan(dataset):
    info, _ = dataset
    frame = sampled(index(info, None, per_class=2, require_box=False))
    assert len(frame) == 2 * len(WNIDS)
    assert frame[["box_x0", "box_y0", "box_x1", "box_y1"]].isna().all().all()
    assert not frame["has_box"].any()


def test_folders_outside_the_label_space_are_listed(dataset):
    info, boxes = dataset
    result = index(info, boxes, per_class=1)
    assert result.report["folders_outside_label_space"] == ["n09999999"]
    assert set(result.report["classes"]) >= set(WNIDS)


def test_a_missing_split_folder_is_named(dataset):
    info, boxes = dataset
    with pytest.raises(MissingInputError, match=r"test: split folder not found"):
        index(info, boxes, splits=["test"])


def test_boxes_that_match_no_image_are_said_so(dataset):
    info, boxes = dataset
    elsewhere = boxes.assign(image_id="other_" + boxes["image_id"])
    with pytest.raises(MissingInputError, match=r"none of the .* images has a box") as error:
        index(info, elsewhere, per_class=1)
    # The way out is named as an option of the command that failed.
    assert "`localglobal index ROOT --run DIR --no-require-box`" in str(error.value)
