"""The stage kernel on a toy pipeline registered here: resume, failures, outputs, staleness.

The toy pipeline has three stages: ``square`` squares numbers shard by shard (some
numbers are bad input data, one can be made to fail), ``total`` sums what ``square``
wrote, and ``other`` does unrelated work. Each test runs it in its own registry, so the
real pipeline is untouched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from localglobal.config import RunConfig
from localglobal.errors import MachineError, StageError
from localglobal.io.atomic import read_json, write_json
from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.context import RunOptions, StageContext
from localglobal.pipeline.manifest import Manifest
from localglobal.pipeline.rundir import RunDir
from localglobal.pipeline.runner import Runner
from localglobal.pipeline.shards import ShardResult
from localglobal.pipeline.stage import StageRegistry, stage

N_ITEMS = 40
SHARD = 5


class Behaviour:
    """What the toy work does, set by each test: a log of every item computed."""

    computed: ClassVar[list[int]] = []
    interrupt_after: int | None = None  # raise KeyboardInterrupt after this many shards
    fail_item: int | None = None  # raise an ordinary error in this item's shard
    full_disk_item: int | None = None


def square_shard(numbers: list[int]) -> ShardResult:
    if Behaviour.interrupt_after is not None:
        if Behaviour.interrupt_after == 0:
            raise KeyboardInterrupt
        Behaviour.interrupt_after -= 1
    if Behaviour.fail_item in numbers:
        raise RuntimeError("the toy work broke")
    if Behaviour.full_disk_item in numbers:
        raise OSError(28, "No space left on device")
    Behaviour.computed.extend(numbers)
    bad = [(str(n), "multiple of 7 plus 3") for n in numbers if n % 7 == 3]
    rows = [{"n": n, "square": n * n} for n in numbers if n % 7 != 3]
    return ShardResult(pd.DataFrame(rows), bad)


def make_registry() -> StageRegistry:
    registry = StageRegistry()

    @stage("square", writes=(Artifact("squares", "squares.parquet"),),
           params=lambda c: {"seed": c.run.seed}, registry=registry)
    def square(ctx: StageContext) -> dict:
        table = ctx.map_shards(square_shard, list(range(N_ITEMS)), key={"kind": "square"},
                               shard_size=SHARD)
        ctx.run.write("squares", table)
        return {"rows": len(table)}

    @stage("total", reads=("squares",), writes=(Artifact("total", "total.json", "json"),),
           registry=registry)
    def total(ctx: StageContext) -> dict:
        squares = ctx.run.read("squares")
        write_json(ctx.run.artifact_path("total"), {"total": int(squares["square"].sum())})
        return {}

    @stage("other", writes=(Artifact("other", "other.parquet"),), registry=registry)
    def other(ctx: StageContext) -> dict:
        ctx.run.write("other", pd.DataFrame({"x": [1, 2, 3]}))
        return {}

    return registry


@pytest.fixture
def toy(tmp_path: Path):
    Behaviour.computed = []
    Behaviour.interrupt_after = None
    Behaviour.fail_item = None
    Behaviour.full_disk_item = None
    registry = make_registry()
    run = RunDir(tmp_path / "run", registry).ensure()
    return Runner(run, RunConfig(), registry)


def in_process(runner: Runner, name: str, **options) -> dict:
    """Run a stage with one worker, in this process, where Behaviour's counters live."""
    return runner.run_stage(name, RunOptions(workers=1, **options))


def statuses(runner: Runner) -> dict[str, str]:
    return {state.name: state.status for state in runner.states()}


def test_order_follows_what_each_stage_reads(toy: Runner):
    order = toy.registry.order()
    assert order.index("square") < order.index("total")
    assert toy.registry.downstream("square") == ["total"]
    assert toy.registry.catalog.producer("total") == "total"


def test_bad_items_are_counted_and_skipped_and_the_stage_is_done(toy: Runner):
    summary = in_process(toy, "square")
    bad = [n for n in range(N_ITEMS) if n % 7 == 3]
    assert summary["status"] == "done"
    assert summary["bad"] == len(bad)
    report = read_json(toy.run.path("square-report.json"))
    assert report["items"] == {"total": N_ITEMS, "done": N_ITEMS - len(bad), "resumed": 0,
                               "bad": len(bad), "failed": 0}
    assert sorted(int(b["item"]) for b in report["bad_items"]) == bad
    assert sorted(toy.run.read("squares")["n"]) == [n for n in range(N_ITEMS) if n not in bad]


