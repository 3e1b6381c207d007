"""The CPU stages' tables do not depend on the number of workers nor on the executor."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from localglobal.config import RunConfig
from localglobal.probes.edge_masks import unpack_masks
from localglobal.run import prepare_run, run_stage
from tests.imagenet_fixture import build_fixture

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

WNIDS = ["n01440764", "n02102040"]
STAGES = ("annotations", "index", "edges", "perturb")
TABLES = ("samples", "edges", "perturbations")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("images"), wnids=WNIDS, per_class=2)


def _run(root, info, workers: int, executor: str = "process"):
    config = RunConfig()
    config.data.annotations = str(info.annotations)
    config.data.images = str(info.images)
    config.index.per_class = 2
    config.probes.probes = ["scramble", "patch", "smooth"]
    config.probes.set_section("scramble", blocks=[56, 112])
    config.probes.set_section("patch", sizes=[70])
    config.probes.set_section("smooth", iterations=1)
    config.run.executor = executor
    config.run.shard_size = 1
    run, config = prepare_run(root, config=config)
    for name in STAGES:
        run_stage(name, run, config, workers=workers)
    return run


def _tables(run) -> dict[str, pd.DataFrame]:
    tables = {}
    for name in TABLES:
        table = run.read(name)
        tables[name] = table.sort_values(table.columns[0], kind="stable").reset_index(drop=True)
    return tables


def _masks(run) -> dict[str, np.ndarray]:
    ids = list(run.read("samples")["image_id"].astype(str))
    with run.read("edge_masks") as archive:
        return unpack_masks(archive, ids)


def _same(a, b) -> None:
    left, right = _tables(a), _tables(b)
    for name in TABLES:
        frame_a, frame_b = left[name], right[name]
        for column in ("path",):  # absolute paths name the run's own folder
            if column in frame_a and name != "samples":
                frame_a, frame_b = frame_a.drop(columns=column), frame_b.drop(columns=column)
        pd.testing.assert_frame_equal(frame_a, frame_b, check_exact=True)
    masks_a, masks_b = _masks(a), _masks(b)
    assert masks_a.keys() == masks_b.keys()
    for key in masks_a:
        assert np.array_equal(masks_a[key], masks_b[key]), key


@pytest.mark.slow
def test_one_and_two_workers_give_identical_tables_and_masks(tmp_path, dataset):
    _same(_run(tmp_path / "one", dataset, 1), _run(tmp_path / "two", dataset, 2))


@pytest.mark.slow
def test_ray_gives_the_tables_of_the_process_pool(tmp_path, dataset):
    pytest.importorskip("ray", reason="Ray is in the test extra: pip install -e '.[test]'")
    _same(_run(tmp_path / "pool", dataset, 2), _run(tmp_path / "ray", dataset, 2, "ray"))
