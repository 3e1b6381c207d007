"""The items to attribute: from perturbations or samples, with the source image's box."""

from __future__ import annotations

import errno

import numpy as np
import pandas as pd
import pytest

from localglobal.attribution import stage_inputs
from localglobal.attribution.stage_inputs import (
    attribution_items,
    empty_edge_images,
    load_batch,
    with_edge_masks,
)
from localglobal.errors import MissingInputError
from localglobal.io.atomic import write_npz
from localglobal.io.images import write_png
from localglobal.labels import get_label_space
from localglobal.probes.canny import pack_mask
from localglobal.probes.edge_masks import EdgeMasks

WNIDS = get_label_space("toyworld").wnids


def samples(tmp_path, n: int = 2) -> pd.DataFrame:
    rows = []
    for i in range(n):
        path = tmp_path / f"s{i}.png"
        write_png(path, np.full((40, 50, 3), 10 * i, np.uint8))
        rows.append({"image_id": f"s{i}", "path": str(path), "wnid": WNIDS[i],
                     "box_x0": 1.0 + i, "box_y0": 2.0, "box_x1": 20.0, "box_y1": 30.0})
    return pd.DataFrame(rows)


def test_originals_come_from_the_samples_without_perturbations(tmp_path):
    table = attribution_items(samples(tmp_path), None, ["original"], tmp_path)
    assert table["item_id"].tolist() == ["s0/original/0/0", "s1/original/0/0"]
    assert not table["in_frame"].any() and table["box_x0"].tolist() == [1.0, 2.0]
    with pytest.raises(MissingInputError, match="localglobal perturb"):
        attribution_items(samples(tmp_path), None, ["original", "patch"], tmp_path)


def test_perturbed_items_take_the_box_of_their_source_image(tmp_path):
    perturbations = pd.DataFrame({
        "item_id": ["s1/patch/10/0", "s0/original/0/0", "s0/smooth/1/0"],
        "image_id": ["s1", "s0", "s0"], "wnid": [WNIDS[1], WNIDS[0], WNIDS[0]],
        "probe": ["patch", "original", "smooth"], "level": [10, 0, 1],
        "variant": ["0", "0", "0"], "path": ["p/a.png", "p/b.png", "p/c.png"]})
    table = attribution_items(samples(tmp_path), perturbations, ["original", "patch"],
                              tmp_path)
    assert table["item_id"].tolist() == ["s1/patch/10/0", "s0/original/0/0"]
    assert table["box_x0"].tolist() == [2.0, 1.0]
    assert table["path"].tolist() == [str(tmp_path / "p/a.png"), str(tmp_path / "p/b.png")]
    assert table["in_frame"].all()


def test_unreadable_images_are_bad_input_and_machine_failures_are_not(tmp_path, monkeypatch):
    records = attribution_items(samples(tmp_path), None, ["original"], tmp_path) \
        .to_dict("records")
    records[1]["path"] = str(tmp_path / "missing.png")
    good, images, bad = load_batch(records, (16, 18, "bilinear"))
    assert [g["item_id"] for g in good] == ["s0/original/0/0"]
    assert images.shape == (1, 16, 16, 3)
    assert bad[0][0] == "s1/original/0/0" and "missing.png" in bad[0][1]

    def full_disk(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(stage_inputs, "load_input_frame", full_disk)
    with pytest.raises(OSError, match="Input/output"):
        load_batch(records, (16, 18, "bilinear"))


def test_in_frame_pngs_must_have_the_frame_size(tmp_path):
    write_png(tmp_path / "p.png", np.zeros((8, 8, 3), np.uint8))
    item = {"item_id": "x", "path": str(tmp_path / "p.png"), "in_frame": True}
    _, images, bad = load_batch([item], (16, 18, "bilinear"))
    assert images is None and "expected the 16×16 input frame" in bad[0][1]


def test_items_without_an_edge_mask_and_empty_masks(tmp_path):
    write_npz(tmp_path / "edges.npz", shape=np.array([2, 2]), s0=pack_mask(np.eye(2, dtype=bool)))
    edges = EdgeMasks(np.load(tmp_path / "edges.npz"))
    table = attribution_items(samples(tmp_path), None, ["original"], tmp_path)
    kept, missing = with_edge_masks(table, edges)
    assert kept["image_id"].tolist() == ["s0"] and missing == ["s1/original/0/0"]
    flags = pd.DataFrame({"image_id": ["s0", "s1", "s2"], "empty": [True, False, True]})
    assert empty_edge_images(flags, ["s0", "s1"]) == ["s0"]
    assert empty_edge_images(flags.drop(columns="empty"), ["s0"]) == []
