"""One writer per run directory: a lock file holding the writer's pid and host.

The lock is an ``fcntl`` lock on ``<run>/.lock``, so the operating system releases it
when its holder dies, however it dies; the pid and host written into the file only
name the holder in messages, and tell a new holder that it took over from a process
that is gone.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from localglobal.console import log
from localglobal.errors import RunLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "another process"
    return (f"pid {holder.get('pid')} on {holder.get('host')} "
            f"({holder.get('command', 'localglobal')}, since {holder.get('since')})")


@contextlib.contextmanager
def run_lock(root: Path, *, command: str = "localglobal", wait_s: float = 0.0
             ) -> Iterator[None]:
    """Hold the run directory's lock for the duration of the block.

    Parameters
    ----------
    root : Path
        The run directory (must exist).
    command : str
        What holds the lock, for the other commands' messages.
    wait_s : float
        Seconds to wait for a lock held by a live process before refusing.

    Raises
    ------
    RunLockedError
        Another live process holds the lock; the message names it.
    """
    path = root / LOCK_NAME
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
    try:
        _acquire(handle, path, wait_s)
        previous = _holder(path)
        if previous.get("pid") and previous.get("pid") != os.getpid():
            log(f"{root}: took over the lock of {_describe(previous)}, which is gone",
                style="yellow")
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
    finally:
        handle.close()  # closing releases the fcntl lock


def _acquire(handle, path: Path, wait_s: float) -> None:
    if fcntl is None:  # pragma: no cover - no advisory locks: one writer is assumed
        return
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise RunLockedError(
                    f"{path.parent}: the run is in use by {_describe(_holder(path))}; wait "
                    "for it to finish (two commands on one run would overwrite each "
                    "other's results)"
                ) from None
            time.sleep(0.2)


def is_locked(root: Path) -> bool:
    """Whether a live process holds the lock of run directory ``root``."""
    path = root / LOCK_NAME
    if fcntl is None or not path.exists():
        return False
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False
