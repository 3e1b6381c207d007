"""What a stage's body gets: the run, its configuration, and the shared machinery.

:meth:`StageContext.map_shards` cuts the work into shards, skips the finished ones,
runs the rest on the process pool or Ray, stores each atomically and counts bad and
failed items; :meth:`StageContext.for_each_model` runs a body per model and reports a
model that fails while the others go on; :meth:`StageContext.finish` (called by the
runner) writes the stage report with the same keys for every stage and applies the
all-failed rule.
"""

from __future__ import annotations

import functools
import os
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd

from localglobal.console import log
from localglobal.errors import (
    LocalglobalError,
    MachineError,
    StageError,
    as_machine_error,
    is_machine_error,
)
from localglobal.io.atomic import write_json
from localglobal.pipeline.executors import actor_map, parallel_map, ray_init
from localglobal.pipeline.fingerprint import params_hash
from localglobal.pipeline.rundir import RunDir
from localglobal.pipeline.shards import ShardResult, ShardStore
from localglobal.pipeline.stage import Stage

T = TypeVar("T")
Work = Callable[[list[Any]], ShardResult | pd.DataFrame | tuple[pd.DataFrame, list]]

SHOWN_PROBLEMS = 10
"""Bad or failed items printed to the console; the report lists every one."""


DEFAULT_SHARD_SIZE = 64
"""Items per shard when neither the stage nor the options say."""


@dataclass
class RunOptions:
    """How stages run: settings that do not change what a stage computes.

    Attributes
    ----------
    force : bool
        Redo the stage from scratch, discarding its finished shards.
    device : str, optional
        ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` for the model stages.
    workers : int, optional
        Processes for the CPU stages, Ray actors for the model stages (None: one
        process per core, one actor).
    extra : dict
        Stage-specific options given on the command line.
    trusted : bool
        Whether Python code the configuration names (a model's ``module``) may run:
        the configuration came from the user on this command line.
    executor : str
        ``process`` (the process pool) or ``ray``.
    ray_address : str, optional
        The Ray cluster to join (None: start a local one).
    shard_size : int
        Items per shard (the unit of resume) where a stage does not choose.
    """

    force: bool = False
    device: str | None = None
    workers: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    trusted: bool = False
    executor: str = "process"
    ray_address: str | None = None
    shard_size: int = DEFAULT_SHARD_SIZE


@dataclass
class StageReport:
    """The running account of a stage: items done, bad, failed; models that failed."""

    items: int = 0
    done: int = 0
    resumed: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    failed_models: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": {"total": self.items, "done": self.done, "resumed": self.resumed,
                      "bad": len(self.bad), "failed": len(self.failed)},
            "bad_items": [{"item": i, "reason": r} for i, r in self.bad],
            "failed_items": [{"item": i, "reason": r} for i, r in self.failed],
            "models": {"total": len(self.models),
                       "failed": [{"model": m, "reason": r} for m, r in self.failed_models]},
        }


def _run_shard(work: Work, items: list[Any]) -> tuple[str, Any]:
    """Run one shard in a worker; exceptions come back as values, never as tracebacks."""
    try:
        result = work(items)
    except Exception as error:
        if is_machine_error(error):
            if isinstance(error, OSError):
                error = as_machine_error(error)
            return "machine", str(error)
        if isinstance(error, LocalglobalError):
            return "failed", str(error)
        return "failed", f"{type(error).__name__}: {error}"
    if isinstance(result, pd.DataFrame):
        result = ShardResult(result)
    elif isinstance(result, tuple):  # a domain function's (table, bad items)
        result = ShardResult(*result)
    return "ok", result


