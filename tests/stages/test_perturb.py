"""The perturb stage on a handful of generated JPEGs, through ``run_stage``."""

import errno
import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from localglobal.errors import ConfigError, MachineError, StageError
from localglobal.io.images import read_png, to_input_frame
from localglobal.pipeline.manifest import Manifest
from localglobal.probes.scramble import unscramble
from localglobal.probes.smoothers import l0_smooth
from localglobal.run import run_pipeline, run_stage
from localglobal.stages import REGISTRY
from tests.stages._probe_run import (
    ITEMS_PER_IMAGE,
    TINY_PROBES,
    build_images,
    generate,
    make_run,
    stage_report,
)

CONTRACT = ["item_id", "image_id", "wnid", "probe", "level", "variant", "params", "path"]


@pytest.fixture(scope="module")
def image_rows(tmp_path_factory) -> list[dict]:
    return build_images(tmp_path_factory.mktemp("images"), n=3)


@pytest.fixture(scope="module")
def generated_run(tmp_path_factory, image_rows):
    """A run where perturb and edges have run on three images."""
    return generate(tmp_path_factory.mktemp("run"), image_rows)


def file_digests(run):
    folder = run.path("perturbations")
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.png"))}


def test_the_table_follows_the_contract(generated_run, image_rows):
    run, _, summary, _ = generated_run
    table = run.read("perturbations")
    assert list(table.columns[:len(CONTRACT)]) == CONTRACT
    assert summary["failed"] == 0 and summary["bad"] == 0
    assert summary["images"] == len(image_rows) and summary["probe_images"] == len(table)
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
    assert summary["by_probe"] == counts
    scramble = table[table["probe"] == "scramble"]
    assert set(scramble["variant"]) == {"0", "1", "2"} and set(scramble["level"]) == {56, 112}
    assert set(table.loc[table["probe"] == "patch", "variant"]) == {"0", "1", "2", "3", "all"}
    assert set(table.loc[table["probe"] == "smooth", "level"]) == {1, 2}
    params = {p: json.loads(table.loc[table["probe"] == p, "params"].iloc[0])
              for p in ("original", "scramble", "patch", "smooth")}
    assert params["original"] == {}
    assert {"block", "permutation", "fixed_blocks"} <= set(params["scramble"])
    assert set(params["patch"]) == {"size", "fill", "rects"}
    assert params["smooth"]["operator"] == "l0" and params["smooth"]["iterations"] == 1


def test_the_report_has_the_common_keys_and_the_plan(generated_run, image_rows):
    run, _, _, _ = generated_run
    report = stage_report(run, "perturb")
    assert report["status"] == "done"
    assert report["items"] == {"total": 3, "done": 3, "resumed": 0, "bad": 0, "failed": 0}
    assert report["details"]["plan"]["probes"]["scramble"]["blocks"] == [56, 112]
    assert Manifest(run.root).stage("perturb")["status"] == "done"


def test_the_stored_images_are_what_the_params_say(generated_run, image_rows):
    run, _, _, _ = generated_run
    table = run.read("perturbations")
    sample = image_rows[0]
    rows = table[table["image_id"] == sample["image_id"]].set_index("item_id")

    def key(probe, level, variant):
        return f"{sample['image_id']}/{probe}/{level}/{variant}"

    def image(probe, level, variant):
        return read_png(run.path(rows.loc[key(probe, level, variant), "path"]))

    def params(probe, level, variant):
        return json.loads(rows.loc[key(probe, level, variant), "params"])

    source = np.asarray(Image.open(sample["path"]).convert("RGB"))
    original = image("original", 0, "0")
    assert np.array_equal(original, to_input_frame(source))
    for block in (56, 112):
        for variant in "012":
            recorded = params("scramble", block, variant)
            restored = unscramble(image("scramble", block, variant), recorded["permutation"],
                                  block)
            assert np.array_equal(restored, original)
            fixed = sum(k == p for k, p in enumerate(recorded["permutation"]))
            assert recorded["fixed_blocks"] == fixed
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
    run_stage("perturb", run_a, config, workers=1)
    # OpenCV's own threads running in this process must not hang the forked workers.
    cv2.GaussianBlur(np.zeros((1000, 1000, 3), np.uint8), (31, 31), 5)
    run_stage("perturb", run_b, config, workers=2)
    assert file_digests(run_a) == file_digests(run_b)
    pd.testing.assert_frame_equal(run_a.read("perturbations"), run_b.read("perturbations"))
    # A forced rerun rewrites the very same bytes.
    before = file_digests(run_a)
    run_stage("perturb", run_a, config, workers=1, force=True)
    assert file_digests(run_a) == before


