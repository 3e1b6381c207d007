"""The public API: its doctests, one return convention, and attribution of any architecture."""

from __future__ import annotations

import doctest
import importlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import localglobal
from localglobal import api
from localglobal.errors import MissingInputError


def test_the_doctests_run():
    # Every function the API gathers is documented (with its examples) where it is
    # defined: run the examples of the API module and of each of those modules.
    modules = {api, *(importlib.import_module(getattr(api, name).__module__)
                      for name in api.__all__)}
    results = [doctest.testmod(module, optionflags=doctest.ELLIPSIS) for module in modules]
    assert sum(r.attempted for r in results) > 30 and sum(r.failed for r in results) == 0


def test_importing_the_package_does_not_import_torch():
    code = "import sys, localglobal; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_the_api_is_reachable_from_the_package():
    for name in api.__all__:
        assert getattr(localglobal, name) is getattr(api, name)
    with pytest.raises(AttributeError):
        localglobal.no_such_name  # noqa: B018


def test_a_probe_names_the_helper_that_brings_an_image_into_the_frame():
    photo = np.zeros((256, 256, 3), np.uint8)
    with pytest.raises(ValueError, match=r"localglobal\.to_input_frame\(image, resize=256"):
        api.scramble(photo, block=56, seed=1)
    with pytest.raises(ValueError, match="to_input_frame"):
        api.patch(np.zeros((20, 20, 3), np.uint8), size=40)
    scrambled, _ = api.scramble(api.to_input_frame(photo), block=56, seed=1)
    assert scrambled.shape == (224, 224, 3)


def test_every_probe_returns_an_image_and_a_record():
    image = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for function, args in [(api.scramble, (16, 4)), (api.patch, (8,)), (api.smooth, (2,)),
                           (api.removed_detail, ()), (api.edges, ())]:
        out, record = function(image, *args)
        assert isinstance(out, np.ndarray) and out.shape[:2] == image.shape[:2]
        assert record is not None and not isinstance(record, list)


def test_smooth_returns_the_kth_pass():
    image = np.random.default_rng(4).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    once, _ = api.smooth(image, 1)
    twice, record = api.smooth(image, 2)
    again, _ = api.smooth(once, 1)
    assert record.iterations == 2 and np.array_equal(twice, again)


def test_the_batched_scramble_matches_the_array_scramble():
    image = np.random.default_rng(5).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out, record = api.scramble(image, 8, seed=2)
    batch = torch.from_numpy(image).permute(2, 0, 1)[None]
    batched = api.scramble_batch(batch, [8], [record.permutation])
    assert np.array_equal(batched[0].permute(1, 2, 0).numpy(), out)


def test_a_run_reads_tables_by_catalog_name(tmp_path):
    (tmp_path / "config.toml").write_text("")
    pd.DataFrame({"model": ["m"], "n": [3]}).to_parquet(tmp_path / "shape_bias.parquet")
    run = api.load_run(tmp_path)
    assert run.artifacts == ["shape_bias"] and run.shape_bias["n"].tolist() == [3]
    assert "predictions" in dir(run) and "scramble" in run.figures
    with pytest.raises(api.MissingInputError, match="localglobal evaluate"):
        run.predictions  # noqa: B018
    with pytest.raises(AttributeError):
        run.not_an_artifact  # noqa: B018


def test_a_run_draws_the_shape_bias_per_category(tmp_path):
    (tmp_path / "config.toml").write_text("")
    pd.DataFrame({"model": ["m", "m", "humans", "humans"], "kind": ["model", "model", "human",
                                                                   "human"],
                  "dataset": "cue-conflict", "category": ["cat", "dog"] * 2,
                  "shape_bias": [0.2, 0.4, 0.9, 1.0]}).to_parquet(
        tmp_path / "shape_bias_by_category.parquet")
    figure = api.load_run(tmp_path).figure("shape-bias-categories")
    (axes,) = figure.axes
    assert [t.get_text() for t in axes.get_yticklabels()] == ["cat", "dog"]


def test_the_package_names_what_the_api_exports():
    assert set(localglobal._API) == set(api.__all__)
    assert localglobal.guess_canonizer is api.guess_canonizer
    assert localglobal.MissingInputError is MissingInputError  # the one error for it


def test_an_image_is_brought_into_the_input_frame_as_the_pipeline_does(tmp_path):
    from localglobal.io.images import load_input_frame, write_png

    image = np.random.default_rng(7).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    write_png(tmp_path / "x.png", image)
    frame = localglobal.to_input_frame(image)
    assert frame.shape == (224, 224, 3) and frame.dtype == np.uint8
    assert np.array_equal(frame, load_input_frame(tmp_path / "x.png"))
    assert localglobal.to_input_frame(image, resize=64, crop=32).shape == (32, 32, 3)


def test_the_api_page_documents_what_the_package_has():
    page = (Path(__file__).parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    for name in re.findall(r"`lg\.(\w+)", page):
        assert hasattr(localglobal, name), f"docs/api.md names lg.{name}"
    block = r"::: ([\w.]+)\n(?:.*\n)*?      members:\n((?:        - .*\n)+)"
    for module, members in re.findall(block, page):
        found = importlib.import_module(module)
        for member in re.findall(r"- (\w+)", members):
            assert hasattr(found, member), f"docs/api.md: {module}.{member}"
    documented = set(re.findall(r"        - (\w+)", page))
    aliases = {"probe": "apply_probe", "edges": "auto_canny"}
    assert {aliases.get(n, n) for n in api.__all__} <= documented
