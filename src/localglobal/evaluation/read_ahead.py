"""Running an iterator ahead in a thread of this process, at a chosen priority.

A :class:`ReadAhead` decodes the next batches while the model works on this one:
decoding an image (in C) releases the interpreter lock. Beside a model on the CPU,
whose forward pass keeps every core busy, the thread lowers its own priority
(:data:`IDLE_NICE`), so that it takes only the moments the pass leaves a core idle.

>>> batches = ReadAhead(iter(decoded_batches), depth=2)   # doctest: +SKIP
>>> for batch in batches: ...                             # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import weakref
from collections.abc import Iterator
from typing import Any, NamedTuple

IDLE_NICE = 19
"""The decoding thread's nice value beside a CPU model: it runs when a core is idle."""

CAN_LOWER_THREAD_PRIORITY = sys.platform.startswith("linux")
"""Whether one thread's priority can be lowered (Linux: a thread has its own nice)."""


class _End(NamedTuple):
    """What the decoding thread hands over last: nothing more, or the error that stopped it."""

    error: BaseException | None


def _fill(stream: Iterator[Any], out: queue.Queue, stop: threading.Event, nice: int) -> None:
    """The decoding thread: put the stream's items into ``out`` until it ends or is stopped."""
    if nice and CAN_LOWER_THREAD_PRIORITY:
        # This thread only: on Linux the "process" of a thread id is that thread. A
        # sandbox that forbids it leaves the thread decoding at the usual priority.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    try:
        for item in stream:
            if not _put(out, item, stop):
                return
        _put(out, _End(None), stop)
    except BaseException as error:  # handed to the consumer, raised there
        _put(out, _End(error), stop)


def _put(out: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put ``item`` into ``out`` when there is room; False if stopped first."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class ReadAhead:
    """An iterator run ahead by a thread of this process, ``depth`` items at most.

    The thread stops at the stream's end, at :meth:`close`, or when this object is
    collected.

    Parameters
    ----------
    stream : iterator
        What to run ahead; an error it raises is raised again by ``next`` here.
    depth : int
        Items taken ahead at most.
    nice : int, optional
        The thread's nice value (0: left as the process's; a higher value lowers the
        thread's priority where :data:`CAN_LOWER_THREAD_PRIORITY`).
    """

    def __init__(self, stream: Iterator[Any], depth: int, nice: int = 0):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=_fill,
                                        args=(stream, self._queue, self._stop, nice),
                                        name="localglobal-decode", daemon=True)
        weakref.finalize(self, self._stop.set)
        self._thread.start()

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if isinstance(item, _End):
            self._done = True
            if item.error is not None:
                raise item.error
            raise StopIteration
        return item

    def close(self) -> None:
        """Stop the thread and wait for it (it finishes the batch it is decoding)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
        self._done = True


__all__ = ["CAN_LOWER_THREAD_PRIORITY", "IDLE_NICE", "ReadAhead"]