def test_scrambles_of_an_image_do_not_depend_on_the_other_images(tmp_path, image_rows):
    alone, config = make_run(tmp_path / "alone", image_rows[1:2])
    run_stage("perturb", alone, config, workers=1)
    together, _ = make_run(tmp_path / "together", image_rows)
    run_stage("perturb", together, config, workers=1)
    run_table = together.read("perturbations")
    mine = run_table[run_table["image_id"] == image_rows[1]["image_id"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.read("perturbations"), mine)


def test_the_stage_resumes_per_image(tmp_path, image_rows, monkeypatch):
    from localglobal.probes import materialize

    run, config = make_run(tmp_path / "run", image_rows)
    run_stage("perturb", run, config, workers=1)
    before = run.read("perturbations")

    processed = []
    real = materialize.render_sample

    def counting(plan, source, run_root):
        processed.append(source.image_id)
        return real(plan, source, run_root)

    monkeypatch.setattr(materialize, "render_sample", counting)
    assert run_stage("perturb", run, config, workers=1)["skipped"] is True
    assert processed == []

    # An interruption: the table was never written and one image's shard was lost.
    run.artifact_path("perturbations").unlink()
    shards = sorted(run.path(".shards", "perturb").rglob("*.parquet"))
    assert len(shards) == len(image_rows)
    lost = next(p for p in shards
                if image_rows[2]["image_id"] in set(pd.read_parquet(p)["image_id"]))
    lost.unlink()
    run_stage("perturb", run, config, workers=1)
    assert processed == [image_rows[2]["image_id"]]
    assert stage_report(run, "perturb")["items"]["resumed"] == 2
    pd.testing.assert_frame_equal(run.read("perturbations"), before)


def test_a_replaced_source_image_is_made_again(tmp_path, image_rows):
    import os
    import shutil

    folder = tmp_path / "images"
    rows = []
    for row in image_rows[:2]:
        copy = folder / os.path.basename(row["path"])
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(row["path"], copy)
        rows.append(dict(row, path=str(copy)))
    run, config = make_run(tmp_path / "run", rows)
    run_stage("perturb", run, config, workers=1)
    first = read_png(run.path(f"perturbations/original/{rows[0]['wnid']}/"
                              f"{rows[0]['image_id']}_0_0.png"))
    Image.fromarray(np.full((240, 300, 3), 90, np.uint8)).save(rows[0]["path"], format="JPEG")
    run.artifact_path("perturbations").unlink()
    run_stage("perturb", run, config, workers=1)
    assert stage_report(run, "perturb")["items"]["resumed"] == 1
    again = read_png(run.path(f"perturbations/original/{rows[0]['wnid']}/"
                              f"{rows[0]['image_id']}_0_0.png"))
    assert not np.array_equal(first, again)


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
    summary = run_stage("perturb", run, config, workers=1)
    assert summary["bad"] == 3 and summary["failed"] == 0 and summary["status"] == "done"
    report = stage_report(run, "perturb")
    assert report["items"]["done"] == len(image_rows)
    reasons = {b["item"]: b["reason"] for b in report["bad_items"]}
    assert set(reasons) == {p.stem for p in (broken, tiny, missing)}
    assert "not a decodable image" in reasons["n00000009_broken"]
    assert "too small" in reasons["n00000009_tiny"]
    assert "no such image file" in reasons["n00000009_gone"]
    table = run.read("perturbations")
    assert set(table["image_id"]) == {r["image_id"] for r in image_rows}


def test_a_full_disk_stops_the_stage_and_blames_no_image(tmp_path, image_rows, monkeypatch):
    from localglobal.probes import materialize

    def full_disk(path, image):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(materialize, "write_png", full_disk)
    run, config = make_run(tmp_path / "run", image_rows)
    with pytest.raises(MachineError, match="No space left"):
        run_stage("perturb", run, config, workers=1)
    record = Manifest(run.root).stage("perturb")
    assert record["status"] == "failed"
    assert not run.artifact_path("perturbations").exists()
    assert not list(run.path(".shards").rglob("*.parquet"))


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
    summary = run_stage("perturb", run, config, workers=1, trusted=True)
    wide = image_rows[0]  # 300 pixels wide; the others are narrower
    assert summary["bad"] == 1 and summary["status"] == "done"
    report = stage_report(run, "perturb")
    assert report["items"]["done"] == len(image_rows) - 1
    assert report["bad_items"][0]["item"] == wide["image_id"]
    assert "wider than 290" in report["bad_items"][0]["reason"]
    assert wide["image_id"] not in set(run.read("perturbations")["image_id"])

    # When every image fails the stage stops with an error, after writing its report.
    only_wide, config = make_run(tmp_path / "wide", [wide], probes)
    with pytest.raises(StageError, match="every one of the 1 items failed"):
        run_stage("perturb", only_wide, config, workers=1, trusted=True)
    assert stage_report(only_wide, "perturb")["items"]["bad"] == 1


def test_parameters_are_checked_before_any_image(tmp_path, image_rows):
    probes = dict(TINY_PROBES, scramble={"blocks": [30]})
    run, config = make_run(tmp_path / "run", image_rows, probes)
    with pytest.raises(ConfigError, match="30 does not divide the image side 224"):
        run_stage("perturb", run, config, workers=1)
    assert not run.path("perturbations").exists()
    # The pipeline refuses it before its first stage.
    with pytest.raises(ConfigError, match=r"probes\.scramble\.blocks"):
        run_pipeline(run, config, stages=("edges", "perturb"))
    assert Manifest(run.root).stage("edges") == {}


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
    with pytest.raises(ConfigError, match=r"returned shape \(1, 3, 44, 66\)"):
        REGISTRY["perturb"].check(config)
    with pytest.raises(ConfigError, match=r"returned shape \(1, 3, 44, 66\)"):
        run_pipeline(run, config, stages=("edges", "perturb"), trusted=True)
    assert not run.path("perturbations").exists()
    assert Manifest(run.root).stage("edges") == {}


def test_derangements_move_every_block(tmp_path, image_rows):
    probes = dict(TINY_PROBES, scramble={"blocks": [56, 112], "derangement": True})
    run, config = make_run(tmp_path / "run", image_rows[:1], probes)
    run_stage("perturb", run, config, workers=1)
    table = run.read("perturbations")
    for text in table.loc[table["probe"] == "scramble", "params"]:
        params = json.loads(text)
        assert params["fixed_blocks"] == 0
        assert all(k != p for k, p in enumerate(params["permutation"]))


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
    summary = run_stage("perturb", run, config, workers=1)
    assert summary["bad"] == 0 and summary["failed"] == 0
    assert summary["smaller_than_crop"] == 1 and summary["converted_to_rgb"] == 1
    details = stage_report(run, "perturb")["details"]
    assert details["smaller_than_crop_images"] == [
        {"image_id": "n00000001_small", "width": 150, "height": 120}]
    assert details["converted_to_rgb_images"] == [{"image_id": "n00000001_grey", "mode": "L"}]
    assert set(run.read("perturbations")["image_id"]) == {r["image_id"] for r in rows}
