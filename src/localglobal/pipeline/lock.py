"""One writer per run directory: a lock file holding the writer's pid and host.

The lock is an ``fcntl`` lock on ``<run>/.lock``, so the operating system releases it
when its holder dies, however it dies; the pid and host written into the file only
name the holder in messages, and tell a new holder that it took over from a process
that is gone.

The file is opened with ``O_NOFOLLOW``: a ``.lock`` that is a symbolic link (or a
hard link, a folder, a device, a file holding something else than a lock) is refused,
never followed and never emptied; only a file the lock itself wrote is rewritten.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from localglobal.console import log
from localglobal.errors import RunLockedError, UnsafePathError

if TYPE_CHECKING:
    from localglobal.pipeline.rundir import RunDir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_MAX_LOCK_BYTES = 4096


def _holder(path: Path) -> dict:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return {}
    with os.fdopen(fd, "rb") as handle:
        return _parse(handle.read(_MAX_LOCK_BYTES + 1))


def _parse(data: bytes) -> dict:
    try:
        holder = json.loads(data.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _not_a_lock(path: Path, what: str) -> UnsafePathError:
    return UnsafePathError(f"{path}: {what}, not the run's lock file; it is left as it is. "
                           "Remove it (after checking what it is), then run the command "
                           "again")


def _open_lock(path: Path) -> int:
    """Open (or create) the lock file without following a link, and check that it is one.

    Raises
    ------
    UnsafePathError
        ``path`` is a symbolic link, a hard link, not a regular file, or a file with
        content no lock wrote.
    """
    try:
        fd = os.open(path, _FLAGS, 0o666)
    except OSError:
        if os.path.islink(path):
            raise _not_a_lock(path, "a symbolic link") from None
        if os.path.isdir(path):
            raise _not_a_lock(path, "a folder") from None
        raise
    try:
        info = os.fstat(fd)
        problem = None
        if not stat.S_ISREG(info.st_mode):
            problem = "not a regular file"
        elif info.st_nlink != 1:
            problem = f"a file with {info.st_nlink} hard links"
        elif info.st_size > _MAX_LOCK_BYTES:
            problem = f"a file of {info.st_size} bytes"
        else:
            data = os.pread(fd, _MAX_LOCK_BYTES, 0)
            if data.strip() and not _parse(data):
                problem = "a file holding something else than a lock"
        if problem is not None:
            raise _not_a_lock(path, problem)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _rewrite(fd: int, data: bytes) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


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
    UnsafePathError
        ``.lock`` is a link or a file no lock wrote; it is left untouched.
    """
    path = root / LOCK_NAME
    fd = _open_lock(path)
    try:
        _acquire(fd, path, wait_s)
        previous = _parse(os.pread(fd, _MAX_LOCK_BYTES, 0))
        if previous.get("pid") and previous.get("pid") != os.getpid():
            log(f"{root}: took over the lock of {_describe(previous)}, which is gone",
                style="yellow")
        _rewrite(fd, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }).encode())
        try:
            yield
        finally:
            _rewrite(fd, b"")
    finally:
        os.close(fd)  # closing releases the fcntl lock


def _acquire(fd: int, path: Path, wait_s: float) -> None:
    if fcntl is None:  # pragma: no cover - no advisory locks: one writer is assumed
        return
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
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
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:  # missing, or a link: no lock of ours
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


_HELD: set[str] = set()


def holds_lock(run: RunDir) -> bool:
    """Whether this process holds the run's lock (:func:`holding_lock`)."""
    return str(run.root) in _HELD


@contextlib.contextmanager
def holding_lock(run: RunDir, command: str) -> Iterator[None]:
    """Hold the run's lock unless this process already does (a pipeline of stages)."""
    key = str(run.root)
    if key in _HELD:
        yield
        return
    with run_lock(run.root, command=command):
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)
