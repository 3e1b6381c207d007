"""Spreading independent tasks over processes or a Ray cluster, with a progress bar.

The default is a local process pool; ``executor = "ray"`` in the configuration hands
the same tasks to Ray (``pip install 'localglobal[ray]'``; ``RAY_ADDRESS`` or
``run.ray_address`` points at an existing cluster). Tasks are top-level functions of
one picklable argument. Every worker, and this process while it runs a task, pins
OpenCV and torch to one thread: their multi-threaded kernels can round differently,
and a run must give the same tables on one worker or many, on a laptop or a node.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from localglobal.console import progress_bar
from localglobal.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("process", "ray")


def pin_threads() -> None:
    """Give OpenCV and torch (where loaded) one thread in this process."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cv2 = sys.modules.get("cv2")
    if cv2 is None:
        import cv2
    cv2.setNumThreads(1)
    # torch takes seconds to import: tune it only where it is already loaded; a worker
    # that imports it later gets one thread from OMP_NUM_THREADS.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


@contextlib.contextmanager
def pinned_threads() -> Iterator[None]:
    """One OpenCV thread in this process for the block; the setting is restored after.

    This also makes forking safe: a child forked while OpenCV's worker threads exist
    inherits their locks but not the threads, and hangs in its first parallel call.
    """
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def _context() -> multiprocessing.context.BaseContext:
    # fork is cheapest on Linux; macOS and Windows only support spawn safely.
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def parallel_map(function: Callable[[T], R], items: Iterable[T], *, workers: int = 1,
                 description: str = "working", executor: str = "process",
                 total: int | None = None, unit: str = "tasks") -> Iterator[R]:
    """Apply ``function`` to every item, yielding results as they complete.

    Parameters
    ----------
    function : callable
        A top-level (picklable) function of one item.
    items : iterable
        The tasks; consumed lazily when ``total`` is given.
    workers : int
        Processes; ``<= 1`` runs in this process (easiest to debug).
    description : str
        The progress bar's label.
    executor : {"process", "ray"}
        Where the tasks run.
    total : int, optional
        Number of items, when ``items`` is a generator.
    unit : str
        What one item is, for the progress bar (``"shards"``, ``"images"``).

    Yields
    ------
    object
        ``function(item)`` for every item, in completion order: callers store results
        by key. At most ``2 × workers`` items are in flight, so memory is bounded by
        the tasks in flight, never by the whole list.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"run.executor: unknown executor {executor!r}; choose "
                          f"{' or '.join(EXECUTORS)}")
    if total is None:
        items = list(items)
        total = len(items)
    label = f"{description} ({unit})"
    if executor == "ray":
        yield from _ray_map(function, list(items), label)
        return
    with progress_bar() as progress:
        task = progress.add_task(label, total=total)
        if workers <= 1 or total <= 1:
            with pinned_threads():
                for item in items:
                    yield function(item)
                    progress.advance(task)
            return
        with pinned_threads(), ProcessPoolExecutor(
            max_workers=workers, mp_context=_context(), initializer=pin_threads
        ) as pool:
            pending: set[Future[Any]] = set()
            iterator = iter(items)
            for item in iterator:
                pending.add(pool.submit(function, item))
                if len(pending) >= 2 * workers:
                    break
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
                    progress.advance(task)
                    nxt = next(iterator, None)
                    if nxt is not None:
                        pending.add(pool.submit(function, nxt))


def ray_init(address: str | None = None) -> Any:
    """Connect to Ray (``address``, else ``RAY_ADDRESS``, else a local instance)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("run.executor = 'ray' needs Ray: pip install 'localglobal[ray]'"
                          ) from None
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS"), ignore_reinit_error=True,
                 include_dashboard=False, log_to_driver=False)
    return ray


def _pinned_call(function: Callable[[T], R], item: T) -> R:
    pin_threads()
    return function(item)


def _ray_map(function: Callable[[T], R], items: list[T], description: str) -> Iterator[R]:
    ray = ray_init()
    remote = ray.remote(_pinned_call)
    refs = [remote.remote(function, item) for item in items]
    with progress_bar() as progress:
        task = progress.add_task(description, total=len(refs))
        while refs:
            done, refs = ray.wait(refs, num_returns=1)
            yield ray.get(done[0])
            progress.advance(task)


def _actor_class(ray: Any) -> Any:
    """A Ray actor that builds its worker once (a loaded model) and runs shards on it."""

    @ray.remote
    class ShardActor:
        def __init__(self, make_worker: Callable[[Any], Callable[[T], R]], args: Any,
                     threads: int) -> None:
            import torch

            torch.set_num_threads(max(1, threads))
            self.worker = make_worker(args)

        def run(self, index: int, item: T) -> tuple[int, R]:
            return index, self.worker(item)

    return ShardActor


def actor_map(make_worker: Callable[[Any], Callable[[T], R]], args: Any, items: list[T], *,
              description: str = "working", unit: str = "shards",
              actors: int | None = None) -> Iterator[tuple[int, R]]:
    """Run ``worker(item)`` for every item on Ray actors, each building its worker once.

    One actor per GPU of the cluster (each holding one GPU), or, without GPUs, one per
    ``actors`` CPU slots; an actor loads its model once and then takes shard after
    shard, so no model is loaded per task.

    Parameters
    ----------
    make_worker : callable
        ``make_worker(args) -> worker``, a top-level function (it is sent to the actors).
    args : object
        Picklable arguments of ``make_worker`` (a model spec, a device name).
    items : list
        The shards to run.
    actors : int, optional
        Number of CPU actors when the cluster has no GPU (default 1).

    Yields
    ------
    (int, object)
        The item's index in ``items`` and ``worker(item)``, in completion order.
    """
    ray = ray_init()
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    count = max(1, min(gpus or (actors or 1), len(items)))
    threads = max(1, cpus // count)
    options = {"num_gpus": 1} if gpus else {"num_cpus": threads}
    actor_type = _actor_class(ray)
    pool = [actor_type.options(**options).remote(make_worker, args, threads)
            for _ in range(count)]
    pending: dict[Any, Any] = {}
    queue = list(enumerate(items))
    with progress_bar() as progress:
        task = progress.add_task(f"{description} ({unit}, {count} Ray actors)",
                                 total=len(items))
        for actor in pool:
            if queue:
                index, item = queue.pop(0)
                pending[actor.run.remote(index, item)] = actor
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            actor = pending.pop(done[0])
            yield ray.get(done[0])
            progress.advance(task)
            if queue:
                index, item = queue.pop(0)
                pending[actor.run.remote(index, item)] = actor
    for actor in pool:
        ray.kill(actor)
