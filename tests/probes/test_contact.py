"""Contact sheets: the layout, and one image's probes, edges and box drawn from arrays."""

import json

import numpy as np
import pandas as pd
import pytest

from localglobal.probes.contact import (
    BOX_COLOUR,
    EDGE_COLOUR,
    LABEL_HEIGHT,
    MAX_GAIN,
    contact_sheet,
    detail_gain,
    draw_box,
    image_sheet,
    probe_tiles,
    sheet_items,
)


def test_tiles_are_laid_out_on_a_grid_with_labels():
    tiles = [(f"tile {k}", np.full((20, 30, 3), 40 * k, np.uint8)) for k in range(5)]
    sheet = contact_sheet(tiles, columns=3)
    assert sheet.dtype == np.uint8 and sheet.ndim == 3
    gap = 4
    assert sheet.shape[:2] == (2 * (20 + LABEL_HEIGHT) + 3 * gap, 3 * 30 + 4 * gap)
    # The fourth tile starts the second row.
    y = gap + (20 + LABEL_HEIGHT) + gap + LABEL_HEIGHT
    assert (sheet[y:y + 20, gap:gap + 30] == 120).all()
    # Labels are drawn in the strip above each tile.
    assert (sheet[gap:gap + LABEL_HEIGHT, gap:gap + 30] < 128).any()


def test_masks_and_grey_images_are_shown_too():
    mask = np.zeros((10, 10), bool)
    mask[2:4] = True
    sheet = contact_sheet([("mask", mask), ("grey", np.full((10, 10), 7, np.uint8))], 2)
    assert sheet.shape[2] == 3
    with pytest.raises(ValueError, match="at least one image"):
        contact_sheet([], 3)


def test_a_box_is_outlined_and_a_missing_one_changes_nothing():
    image = np.zeros((20, 20, 3), np.uint8)
    boxed = draw_box(image, (2, 3, 12, 15), width=1)
    assert (boxed[3, 2:12] == BOX_COLOUR).all() and (boxed[14, 2:12] == BOX_COLOUR).all()
    assert (boxed[4:14, 3:11] == 0).all()
    assert np.array_equal(draw_box(image, (np.nan,) * 4), image)


def rows_of(image_id="img", operator="/models/zhu.pt"):
    """The perturbations rows of one image: one of each probe the sheet shows, and more."""
    smooth = json.dumps({"operator": operator, "iterations": 1})
    spec = [("original", 0, "0", "{}"), ("scramble", 112, "0", "{}"), ("scramble", 56, "0", "{}"),
            ("scramble", 56, "1", "{}"), ("patch", 70, "0", "{}"), ("patch", 70, "all", "{}"),
            ("smooth", 1, "0", smooth), ("smooth", 2, "0", smooth),
            ("smooth_diff", 1, "0", smooth), ("smooth_diff_inv", 1, "0", smooth)]
    return pd.DataFrame([{"item_id": f"{image_id}/{p}/{lv}/{v}", "image_id": image_id,
                          "probe": p, "level": lv, "variant": v, "params": params}
                         for p, lv, v, params in spec])


def test_the_sheet_shows_one_image_per_level_in_a_fixed_order():
    labels = [label for label, _ in sheet_items(rows_of())]
    assert labels == ["original", "scramble b=56", "scramble b=112", "patch p=70 (all)",
                      "smooth k=1 (zhu.pt)", "smooth k=2 (zhu.pt)", "removed detail",
                      "removed detail, inverted"]
    items = [item for _, item in sheet_items(rows_of())]
    assert items[1] == "img/scramble/56/0" and items[3] == "img/patch/70/all"
    only = rows_of()[lambda t: t["probe"].isin(["original", "patch"])]
    assert [label for label, _ in sheet_items(only)] == ["original", "patch p=70 (all)"]


def test_tiles_come_from_the_arrays_given():
    rows = rows_of()
    images = {item: np.full((16, 16, 3), 10 * k, np.uint8)
              for k, (_, item) in enumerate(sheet_items(rows))}
    mask = np.zeros((16, 16), bool)
    mask[5, :] = True
    tiles = probe_tiles(rows, images, box=(2, 2, 14, 14), edge_mask=mask)
    assert tiles[0][0] == "original + box" and tiles[-1][0] == "edges (16 px) + box"
    assert (tiles[0][1][2, 2:14] == BOX_COLOUR).all()
    assert (tiles[-1][1][5] == EDGE_COLOUR).all()
    assert np.array_equal(tiles[1][1], images["img/scramble/56/0"])
    # Without a mask there is no edges tile; a missing image leaves its tile out.
    del images["img/smooth/2/0"]
    labels = [label for label, _ in probe_tiles(rows, images)]
    assert "smooth k=2 (zhu.pt)" not in labels and not labels[-1].startswith("edges")


def test_heat_maps_follow_the_probes():
    rows = rows_of()
    images = {item: np.zeros((16, 16, 3), np.uint8) for _, item in sheet_items(rows)}
    heat = np.zeros((16, 16, 3), np.uint8)
    heat[:, :8] = (200, 30, 30)
    without = image_sheet(rows, images, columns=4)
    with_heat = image_sheet(rows, images, heatmaps=[("resnet", heat)], columns=4)

    def heat_pixels(sheet):
        return int(np.all(sheet == (200, 30, 30), axis=-1).sum())

    assert heat_pixels(without) == 0 and heat_pixels(with_heat) == 16 * 8


def test_labels_are_large_enough_to_read_when_the_sheet_is_shown_smaller():
    tiles = [(f"scramble b={k}", np.full((224, 224, 3), 255, np.uint8)) for k in range(6)]
    sheet = contact_sheet(tiles, columns=6)
    strip = sheet[4:4 + LABEL_HEIGHT, 4:4 + 224]
    rows = np.flatnonzero((strip < 128).any(axis=(1, 2)))
    # Text from the top of "b" to the foot of the digits: shown at the 68 % a page of
    # 1000 pixels gives a sheet of six tiles, it stays above 10 pixels.
    assert rows.size and rows[-1] - rows[0] + 1 >= 15
    assert 0.68 * (rows[-1] - rows[0] + 1) >= 10


def test_removed_detail_is_stretched_and_shown_with_its_scale():
    rows = rows_of()
    detail = np.zeros((64, 64, 3), np.uint8)
    detail[:, 32:] = 12  # a faint detail: almost black as it is
    images = {item: np.full((64, 64, 3), 90, np.uint8) for _, item in sheet_items(rows)}
    images["img/smooth_diff/1/0"] = detail
    images["img/smooth_diff_inv/1/0"] = 255 - detail
    tiles = dict(probe_tiles(rows, images))
    gain = detail_gain(detail)
    assert gain == MAX_GAIN and 12 * gain > 128  # the faint half shows bright
    shown = tiles[f"removed detail, x{gain}"]
    inverted = tiles[f"inverted detail, x{gain}"]
    assert (shown[:64, 32:] == 12 * gain).all() and (shown[:64, :32] == 0).all()
    assert np.array_equal(inverted[:64], 255 - shown[:64])
    # Below each image a grey ramp from 0 to white (inverted: from white to black).
    ramp = shown[64 + 2, :, 0].astype(int)
    assert ramp[0] < 10 and ramp[-1] > 245 and (np.diff(ramp) >= 0).all()
    ramp = inverted[64 + 2, :, 0].astype(int)
    assert ramp[0] > 245 and ramp[-1] < 10
    # A strong detail needs no stretching.
    assert detail_gain(np.full((8, 8, 3), 250, np.uint8)) == 1