def test_an_interrupted_stage_resumes_without_redoing_or_losing_work(toy: Runner,
                                                                    tmp_path: Path):
    Behaviour.interrupt_after = 3
    with pytest.raises(KeyboardInterrupt):
        in_process(toy, "square")
    assert Manifest(toy.run.root).stage("square")["status"] == "failed"
    assert statuses(toy)["square"] == "failed"
    first = list(Behaviour.computed)
    assert len(first) == 3 * SHARD

    Behaviour.interrupt_after = None
    in_process(toy, "square")
    assert sorted(Behaviour.computed) == list(range(N_ITEMS)), "nothing redone, nothing lost"

    clean = Runner(RunDir(tmp_path / "clean", toy.registry).ensure(), RunConfig(),
                   toy.registry)
    in_process(clean, "square")
    pd.testing.assert_frame_equal(toy.run.read("squares"), clean.run.read("squares"))
    report = read_json(toy.run.path("square-report.json"))
    assert report["items"]["resumed"] == 3 * SHARD


def test_half_written_files_of_a_killed_run_are_removed_when_the_stage_runs(toy: Runner):
    Behaviour.interrupt_after = 3
    with pytest.raises(KeyboardInterrupt):
        in_process(toy, "square")
    # What SIGKILL leaves between a write and its rename: a table's and a shard's.
    table = toy.run.path(".squares.parquet.k1ll3d00.tmp")
    shard_folder = next(toy.run.path(".shards", "square").iterdir())
    shard = shard_folder / ".0123456789abcdef.parquet.k1ll3d00.tmp"
    for stale in (table, shard):
        stale.write_bytes(b"half")
    Behaviour.interrupt_after = None
    in_process(toy, "square")
    assert not table.exists() and not shard.exists()
    assert statuses(toy)["square"] == "done"


def test_a_failed_shard_fails_the_stage_after_the_rest_and_is_retried(toy: Runner):
    Behaviour.fail_item = 12
    with pytest.raises(StageError, match="finished with failures"):
        in_process(toy, "square")
    assert statuses(toy)["square"] == "failed"
    table = toy.run.read("squares")
    assert 12 not in set(table["n"]) and 39 in set(table["n"]), "the rest was finished"
    with pytest.raises(StageError, match="needs square first"):
        in_process(toy, "total")

    Behaviour.fail_item = None
    Behaviour.computed = []
    in_process(toy, "square")
    assert sorted(Behaviour.computed) == [10, 11, 12, 13, 14], "only the failed shard"
    assert statuses(toy)["square"] == "done"


def test_a_full_disk_stops_the_stage_and_is_not_a_bad_item(toy: Runner):
    Behaviour.full_disk_item = 20
    with pytest.raises(MachineError, match="No space left"):
        in_process(toy, "square")
    record = Manifest(toy.run.root).stage("square")
    assert record["status"] == "failed"
    Behaviour.full_disk_item = None
    Behaviour.computed = []
    summary = in_process(toy, "square")
    assert summary["status"] == "done"
    assert 20 in Behaviour.computed and 0 not in Behaviour.computed


def test_when_every_item_fails_the_stage_fails(toy: Runner):
    registry = StageRegistry()

    @stage("broken", writes=(Artifact("nothing", "nothing.parquet"),), registry=registry)
    def broken(ctx: StageContext) -> dict:
        ctx.map_shards(square_shard, [3, 10, 17], key={})
        ctx.run.write("nothing", pd.DataFrame())
        return {}

    runner = Runner(RunDir(toy.run.root / "broken", registry).ensure(), RunConfig(), registry)
    with pytest.raises(StageError, match="every one of the 3 items failed"):
        in_process(runner, "broken")