class StageContext:
    """The run, the configuration and the machinery every stage body uses.

    Parameters
    ----------
    run : RunDir
        The run directory.
    config : object
        The run's configuration, as the stage's functions take it.
    stage : Stage
        The declaration of the stage being run.
    stage_hash : str
        The stage's hash (parameters, version and upstream runs).
    options : RunOptions
        This command's options.
    upstream_runs : dict, optional
        The run id of every stage this one reads, as the manifest records them: work
        keyed by them is redone when an upstream stage runs again.
    """

    def __init__(self, run: RunDir, config: Any, stage: Stage, stage_hash: str,
                 options: RunOptions | None = None,
                 upstream_runs: dict[str, str | None] | None = None):
        self.run = run
        self.config = config
        self.stage = stage
        self.stage_hash = stage_hash
        self.options = options or RunOptions()
        self.upstream_runs = dict(upstream_runs or {})
        self.report = StageReport()
        self.details: dict[str, Any] = {}
        """Stage-specific content of the stage report (files skipped and why, …)."""
        self.started = time.perf_counter()
        self._cleared: set[str] = set()

    # ------------------------------------------------------------------ settings

    @property
    def n_workers(self) -> int:
        """Process-pool size: the options', else one per core."""
        return self.options.workers or (os.cpu_count() or 1)

    @property
    def executor(self) -> str:
        """``process`` or ``ray``, from the options (Ray joined on first use)."""
        if self.options.executor == "ray":
            ray_init(self.options.ray_address)
        return self.options.executor

    @property
    def device(self) -> str | None:
        """The device given on the command line, if any."""
        return self.options.device

    def log(self, message: str, *, style: str | None = None) -> None:
        """Print one line to the console."""
        log(message, style=style)

    # ------------------------------------------------------------------ shards

    def shards(self, **key: Any) -> ShardStore:
        """The shard store under a key from the stage, its version and ``key``.

        Pass every parameter that changes a shard's content; shards made under other
        parameters are kept apart and never mixed in.
        """
        digest = params_hash({"stage": self.stage.name, "version": self.stage.version,
                              "key": key})[:16]
        store = ShardStore(self.run.shard_dir(self.stage.name, digest))
        if self.options.force and digest not in self._cleared:
            store.clear()
            self._cleared.add(digest)
        return store

    def map_shards(self, work: Callable[..., ShardResult | pd.DataFrame],
                   items: Sequence[T], *, key: dict[str, Any],
                   item_id: Callable[[T], str] = str, params: Any = None,
                   shard_size: int | None = None,
                   description: str | None = None) -> pd.DataFrame:
        """Do ``work`` on every item, shard by shard, resuming finished shards.

        Parameters
        ----------
        work : callable
            ``work(items)`` (or ``work(params, items)`` when ``params`` is given)
            returning a :class:`ShardResult`, a data frame, or a ``(table, bad)``
            pair for one shard. It must be a top-level function (it may run in
            another process). Bad input items go into
            ``ShardResult.bad``; an exception fails the shard's items (retried by the
            next run) and a failure of the machine (full disk) stops the stage.
        items : sequence
            The work items (picklable).
        key : dict
            Everything besides the items that changes a shard's content.
        item_id : callable
            A stable identity of an item; a shard's name is the hash of its items'.
        params : object, optional
            Passed to ``work`` first (picklable).
        shard_size : int, optional
            Items per shard; default ``run.shard_size``.
        description : str, optional
            The progress bar's label; default the stage's name.

        Returns
        -------
        pandas.DataFrame
            Every finished shard's rows, in the order of ``items``.
        """
        function = work if params is None else functools.partial(work, params)
        store, chunks, ids, names, results, todo = self._plan_shards(items, key, item_id,
                                                                     shard_size)
        self._run_todo(function, chunks, ids, names, todo, store, results, description)
        return self._gather(chunks, names, results)

    def _plan_shards(self, items: Sequence[T], key: dict[str, Any],
                     item_id: Callable[[T], str], shard_size: int | None) -> tuple[
            ShardStore, list[list[Any]], list[list[str]], list[str],
            dict[str, ShardResult], list[int]]:
        """Cut ``items`` into shards, load the finished ones, and list those still to do."""
        size = shard_size or self.options.shard_size
        store = self.shards(**key)
        chunks = [list(items[i:i + size]) for i in range(0, len(items), size)]
        ids = [[item_id(x) for x in chunk] for chunk in chunks]
        names = [params_hash(chunk_ids)[:16] for chunk_ids in ids]
        results: dict[str, ShardResult] = {}
        todo: list[int] = []
        for index, name in enumerate(names):
            loaded = store.load(name)
            if loaded is None:
                todo.append(index)
            else:
                results[name] = loaded
                self.report.resumed += len(chunks[index])
        self.report.items += len(items)
        if results:
            self.log(f"{self.stage.name}: resuming, {len(results)} of {len(chunks)} shards "
                     "already done", style="dim")
        return store, chunks, ids, names, results, todo

    def _run_todo(self, function: Work, chunks: list[list[Any]], ids: list[list[str]],
                  names: list[str], todo: list[int], store: ShardStore,
                  results: dict[str, ShardResult], description: str | None) -> None:
        if not todo:
            return
        tasks = [(index, (function, chunks[index])) for index in todo]
        outcomes = parallel_map(_shard_task_indexed, tasks,
                                workers=min(self.n_workers, len(tasks)),
                                executor=self.executor,
                                description=description or self.stage.name, unit="shards")
        self._collect(outcomes, ids, names, store, results)

    def map_with_worker(self, make_worker: Callable[[Any], Work], worker_args: Any,
                        items: Sequence[T], *, key: dict[str, Any],
                        item_id: Callable[[T], str] = str, shard_size: int | None = None,
                        description: str | None = None) -> pd.DataFrame:
        """Like :meth:`map_shards`, for work that needs costly state (a loaded model).

        ``make_worker(worker_args)`` builds the worker once — in this process, or, with
        ``executor = "ray"``, once in each Ray actor (one per GPU) — and the worker then
        runs shard after shard. Resume, shard keys, failure accounting and the returned
        table are those of :meth:`map_shards`, whichever executor runs it.

        Parameters
        ----------
        make_worker : callable
            A top-level function ``make_worker(worker_args) -> work`` where
            ``work(items) -> ShardResult | DataFrame``; a worker with a ``close()``
            method is closed once its shards are done. An error while building the
            worker (a model that does not load) propagates, so that
            :meth:`for_each_model` reports the model.
        worker_args : object
            Picklable arguments of ``make_worker``.
        items, key, item_id, shard_size, description
            As in :meth:`map_shards`.
        """
        store, chunks, ids, names, results, todo = self._plan_shards(items, key, item_id,
                                                                     shard_size)
        if todo:
            label = description or self.stage.name
            if self.executor == "ray":
                outcomes = actor_map(_guarded_worker, (make_worker, worker_args),
                                     [chunks[i] for i in todo], description=label,
                                     actors=self.options.workers or 1)
                outcomes = ((todo[position], value) for position, value in outcomes)
                self._collect(outcomes, ids, names, store, results)
            else:
                worker = make_worker(worker_args)
                try:
                    outcomes = parallel_map(_shard_task_indexed,
                                            [(i, (worker, chunks[i])) for i in todo],
                                            workers=1, description=label, unit="shards")
                    self._collect(outcomes, ids, names, store, results)
                finally:
                    close = getattr(worker, "close", None)
                    if close is not None:  # a worker that holds files or threads
                        close()
        return self._gather(chunks, names, results)

    def _collect(self, outcomes: Iterable[tuple[int, tuple[str, Any]]], ids: list[list[str]],
                 names: list[str], store: ShardStore, results: dict[str, ShardResult]) -> None:
        for index, (status, value) in outcomes:
            if status == "machine":
                where = "" if str(self.run.root) in value else f" (in {self.run.root})"
                raise MachineError(f"{self.stage.name} stopped: {value}{where}")
            if status == "failed":
                self.report.failed.extend((item, value) for item in ids[index])
                continue
            store.put(names[index], value)
            results[names[index]] = value

    def _gather(self, chunks: list[list[Any]], names: list[str],
                results: dict[str, ShardResult]) -> pd.DataFrame:
        for name, chunk in zip(names, chunks, strict=True):
            if name in results:
                self.report.bad.extend(results[name].bad)
                self.report.done += len(chunk) - len(results[name].bad)
        tables = [results[n].table for n in names if n in results and len(results[n].table)]
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()

    # ------------------------------------------------------------------ accounting

    def bad_item(self, item: str, reason: str) -> None:
        """Count ``item`` as bad input data (reported, skipped, not retried)."""
        self.report.bad.append((item, reason))

    def count_items(self, total: int, done: int) -> None:
        """Count items a stage handled itself, without :meth:`map_shards`."""
        self.report.items += total
        self.report.done += done

    def for_each_model(self, names: Iterable[str], body: Callable[[str], T]) -> dict[str, T]:
        """Run ``body(name)`` for every model; a model that fails is reported, the rest go on.

        A failure of the machine (full disk) is not a model's fault: it stops the stage.

        Returns
        -------
        dict
            ``{name: body(name)}`` for the models that succeeded.
        """
        results: dict[str, T] = {}
        for name in names:
            self.report.models.append(name)
            try:
                results[name] = body(name)
            except MachineError:
                raise
            except Exception as error:
                if is_machine_error(error):
                    raise
                reason = str(error) if isinstance(error, LocalglobalError) \
                    else f"{type(error).__name__}: {error}"
                if not isinstance(error, LocalglobalError | ValueError | KeyError):
                    reason += "\n" + "".join(traceback.format_exception(error)[-3:])
                self._model_failed(name, reason)
        return results

    def _model_failed(self, name: str, reason: str) -> None:
        self.report.failed_models.append((name, reason))
        self.log(f"{self.stage.name}: model {name} failed: {reason.splitlines()[0]}",
                 style="red")

    # ------------------------------------------------------------------ the end

    def finish(self, summary: dict[str, Any] | None = None,
               details: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write the stage report and decide the outcome.

        Returns
        -------
        dict
            The summary for the manifest, with ``status`` (``done`` or ``failed``)
            and the counts.

        Raises
        ------
        StageError
            Every item, or every model, failed: there is nothing to go on with.
        """
        report = self.report
        self._show_problems()
        status = "failed" if report.failed or report.failed_models else "done"
        record = {"stage": self.stage.name, "status": status, "executor": self.executor,
                  "workers": self.n_workers,
                  "seconds": round(time.perf_counter() - self.started, 3),
                  **report.as_dict(), "summary": summary or {},
                  "details": {**self.details, **(details or {})}}
        write_json(self.run.path(self.stage.report_name), record)
        if report.models and len(report.failed_models) == len(report.models):
            reasons = "; ".join(f"{m}: {r.splitlines()[0]}" for m, r in report.failed_models)
            raise StageError(f"{self.stage.name}: every model failed ({reasons})")
        if report.items and report.done == 0 and not report.models:
            first_item, first = (report.bad or report.failed)[0]
            raise StageError(f"{self.stage.name}: every one of the {report.items} items "
                             f"failed; first: {first_item}: {first}")
        counts = {"items": report.items, "bad": len(report.bad),
                  "failed": len(report.failed) + len(report.failed_models)}
        return {**(summary or {}), **counts, "status": status}

    def failure_message(self) -> str:
        """What failed, in one paragraph, for the stage's error."""
        parts = [f"model {m}: {r.splitlines()[0]}" for m, r in self.report.failed_models]
        if self.report.failed:
            item, reason = self.report.failed[0]
            parts.append(f"{len(self.report.failed)} items (first: {item}: {reason})")
        return (f"{self.stage.name} finished with failures: " + "; ".join(parts)
                + f"; the tables hold the rest. See {self.run.path(self.stage.report_name)}; "
                "running the stage again retries what failed")

    def _show_problems(self) -> None:
        for label, problems in (("bad input", self.report.bad),
                                ("failed", self.report.failed)):
            for item, reason in problems[:SHOWN_PROBLEMS]:
                self.log(f"{self.stage.name}: {label}: {item}: {reason}", style="yellow")
            if len(problems) > SHOWN_PROBLEMS:
                self.log(f"{self.stage.name}: … and {len(problems) - SHOWN_PROBLEMS} more "
                         f"{label} items, listed in {self.stage.report_name}", style="yellow")


def _guarded_worker(args: tuple[Callable[[Any], Work], Any]) -> Callable[[list[Any]],
                                                                       tuple[str, Any]]:
    """The worker of an actor, whose shard errors come back as values like the pool's."""
    make_worker, worker_args = args
    worker = make_worker(worker_args)
    return functools.partial(_run_shard, worker)


def _shard_task_indexed(task: tuple[int, tuple[Work, list[Any]]]) -> tuple[int, Any]:
    index, (work, items) = task
    return index, _run_shard(work, items)
