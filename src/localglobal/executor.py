"""Spreading independent work items over processes, with a progress bar.

The default is a local process pool; ``executor = "ray"`` in the configuration
hands the same items to a Ray cluster (``pip install localglobal[ray]``). Work
functions must be importable top-level functions taking one picklable item, and
results come back in completion order, so callers store them by key.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
R = TypeVar("R")


def progress_bar(transient: bool = False) -> Progress:
    """A rich progress bar with count, elapsed and remaining time, on stderr."""
    from localglobal.run import console

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=os.environ.get("LOCALGLOBAL_NO_PROGRESS") == "1",
    )


def _init_worker() -> None:
    # Each process gets one core; nested thread pools would oversubscribe it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        pass
    # torch takes seconds to import: tune it only where the parent already loaded it
    # (fork); a worker that imports it later gets one thread from OMP_NUM_THREADS.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


@contextlib.contextmanager
def _fork_safe_opencv() -> Iterator[None]:
    """Stop OpenCV's thread pool in this process while forked workers start.

    A child forked while OpenCV's worker threads exist inherits their locks but not
    the threads, and hangs in its first ``cv2.setNumThreads`` or parallel call. With
    one thread OpenCV keeps no pool; the previous setting is restored afterwards.
    """
    cv2 = sys.modules.get("cv2")
    if cv2 is None or not hasattr(cv2, "setNumThreads"):
        yield
        return
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def _context() -> multiprocessing.context.BaseContext:
    # fork is cheapest on Linux; macOS and Windows only support spawn safely.
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def parallel_map(
    function: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int = 1,
    description: str = "working",
    executor: str = "process",
    total: int | None = None,
) -> Iterator[R]:
    """Apply ``function`` to every item, yielding results as they complete.

    ``workers <= 1`` runs in this process (easiest to debug, and what tests use).
    At most ``2 × workers`` items are in flight, so memory is bounded by the
    shards in flight, never by the whole list. With ``total`` given, ``items`` is
    consumed lazily (a generator that reads work from a stream stays bounded too).
    """
    if total is None:
        items = list(items)
        total = len(items)
    if executor == "ray":
        yield from _ray_map(function, list(items), description)
        return
    with progress_bar() as progress:
        task = progress.add_task(description, total=total)
        if workers <= 1 or total <= 1:
            for item in items:
                yield function(item)
                progress.advance(task)
            return
        with _fork_safe_opencv(), ProcessPoolExecutor(
            max_workers=workers, mp_context=_context(), initializer=_init_worker
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


def _ray_map(function: Callable[[T], R], items: list[T], description: str) -> Iterator[R]:
    try:
        import ray
    except ImportError:
        raise RuntimeError(
            "executor = 'ray' needs Ray: pip install 'localglobal[ray]'"
        ) from None
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), ignore_reinit_error=True)
    remote = ray.remote(function)
    refs = [remote.remote(item) for item in items]
    with progress_bar() as progress:
        task = progress.add_task(description, total=len(refs))
        while refs:
            done, refs = ray.wait(refs, num_returns=1)
            yield ray.get(done[0])
            progress.advance(task)