def test_a_deleted_output_redoes_its_stage_and_downstream_only(toy: Runner):
    for name in toy.registry.order():
        in_process(toy, name)
    assert set(statuses(toy).values()) == {"done"}
    toy.run.artifact_path("squares").unlink()
    states = {s.name: s for s in toy.states()}
    assert states["square"].status == "out of date"
    assert "squares.parquet is missing" in states["square"].reason
    assert states["other"].status == "done"

    Behaviour.computed = []
    ran = toy.run_pipeline()
    assert not ran["square"].get("skipped") and not ran["total"].get("skipped")
    assert ran["other"].get("skipped")
    assert Behaviour.computed == [], "the square stage was rebuilt from its shards"
    assert set(statuses(toy).values()) == {"done"}


def test_a_changed_output_is_noticed(toy: Runner):
    in_process(toy, "square")
    in_process(toy, "total")
    path = toy.run.artifact_path("total")
    path.write_text(json.dumps({"total": -1}))
    state = toy.state("total")
    assert state.status == "out of date" and "changed" in state.reason
    in_process(toy, "total")
    assert read_json(path)["total"] > 0


def test_changed_parameters_make_a_stage_and_its_downstream_out_of_date(toy: Runner):
    for name in toy.registry.order():
        in_process(toy, name)
    changed = Runner(toy.run, RunConfig.model_validate({"run": {"seed": 7}}), toy.registry)
    states = {s.name: s for s in changed.states()}
    assert states["square"].reason == "its parameters changed"
    in_process(changed, "square")
    states = {s.name: s for s in changed.states()}
    assert states["total"].status == "out of date"
    assert "square ran again" in states["total"].reason
    assert states["other"].status == "done"


def test_force_discards_finished_shards(toy: Runner):
    in_process(toy, "square")
    Behaviour.computed = []
    in_process(toy, "square", force=True)
    assert sorted(Behaviour.computed) == list(range(N_ITEMS))


def test_a_corrupt_shard_is_recomputed(toy: Runner):
    in_process(toy, "square")
    shard = next(toy.run.path(".shards", "square").rglob("*.parquet"))
    shard.write_bytes(b"garbage")
    toy.run.artifact_path("squares").unlink()
    Behaviour.computed = []
    in_process(toy, "square")
    assert len(Behaviour.computed) == SHARD
    assert len(toy.run.read("squares")) == N_ITEMS - len([n for n in range(N_ITEMS)
                                                          if n % 7 == 3])


class Multiplier:
    """A worker with state built once (as a model would be), multiplying by a factor."""

    def __init__(self, factor: int):
        self.factor = factor

    def __call__(self, numbers: list[int]) -> pd.DataFrame:
        return pd.DataFrame({"n": numbers, "product": [n * self.factor for n in numbers]})


def make_multiplier(factor: int) -> Multiplier:
    return Multiplier(factor)


def multiply_registry() -> StageRegistry:
    registry = StageRegistry()

    @stage("multiply", writes=(Artifact("products", "products.parquet"),), registry=registry)
    def multiply(ctx: StageContext) -> dict:
        table = ctx.map_with_worker(make_multiplier, 3, list(range(23)), key={"factor": 3},
                                    shard_size=4)
        ctx.run.write("products", table)
        return {}

    return registry


def run_multiply(root: Path, executor: str) -> pd.DataFrame:
    registry = multiply_registry()
    # The kernel takes its executor settings as plain values, not from a configuration.
    runner = Runner(RunDir(root, registry).ensure(), RunConfig(), registry)
    runner.run_stage("multiply", RunOptions(executor=executor, workers=2))
    report = read_json(runner.run.path("multiply-report.json"))
    assert report["executor"] == executor
    return runner.run.read("products")


def test_a_stateful_worker_gives_the_same_table_in_process_and_on_ray(tmp_path: Path):
    ray = pytest.importorskip("ray", reason="Ray is in the test extra: pip install -e '.[test]'")
    # Ray's workers cannot import this test module: send its functions by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    local = run_multiply(tmp_path / "local", "process")
    assert list(local["product"]) == [3 * n for n in range(23)]
    on_ray = run_multiply(tmp_path / "ray", "ray")
    pd.testing.assert_frame_equal(local, on_ray)
