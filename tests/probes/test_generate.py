"""The perturb and edges stages on a handful of generated JPEGs."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_PROBES, build_images, context, make_run
from PIL import Image

from localglobal.data.geometry import box_mask, to_input_frame
from localglobal.probes.edges import auto_canny
from localglobal.probes.generate import (
    ImageInputError,
    ProbePlan,
    edges_stage,
    load_edge_masks,
    load_rgb,
    perturb_stage,
)
from localglobal.probes.scramble import unscramble
from localglobal.probes.smooth import l0_smooth
from localglobal.store import read_png

CONTRACT = ["item_id", "image_id", "wnid", "probe", "level", "variant", "params", "path"]
# Per image: original, 2 block sides × 3 variants, 4 patches + all, 2 passes, 2 detail images.
ITEMS_PER_IMAGE = 1 + 6 + 5 + 2 + 2


def file_digests(run):
    folder = run.path("perturbations")
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.png"))}


def test_the_table_follows_the_contract(generated_run, image_rows):
    run, _, summary, _ = generated_run
    table = run.read("perturbations")
    assert list(table.columns[:len(CONTRACT)]) == CONTRACT
    assert summary["failed"] == 0 and summary["items"] == len(table)
    assert len(table) == ITEMS_PER_IMAGE * len(image_rows)
    assert table["level"].dtype == np.int64
    assert table["item_id"].is_unique
    for row in table.itertuples():
        assert row.item_id == f"{row.image_id}/{row.probe}/{row.level}/{row.variant}"
        assert row.path.startswith(f"perturbations/{row.probe}/{row.wnid}/")
        assert run.path(row.path).exists()
    counts = table.groupby("probe").size().to_dict()
    n = len(image_rows)
    assert counts == {"original": n, "scramble": 6 * n, "patch": 5 * n, "smooth": 2 * n,
                      "smooth_diff": n, "smooth_diff_inv": n}
    scramble = table[table["probe"] == "scramble"]
    assert set(scramble["variant"]) == {"0", "1", "2"} and set(scramble["level"]) == {56, 112}
    assert set(table.loc[table["probe"] == "patch", "variant"]) == {"0", "1", "2", "3", "all"}
    assert set(table.loc[table["probe"] == "smooth", "level"]) == {1, 2}
    params = {p: json.loads(table.loc[table["probe"] == p, "params"].iloc[0])
              for p in ("original", "scramble", "patch", "smooth")}
    assert params["original"] == {}
    assert set(params["scramble"]) == {"block", "permutation"}
    assert {"size", "fill", "rects"} <= set(params["patch"])
    assert params["smooth"]["operator"] == "l0" and params["smooth"]["iterations"] == 1


def test_the_stored_images_are_what_the_params_say(generated_run, image_rows):
    run, _, _, _ = generated_run
    table = run.read("perturbations")
    sample = image_rows[0]
    rows = table[table["image_id"] == sample["image_id"]].set_index("item_id")

    def image(probe, level, variant):
        return read_png(run.path(rows.loc[f"{sample['image_id']}/{probe}/{level}/{variant}",
                                          "path"]))

    def params(probe, level, variant):
        return json.loads(rows.loc[f"{sample['image_id']}/{probe}/{level}/{variant}", "params"])

    source = np.asarray(Image.open(sample["path"]).convert("RGB"))
    original = image("original", 0, "0")
    assert np.array_equal(original, to_input_frame(source))
    for block in (56, 112):
        for variant in "012":
            permutation = params("scramble", block, variant)["permutation"]
            restored = unscramble(image("scramble", block, variant), permutation, block)
            assert np.array_equal(restored, original)
    patched = image("patch", 70, "all")
    for x0, y0, x1, y1 in params("patch", 70, "all")["rects"]:
        assert (patched[y0:y1, x0:x1] == 0).all()
    # Smoothing happens at full resolution, then the result is taken into the frame.
    first = l0_smooth(source)
    assert np.array_equal(image("smooth", 1, "0"), to_input_frame(first))
    assert np.array_equal(image("smooth", 2, "0"), to_input_frame(l0_smooth(first)))
    # Removed detail relates the stored original and first pass exactly.
    detail = image("smooth_diff", 1, "0")
    smoothed = image("smooth", 1, "0")
    assert np.array_equal(detail.astype(int), np.abs(original.astype(int) - smoothed))
    assert np.array_equal(image("smooth_diff_inv", 1, "0"), 255 - detail)


def test_two_runs_give_byte_identical_files_whatever_the_pool(tmp_path, image_rows):
    import cv2

    run_a, config = make_run(tmp_path / "a", image_rows)
    run_b, _ = make_run(tmp_path / "b", image_rows)
    perturb_stage(context(run_a, config, "perturb", workers=1))
    # OpenCV's own threads running in this process must not hang the forked workers.
    cv2.GaussianBlur(np.zeros((1000, 1000, 3), np.uint8), (31, 31), 5)
    perturb_stage(context(run_b, config, "perturb", workers=2))
    assert file_digests(run_a) == file_digests(run_b)
    pd.testing.assert_frame_equal(run_a.read("perturbations"), run_b.read("perturbations"))


def test_scrambles_of_an_image_do_not_depend_on_the_other_images(tmp_path, image_rows):
    alone, config = make_run(tmp_path / "alone", image_rows[1:2])
    perturb_stage(context(alone, config, "perturb"))
    together, _ = make_run(tmp_path / "together", image_rows)
    perturb_stage(context(together, config, "perturb"))
    run_table = together.read("perturbations")
    mine = run_table[run_table["image_id"] == image_rows[1]["image_id"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.read("perturbations"), mine)


def test_the_stage_resumes_per_image(tmp_path, image_rows, monkeypatch):
    from localglobal.probes import generate

    run, config = make_run(tmp_path / "run", image_rows)
    first = perturb_stage(context(run, config, "perturb"))
    assert (first["done"], first["resumed"]) == (3, 0)
    before = run.read("perturbations")

    processed = []
    real = generate.perturb_image

    def counting(plan, sample, run_root):
        processed.append(sample["image_id"])
        return real(plan, sample, run_root)

    monkeypatch.setattr(generate, "perturb_image", counting)
    again = perturb_stage(context(run, config, "perturb"))
    assert processed == [] and (again["done"], again["resumed"]) == (0, 3)
    pd.testing.assert_frame_equal(run.read("perturbations"), before)

    # Losing one image's finished shard (an interruption) redoes that image only.
    store = context(run, config, "perturb").shards(plan=ProbePlan.from_config(config).key())
    lost = [n for n in store.names() if n.startswith(image_rows[2]["image_id"])]
    (store.folder / f"{lost[0]}.parquet").unlink()
    third = perturb_stage(context(run, config, "perturb"))
    assert processed == [image_rows[2]["image_id"]] and third["resumed"] == 2
    pd.testing.assert_frame_equal(run.read("perturbations"), before)


def test_bad_images_are_reported_and_the_rest_goes_on(tmp_path, image_rows):
    broken = tmp_path / "n00000009" / "n00000009_broken.JPEG"
    broken.parent.mkdir()
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    tiny = tmp_path / "n00000009" / "n00000009_tiny.JPEG"
    Image.new("RGB", (6, 4), (200, 10, 10)).save(tiny)
    missing = tmp_path / "n00000009" / "n00000009_gone.JPEG"
    bad = [dict(image_rows[0], image_id=p.stem, wnid="n00000009", path=str(p))
           for p in (broken, tiny, missing)]
    run, config = make_run(tmp_path / "run", [*image_rows, *bad])
    summary = perturb_stage(context(run, config, "perturb"))
    assert summary["failed"] == 3 and summary["done"] == len(image_rows)
    report = json.loads(run.path("perturb-report.json").read_text())
    reasons = {f["image_id"]: f["error"] for f in report["failures"]}
    assert set(reasons) == {p.stem for p in (broken, tiny, missing)}
    assert "not a decodable image" in reasons["n00000009_broken"]
    assert "too small" in reasons["n00000009_tiny"]
    assert "no such image file" in reasons["n00000009_gone"]
    table = run.read("perturbations")
    assert set(table["image_id"]) == {r["image_id"] for r in image_rows}

    edges = edges_stage(context(run, config, "edges"))
    assert edges["failed"] == 3 and edges["edges"] == len(image_rows)
    assert len(json.loads(run.path("edges-report.json").read_text())["failures"]) == 3


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_a_smoother_failing_on_one_image_is_reported(tmp_path, image_rows):
    import torch

    class NarrowOnly(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[-1] > 290:
                raise RuntimeError("images wider than 290 pixels are not supported")
            return x

    model = tmp_path / "narrow.pt"
    torch.jit.script(NarrowOnly()).save(str(model))
    probes = dict(TINY_PROBES, smooth={"operator": str(model), "iterations": 1})
    run, config = make_run(tmp_path / "run", image_rows, probes)
    summary = perturb_stage(context(run, config, "perturb"))
    wide = image_rows[0]  # 300 pixels wide; the others are narrower
    assert summary["failed"] == 1 and summary["done"] == len(image_rows) - 1
    report = json.loads(run.path("perturb-report.json").read_text())
    assert report["failures"][0]["image_id"] == wide["image_id"]
    assert "wider than 290" in report["failures"][0]["error"]
    assert wide["image_id"] not in set(run.read("perturbations")["image_id"])

    # When every image fails the stage stops with an error, after writing its report.
    from localglobal.run import StageError

    only_wide, config = make_run(tmp_path / "wide", [wide], probes)
    with pytest.raises(StageError, match="every one of the 1 images failed"):
        perturb_stage(context(only_wide, config, "perturb"))
    assert json.loads(only_wide.path("perturb-report.json").read_text())["failed"] == 1


def test_parameters_are_checked_before_any_image(tmp_path, image_rows):
    probes = dict(TINY_PROBES, scramble={"blocks": [30]})
    run, config = make_run(tmp_path / "run", image_rows, probes)
    with pytest.raises(ValueError, match="30 does not divide the image side 224"):
        perturb_stage(context(run, config, "perturb"))
    assert not run.path("perturbations").exists()
    typo = dict(TINY_PROBES, smooth={"params": {"lzero": {"lam": 0.1}}})
    with pytest.raises(ValueError, match="unknown operator"):
        ProbePlan.from_config(make_run(tmp_path / "typo", image_rows, typo)[1])


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_a_torchscript_smoother_of_the_wrong_shape_is_refused_before_the_run(tmp_path,
                                                                              image_rows):
    import torch

    class Crop(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :, 1:, 1:]

    model = tmp_path / "crop.pt"
    torch.jit.script(Crop()).save(str(model))
    probes = dict(TINY_PROBES, smooth={"operator": str(model)})
    run, config = make_run(tmp_path / "run", image_rows, probes)
    with pytest.raises(ValueError, match=r"returned shape \(1, 3, 44, 66\)"):
        perturb_stage(context(run, config, "perturb"))
    assert not run.path("perturbations").exists()


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "I;16"])
def test_any_colour_mode_decodes_as_rgb(tmp_path, mode):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 30, 3), np.uint8))
    image = rgb.convert("L").convert(mode) if mode == "I;16" else rgb.convert(mode)
    path = tmp_path / f"picture.{'JPEG' if mode in ('L', 'CMYK') else 'png'}"
    image.save(path, format="JPEG" if mode in ("L", "CMYK") else "PNG")
    loaded = load_rgb(path)
    assert loaded.mode == "RGB" and loaded.size == (30, 20)
    if mode == "I;16":
        assert np.asarray(loaded).max() > 0


def test_a_png_named_jpeg_decodes(tmp_path):
    path = tmp_path / "n01440764_1.JPEG"
    Image.new("RGB", (40, 30), (1, 2, 3)).save(path, format="PNG")
    assert np.asarray(load_rgb(path))[0, 0].tolist() == [1, 2, 3]
    with pytest.raises(ImageInputError, match="too small"):
        load_rgb(path, min_side=31)


def test_edges_are_stored_packed_in_the_input_frame(generated_run, image_rows):
    run, _, _, summary = generated_run
    assert summary == {"images": 3, "edges": 3, "failed": 0, "resumed": 0}
    table = run.read("edges")
    assert {"image_id", "lower", "upper", "n_edge", "n_edge_in_box",
            "n_edge_out_box"} <= set(table.columns)
    masks = load_edge_masks(run)
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
        assert (row.lower, row.upper) == (record.lower, record.upper)
        box = (sample["box_x0"], sample["box_y0"], sample["box_x1"], sample["box_y1"])
        assert row.n_edge == mask.sum()
        assert row.n_edge_in_box == (mask & box_mask(box, 224)).sum()
        assert row.n_edge_in_box + row.n_edge_out_box == row.n_edge
    with pytest.raises(KeyError, match="no edge mask"):
        load_edge_masks(run, ["nope"])


def test_edges_resume_by_chunk(tmp_path):
    rows = build_images(tmp_path / "images", n=3, seed=4)
    run, config = make_run(tmp_path / "run", rows, run={"shard_size": 2})
    first = edges_stage(context(run, config, "edges"))
    table, masks = run.read("edges"), load_edge_masks(run)
    again = edges_stage(context(run, config, "edges"))
    assert first["resumed"] == 0 and again["resumed"] == 3
    pd.testing.assert_frame_equal(run.read("edges"), table)
    assert all(np.array_equal(load_edge_masks(run)[k], v) for k, v in masks.items())


def test_small_and_converted_images_are_used_and_reported(tmp_path, image_rows):
    # 150×120 is below the 224-pixel crop: the resize enlarges it. A greyscale image is
    # converted to RGB. Both are kept, and the report lists them with their ids.
    folder = tmp_path / "n00000001"
    folder.mkdir()
    small = folder / "n00000001_small.JPEG"
    Image.new("RGB", (150, 120), (30, 90, 200)).save(small)
    grey = folder / "n00000001_grey.JPEG"
    Image.new("L", (300, 240), 128).save(grey)
    extra = [dict(image_rows[0], image_id="n00000001_small", wnid="n00000001", path=str(small),
                  width=150, height=120, mode="RGB"),
             dict(image_rows[0], image_id="n00000001_grey", wnid="n00000001", path=str(grey),
                  width=300, height=240, mode="L")]
    rows = [dict(r, mode="RGB") for r in image_rows] + extra
    run, config = make_run(tmp_path / "run", rows)
    summary = perturb_stage(context(run, config, "perturb"))
    assert summary["failed"] == 0 and summary["done"] == len(rows)
    assert summary["smaller_than_crop"] == 1 and summary["converted_to_rgb"] == 1
    report = json.loads(run.path("perturb-report.json").read_text())
    assert report["smaller_than_crop_images"] == [
        {"image_id": "n00000001_small", "width": 150, "height": 120}]
    assert report["converted_to_rgb_images"] == [{"image_id": "n00000001_grey", "mode": "L"}]
