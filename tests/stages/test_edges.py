"""The edges stage on a handful of generated JPEGs, through ``run_stage``."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from localglobal.data.geometry import box_mask
from localglobal.io.images import load_input_frame, read_png
from localglobal.probes.canny import CannySettings, auto_canny
from localglobal.probes.edge_masks import unpack_masks
from localglobal.run import run_stage
from tests.stages._probe_run import build_images, generate, make_run, stage_report


@pytest.fixture(scope="module")
def image_rows(tmp_path_factory) -> list[dict]:
    return build_images(tmp_path_factory.mktemp("images"), n=3)


@pytest.fixture(scope="module")
def generated_run(tmp_path_factory, image_rows):
    """A run where perturb and edges have run on three images."""
    return generate(tmp_path_factory.mktemp("run"), image_rows)


def masks_of(run, image_ids=None):
    with run.read("edge_masks") as archive:
        return unpack_masks(archive, image_ids)


def test_edges_are_stored_packed_in_the_input_frame(generated_run, image_rows):
    run, _, _, summary = generated_run
    assert (summary["images"], summary["edges"], summary["empty"]) == (3, 3, 0)
    assert (summary["bad"], summary["failed"], summary["status"]) == (0, 0, "done")
    table = run.read("edges")
    assert list(table.columns[:5]) == ["image_id", "lower", "upper", "n_edge", "n_edge_in_box"]
    assert {"n_edge_out_box", "median", "sigma", "empty", "rule"} <= set(table.columns)
    assert table["empty"].dtype == bool and not table["empty"].any()
    masks = masks_of(run)
    assert set(masks) == set(table["image_id"])
    perturbations = run.read("perturbations")
    for sample, row in zip(image_rows, table.itertuples(), strict=True):
        assert row.image_id == sample["image_id"]
        mask = masks[row.image_id]
        assert mask.shape == (224, 224) and mask.dtype == bool
        # The edges are those of the stored original (the same frame as every probe).
        path = perturbations.loc[perturbations["item_id"] == f"{row.image_id}/original/0/0",
                                 "path"].item()
        expected, record = auto_canny(read_png(run.path(path)))
        assert np.array_equal(mask, expected)
        assert (row.lower, row.upper, row.rule) == (record.lower, record.upper, "auto")
        box = (sample["box_x0"], sample["box_y0"], sample["box_x1"], sample["box_y1"])
        assert row.n_edge == mask.sum()
        assert row.n_edge_in_box == (mask & box_mask(box, 224)).sum()
        assert row.n_edge_in_box + row.n_edge_out_box == row.n_edge
    with pytest.raises(KeyError, match="no edge mask"):
        masks_of(run, ["nope"])


def test_edges_resume_by_shard(tmp_path):
    rows = build_images(tmp_path / "images", n=3, seed=4)
    run, config = make_run(tmp_path / "run", rows, run={"shard_size": 2})
    run_stage("edges", run, config, workers=1)
    table, masks = run.read("edges"), masks_of(run)
    assert stage_report(run, "edges")["items"]["resumed"] == 0
    run.artifact_path("edges").unlink()  # out of date: the shards are reused
    run_stage("edges", run, config, workers=1)
    assert stage_report(run, "edges")["items"]["resumed"] == 3
    pd.testing.assert_frame_equal(run.read("edges"), table)
    assert all(np.array_equal(masks_of(run)[k], v) for k, v in masks.items())


def test_an_image_without_edges_is_flagged_and_counted(tmp_path, image_rows):
    flat = tmp_path / "n00000005" / "n00000005_flat.JPEG"
    flat.parent.mkdir()
    Image.new("RGB", (300, 240), (90, 90, 90)).save(flat)
    rows = [*image_rows[:1], dict(image_rows[0], image_id="n00000005_flat", wnid="n00000005",
                                  path=str(flat))]
    run, config = make_run(tmp_path / "run", rows)
    summary = run_stage("edges", run, config, workers=1)
    assert summary["empty"] == 1 and summary["empty_in_box"] == 1
    table = run.read("edges").set_index("image_id")
    assert table.loc["n00000005_flat", "empty"] and table.loc["n00000005_flat", "n_edge"] == 0
    assert not table.loc[image_rows[0]["image_id"], "empty"]
    assert stage_report(run, "edges")["details"]["empty_masks"] == ["n00000005_flat"]
    assert not masks_of(run)["n00000005_flat"].any()


def test_the_threshold_rule_of_the_configuration_is_used(tmp_path, image_rows):
    run, config = make_run(tmp_path / "run", image_rows[:1],
                           edges={"thresholds": "percentile", "percentiles": [60, 95]})
    run_stage("edges", run, config, workers=1)
    row = run.read("edges").iloc[0]
    frame = load_input_frame(image_rows[0]["path"])
    expected, record = auto_canny(frame, CannySettings(thresholds="percentile",
                                                        percentiles=(60, 95)))
    assert row["rule"] == "percentile"
    assert (row["lower"], row["upper"]) == (record.lower, record.upper)
    assert np.array_equal(masks_of(run)[row["image_id"]], expected)
    assert stage_report(run, "edges")["details"]["plan"]["edges"]["percentiles"] == [60, 95]


def test_bad_images_are_reported_and_the_rest_goes_on(tmp_path, image_rows):
    broken = tmp_path / "n00000009" / "n00000009_broken.JPEG"
    broken.parent.mkdir()
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    tiny = tmp_path / "n00000009" / "n00000009_tiny.JPEG"
    Image.new("RGB", (6, 4), (200, 10, 10)).save(tiny)
    reserved = tmp_path / "n00000009" / "shape.JPEG"
    Image.new("RGB", (60, 40), (200, 10, 10)).save(reserved)
    bad = [dict(image_rows[0], image_id=p.stem, wnid="n00000009", path=str(p))
           for p in (broken, tiny, reserved)]
    run, config = make_run(tmp_path / "run", [*image_rows, *bad])
    summary = run_stage("edges", run, config, workers=1)
    assert (summary["edges"], summary["bad"], summary["status"]) == (len(image_rows), 3, "done")
    reasons = {b["item"]: b["reason"] for b in stage_report(run, "edges")["bad_items"]}
    assert "not a decodable image" in reasons["n00000009_broken"]
    assert "too small" in reasons["n00000009_tiny"]
    assert "key of the mask shape" in reasons["shape"]
    assert set(run.read("edges")["image_id"]) == {r["image_id"] for r in image_rows}
