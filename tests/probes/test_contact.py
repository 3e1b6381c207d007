"""Contact sheets: one page per image with every probe, the edges and the box."""

import numpy as np
import pytest

from localglobal.probes.contact import (
    LABEL_HEIGHT,
    contact_sheet,
    heatmap_tiles,
    probe_tiles,
    write_contact_sheet,
)
from localglobal.store import MissingInputError, RunDir, read_png, write_png


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


def test_a_run_gets_a_contact_sheet_per_image(generated_run, image_rows):
    run, _, _, _ = generated_run
    image_id = image_rows[1]["image_id"]
    labels = [label for label, _ in probe_tiles(run, image_id)]
    assert labels[0] == "original + box"
    assert {"scramble b=56", "scramble b=112", "patch p=70 (all)", "smooth k=1 (l0)",
            "smooth k=2 (l0)", "removed detail", "removed detail, inverted"} <= set(labels)
    assert labels[-1].startswith("edges")
    path = write_contact_sheet(run, image_id)
    assert path == run.path("figures", "contact", f"{image_id}.png")
    sheet = read_png(path)
    assert sheet.shape[0] >= 224 and sheet.shape[1] >= 6 * 224


def test_the_output_path_can_be_chosen(generated_run, image_rows, tmp_path):
    run, _, _, _ = generated_run
    out = write_contact_sheet(run, image_rows[0]["image_id"], tmp_path / "sheet.png")
    assert out == tmp_path / "sheet.png" and out.exists()


def test_an_unknown_image_id_lists_known_ones(generated_run, image_rows):
    run, _, _, _ = generated_run
    with pytest.raises(KeyError, match=rf"unknown image id 'nope'.*{image_rows[0]['image_id']}"):
        write_contact_sheet(run, "nope")


def test_a_run_without_probes_says_which_stage_to_run(tmp_path):
    with pytest.raises(MissingInputError, match="localglobal perturb"):
        write_contact_sheet(RunDir(tmp_path), "n01440764_1")


def test_heat_maps_join_the_sheet_once_attributed(generated_run, image_rows, tmp_path):
    import shutil

    run, _, _, _ = generated_run
    copy = RunDir(tmp_path / "run")
    shutil.copytree(run.root, copy.root)
    image_id = image_rows[0]["image_id"]
    assert heatmap_tiles(copy, image_id) == []
    heat = np.zeros((224, 224, 3), np.uint8)
    heat[:, :112] = (200, 30, 30)
    write_png(copy.path("heatmaps", "timm_resnet18", f"{image_id}.png"), heat)
    tiles = heatmap_tiles(copy, image_id)
    assert [label for label, _ in tiles] == ["LRP timm_resnet18"]
    assert np.array_equal(tiles[0][1], heat)
    without = read_png(write_contact_sheet(run, image_id, tmp_path / "without.png"))
    with_heat = read_png(write_contact_sheet(copy, image_id, tmp_path / "with.png"))
    def heat_pixels(sheet):
        return int(np.all(sheet == (200, 30, 30), axis=-1).sum())

    assert heat_pixels(without) == 0 and heat_pixels(with_heat) == 224 * 112
