"""Spreading work over processes: every item is processed once, whatever the pool size."""

import os

import pytest

from localglobal.errors import ConfigError
from localglobal.pipeline.executors import parallel_map


def square_with_pid(value: int) -> tuple[int, int]:
    return value * value, os.getpid()


@pytest.mark.parametrize("workers", [1, 2])
def test_every_item_comes_back_once(workers):
    results = list(parallel_map(square_with_pid, range(20), workers=workers, description="sq"))
    assert sorted(value for value, _ in results) == [i * i for i in range(20)]


def test_a_pool_runs_in_other_processes():
    pids = {pid for _, pid in parallel_map(square_with_pid, range(8), workers=2)}
    assert os.getpid() not in pids


def test_inline_runs_in_this_process():
    pids = {pid for _, pid in parallel_map(square_with_pid, range(3), workers=1)}
    assert pids == {os.getpid()}


def fail_on_three(value: int) -> int:
    if value == 3:
        raise ValueError("three")
    return value


def test_a_failing_item_raises_in_the_caller():
    with pytest.raises(ValueError, match="three"):
        list(parallel_map(fail_on_three, range(6), workers=2))


def test_ray_executor_without_ray_says_how_to_install(monkeypatch):
    import builtins
    import sys

    monkeypatch.delitem(sys.modules, "ray", raising=False)
    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("no ray")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ConfigError, match=r"localglobal\[ray\]"):
        list(parallel_map(fail_on_three, range(2), executor="ray"))


def test_the_annotations_stage_gives_the_same_boxes_on_ray(tmp_path):
    # Ray is in the test extra; a stage spread over a local Ray instance must give the
    # process pool's table.
    ray = pytest.importorskip("ray")
    from localglobal.config import RunConfig
    from localglobal.run import prepare_run, run_stage
    from tests.imagenet_fixture import build_fixture

    os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")
    fixture = build_fixture(tmp_path / "fixture", wnids=["n01440764", "n02102040"],
                            per_class=3, splits=("train",))
    tables = {}
    for executor in ("process", "ray"):
        config = RunConfig()
        config.data.annotations = str(fixture.annotations)
        config.run.executor = executor
        run, config = prepare_run(tmp_path / executor, config=config)
        run_stage("annotations", run, config, workers=2)
        tables[executor] = run.read("boxes").sort_values(["image_id", "object_index"])
    ray.shutdown()
    assert len(tables["ray"]) > 0
    assert tables["ray"].reset_index(drop=True).equals(tables["process"].reset_index(drop=True))
