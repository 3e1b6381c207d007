"""``probes.materialize = false``: no scramble or patch PNGs, the same predictions and sheets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from localglobal.attribution.outputs import load_relevance
from localglobal.attribution.stage_inputs import attribution_items, load_batch
from localglobal.io.images import read_png
from localglobal.labels import get_label_space
from localglobal.probes.plan import is_built
from localglobal.report.contact_sheet import contact_sheet_of
from localglobal.run import run_stage
from tests.stages._probe_run import build_images, make_run

CROP = 56
PROBES = {"scramble": {"blocks": [14, 28], "variants": 2}, "patch": {"sizes": [20]},
          "smooth": {"iterations": 1}}
# "full" takes the input frame as it is (probes built batch by batch on its device),
# "small" another size (built before the image is fitted).
MODELS = {"full": {"arch": "torchvision:mobilenet_v3_small", "weights": "random", "crop": CROP,
                   "resize": CROP},
          "small": {"arch": "torchvision:mobilenet_v3_small", "weights": "random", "crop": 32,
                    "resize": 32}}


@pytest.fixture(autouse=True)
def _cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALGLOBAL_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> list[dict]:
    rows = build_images(tmp_path_factory.mktemp("images"), n=2)
    wnids = get_label_space("imagenette").wnids
    return [dict(row, wnid=wnids[k]) for k, row in enumerate(rows)]


def _run(root, rows, materialize: bool, probes: dict | None = None):
    probes = dict(probes or PROBES, materialize=materialize)
    run, config = make_run(root, rows, probes, models=MODELS,
                           data={"label_space": "imagenette"},
                           evaluate={"models": list(MODELS), "batch_size": 8,
                                     "device": "cpu", "loader_workers": 0},
                           attribute={"models": ["full"], "composite": "auto",
                                      "probes": ["original", "scramble", "patch"],
                                      "controls": [], "batch_size": 8, "device": "cpu"},
                           run={"shard_size": 8, "workers": 1},
                           frame={"resize": 64, "crop": CROP})
    run_stage("perturb", run, config, workers=1)
    return run, config


@pytest.fixture(scope="module")
def runs(tmp_path_factory, rows):
    return {m: _run(tmp_path_factory.mktemp(f"m{m}"), rows, m) for m in (True, False)}


def _bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_every_row_is_kept_and_built_rows_name_their_original(runs):
    stored, built = (runs[m][0].read("perturbations") for m in (True, False))
    pd.testing.assert_frame_equal(stored.drop(columns="path"), built.drop(columns="path"))
    flags = [is_built(p, q) for p, q in zip(built["probe"], built["path"], strict=True)]
    assert list(np.array(flags)) == list(built["probe"].isin(["scramble", "patch"]))
    assert not any(is_built(p, q) for p, q in zip(stored["probe"], stored["path"], strict=True))
    for path in set(built["path"]):
        assert runs[False][0].path(path).is_file()
    assert not runs[False][0].path("perturbations", "scramble").exists()


def test_predictions_equal_the_stored_png_run(runs):
    tables = {}
    for materialize, (run, config) in runs.items():
        run_stage("evaluate", run, config, workers=1)
        tables[materialize] = run.read("predictions")
    stored, built = tables[True], tables[False]
    assert len(stored) == 2 * len(runs[True][0].read("perturbations"))
    assert list(stored["item_id"]) == list(built["item_id"])
    assert list(stored["pred_index"]) == list(built["pred_index"])
    np.testing.assert_allclose(stored["pred_logit"], built["pred_logit"], atol=1e-5)
    np.testing.assert_allclose(stored["true_logit"], built["true_logit"], atol=1e-5)


def test_attribution_items_are_built_to_the_stored_pixels(runs, rows):
    images = {}
    for materialize, (run, _) in runs.items():
        items = attribution_items(run.read("samples"), run.read("perturbations"),
                                  ["original", "scramble", "patch"], run.root)
        good, stacked, bad = load_batch(items.to_dict("records"), (CROP, 64, "bilinear"))
        assert not bad and len(good) == len(items)
        images[materialize] = stacked
    assert np.array_equal(images[True], images[False])


def test_attribute_builds_on_its_device_the_maps_of_the_stored_png_run(runs):
    tables, maps = {}, {}
    for materialize, (run, config) in runs.items():
        run_stage("edges", run, config, workers=1)
        summary = run_stage("attribute", run, config, workers=1)
        assert summary["status"] == "done"
        tables[materialize] = run.read("attributions")
        maps[materialize] = load_relevance(run.root, "full")
    stored, built = tables[True], tables[False]
    assert set(stored["probe"]) == {"original", "scramble", "patch"}
    pd.testing.assert_frame_equal(stored.drop(columns="path", errors="ignore"),
                                  built.drop(columns="path", errors="ignore"),
                                  check_exact=False, atol=1e-5)
    pd.testing.assert_frame_equal(maps[True][1], maps[False][1])
    assert np.array_equal(maps[True][0], maps[False][0])
    # The heat maps draw the probe itself, not the original it was built from.
    folders = [runs[m][0].path("heatmaps", "full") for m in (True, False)]
    names = sorted(p.name for p in folders[0].iterdir())
    assert any("scramble" in n for n in names) and names == sorted(
        p.name for p in folders[1].iterdir())
    for name in names:
        assert np.array_equal(read_png(folders[0] / name), read_png(folders[1] / name))


def test_show_draws_the_same_sheet(runs, rows):
    image_id = rows[0]["image_id"]
    assert np.array_equal(contact_sheet_of(runs[True][0], image_id),
                          contact_sheet_of(runs[False][0], image_id))


def test_the_thesis_like_levels_store_under_a_tenth_of_the_bytes(tmp_path, rows):
    probes = {"probes": ["scramble", "patch"], "scramble": {"blocks": [7, 8, 14, 28]},
              "patch": {"sizes": [5, 10, 20, 30, 40, 50]}}
    sizes = {m: _bytes(_run(tmp_path / str(m), rows[:1], m, probes)[0].path("perturbations"))
             for m in (True, False)}
    assert 0 < sizes[False] < sizes[True] / 10

