"""Downloads into a cache: hashed as they arrive, renamed into place only when verified.

The cache folder is ``$LOCALGLOBAL_CACHE``, else the platform's user cache folder
(e.g. ``~/.cache/localglobal``); model weights live in its ``weights/`` folder, the
Geirhos data in ``geirhos/``. Setting ``LOCALGLOBAL_OFFLINE=1`` forbids downloads:
what is cached still works, anything else is an error that names the URL and the
path to put the file at.

Checksums follow two conventions: a full 64-digit SHA-256, or a leading prefix of
one (torch hub file names carry the first 8 hex digits).

Every download is bounded: a file without a known checksum may be at most
``max_bytes`` long (``$LOCALGLOBAL_MAX_DOWNLOAD_MB``, default 2048 MiB), and every
download has a total deadline (``$LOCALGLOBAL_DOWNLOAD_DEADLINE_S``, default six hours)
besides the timeout of each read, so a server that trickles or never ends cannot fill
the disk or hold the command forever. The partial file (``.NAME.PID.*.part``) is
removed when the download fails, on SIGINT and SIGTERM, and, if its process was killed
outright, by the next download into the folder.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import re
import signal
import tempfile
import threading
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path

from localglobal.errors import LocalglobalError

CHUNK_BYTES = 1 << 20
_HEX = re.compile(r"^[0-9a-fA-F]+$")

CACHE_ENV = "LOCALGLOBAL_CACHE"
OFFLINE_ENV = "LOCALGLOBAL_OFFLINE"
MAX_BYTES_ENV = "LOCALGLOBAL_MAX_DOWNLOAD_MB"
DEADLINE_ENV = "LOCALGLOBAL_DOWNLOAD_DEADLINE_S"
DEFAULT_MAX_MB = 2048
"""The largest download without a known checksum, MiB (model-vs-human's largest archive
is a few hundred MB)."""
DEFAULT_DEADLINE_S = 6 * 3600.0
"""The longest a download may take in all, seconds."""


class DownloadError(LocalglobalError, RuntimeError):
    """A file could not be provided; the message says what to do."""


class DownloadUnavailableError(DownloadError):
    """A file is not cached and cannot be downloaded (offline, or the server refused).

    Attributes
    ----------
    url, path, reason
        What was asked for, where it was to go, and why it could not be had.
    """

    def __init__(self, message: str, url: str = "", path: Path | None = None,
                 reason: str = "") -> None:
        super().__init__(message)
        self.url, self.path, self.reason = url, path, reason


class ChecksumError(DownloadError):
    """A file's SHA-256 does not match the expected value."""


def cache_dir() -> Path:
    """The localglobal cache folder: ``$LOCALGLOBAL_CACHE``, else the user cache folder."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("localglobal"))


def offline() -> bool:
    """Whether downloads are forbidden (``LOCALGLOBAL_OFFLINE=1``)."""
    return os.environ.get(OFFLINE_ENV, "").lower() in {"1", "true", "yes"}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def normalise_sha256(expected: str | None) -> str | None:
    """Lower-case an expected checksum; ``None``/empty means "not checked".

    Raises ``ValueError`` for something that is not hex or is longer than 64 digits.
    """
    if not expected:
        return None
    expected = expected.strip().lower()
    if not _HEX.match(expected) or len(expected) > 64:
        raise ValueError(f"sha256 {expected!r}: expected up to 64 hex digits")
    return expected


def sha256_matches(actual: str, expected: str | None) -> bool:
    """Whether a full hex digest matches ``expected`` (a full digest or a leading prefix)."""
    expected = normalise_sha256(expected)
    return expected is None or actual.lower().startswith(expected)


def _kind(expected: str | None) -> str:
    return "full hash" if len(expected or "") == 64 else "prefix"


def verify_file(path: str | os.PathLike[str], expected: str | None) -> str:
    """Check a file's SHA-256 against ``expected``; return the full digest.

    Raises
    ------
    ChecksumError
        Naming the file, the expected and the actual value.
    """
    actual = sha256_file(path)
    if not sha256_matches(actual, expected):
        raise ChecksumError(
            f"{path}: SHA-256 is {actual}, expected {_kind(expected)} "
            f"{normalise_sha256(expected)}")
    return actual


def network_reason(error: BaseException) -> str:
    """A short reason for a failed request (``HTTP 404 Not Found``, the socket error)."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return f"{type(error).__name__}: {error}"


def unavailable_message(url: str, path: Path, reason: str, hint: str | None = None) -> str:
    """The text of a :class:`DownloadUnavailableError`: the URL, the reason, where to put it."""
    return (f"cannot download {url} ({reason}).\n"
            f"Download it on a machine with network access and put the file at:\n  {path}\n"
            + (hint or f"(the cache folder is set by {CACHE_ENV})."))


def byte_progress(enabled: bool = True):
    """A transient progress bar counting bytes (size, speed, time left) on standard error."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from localglobal.console import NO_PROGRESS_ENV, shared_console

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=shared_console(),
                    transient=True,
                    disable=not enabled or os.environ.get(NO_PROGRESS_ENV) == "1")


def _unavailable(url: str, path: Path, reason: str, hint: str | None
                 ) -> DownloadUnavailableError:
    return DownloadUnavailableError(unavailable_message(url, path, reason, hint), url, path,
                                    reason)


def _env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise DownloadError(f"${name} = {value!r}: expected a number") from None
    if number <= 0:
        raise DownloadError(f"${name} = {value!r}: expected a positive number")
    return number


def max_download_bytes() -> int:
    """The size cap of a download without a known checksum (``$LOCALGLOBAL_MAX_DOWNLOAD_MB``)."""
    return int(_env_number(MAX_BYTES_ENV, DEFAULT_MAX_MB) * (1 << 20))


def download_deadline_s() -> float:
    """The total time a download may take (``$LOCALGLOBAL_DOWNLOAD_DEADLINE_S``)."""
    return _env_number(DEADLINE_ENV, DEFAULT_DEADLINE_S)


def _copy_response(url: str, response, out, destination: Path, hint: str | None,
                   progress: bool, max_bytes: int | None = None,
                   deadline: float | None = None) -> str:
    """Stream a response into ``out``; return the hex SHA-256 of what arrived.

    ``max_bytes`` caps what is accepted; ``deadline`` (a ``time.monotonic`` value) is
    when the download must have ended.
    """
    digest = hashlib.sha256()
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    if max_bytes is not None and total is not None and total > max_bytes:
        raise _too_large(url, destination, max_bytes, f"the server announces {total} bytes")
    received = 0
    # read1 returns what has arrived, so a server that trickles meets the deadline.
    read = getattr(response, "read1", None) or response.read
    with byte_progress(progress) as bar:
        task = bar.add_task(f"downloading {destination.name}", total=total)
        try:
            while chunk := read(CHUNK_BYTES):
                received += len(chunk)
                if max_bytes is not None and received > max_bytes:
                    raise _too_large(url, destination, max_bytes, "it sent more")
                if deadline is not None and time.monotonic() > deadline:
                    raise _unavailable(url, destination, "the download took longer than "
                                       f"its deadline (${DEADLINE_ENV})", hint)
                out.write(chunk)
                digest.update(chunk)
                bar.advance(task, len(chunk))
        except (urllib.error.URLError, OSError) as error:
            raise _unavailable(url, destination, "the download broke off: "
                               f"{network_reason(error)}", hint) from error
    if total is not None and received != total:
        raise _unavailable(url, destination,
                           f"the download ended after {received} of {total} bytes", hint)
    return digest.hexdigest()


def _too_large(url: str, destination: Path, max_bytes: int, why: str) -> DownloadError:
    return DownloadError(f"{url}: larger than {max_bytes} bytes, the most a download without "
                         f"a known checksum may be ({why}); {destination} was not written. "
                         f"Raise ${MAX_BYTES_ENV} if the file is meant to be this large")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_parts(destination: str | os.PathLike[str]) -> int:
    """Remove partial downloads of ``destination`` whose process is gone; return how many."""
    destination = Path(destination)
    removed = 0
    if not destination.parent.is_dir():
        return 0
    for part in destination.parent.glob(f".{glob.escape(destination.name)}.*.part"):
        pid = part.name[len(destination.name) + 2:].split(".", 1)[0]
        if part.is_symlink() or not pid.isdigit() or not _alive(int(pid)):
            part.unlink(missing_ok=True)
            removed += 1
    return removed


class _Terminated(BaseException):
    """SIGTERM during a download: unwinds it so that its partial file is removed."""


@contextlib.contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into an exception for the block (main thread only), then re-send it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, previous)
        os.kill(os.getpid(), signal.SIGTERM)  # the partial file is gone: die as asked
        raise SystemExit(128 + signal.SIGTERM) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def download(url: str, destination: str | os.PathLike[str], sha256: str | None = None, *,
             timeout: float = 30.0, progress: bool = True, hint: str | None = None,
             max_bytes: int | None = None, deadline_s: float | None = None) -> Path:
    """Download ``url`` to ``destination``, verifying its SHA-256 before it appears there.

    The bytes go to a temporary file in the destination folder, hashed as they
    arrive; only a file whose checksum matches is renamed to ``destination``.

    Parameters
    ----------
    url : str
        ``http(s)://`` or ``file://`` address.
    destination : path
        Final path of the file.
    sha256 : str, optional
        Full hex digest or leading prefix; None skips the check.
    timeout : float
        Seconds to wait for the server to answer or to send more data.
    max_bytes : int, optional
        The most bytes accepted; default, without ``sha256``,
        :func:`max_download_bytes` (with a checksum, a wrong file fails its check).
    deadline_s : float, optional
        Seconds the whole download may take; default :func:`download_deadline_s`.
    progress : bool
        Show a progress bar (bytes, speed, time left).
    hint : str, optional
        Last line of the "cannot download" message (default: where the cache is set).

    Raises
    ------
    ChecksumError
        The downloaded file does not match; it has been deleted.
    DownloadUnavailableError
        Offline, the server could not be reached or refused, or the deadline passed.
    DownloadError
        The file is larger than ``max_bytes``.
    """
    destination = Path(destination)
    expected = normalise_sha256(sha256)
    if offline():
        raise _unavailable(url, destination, f"offline mode ({OFFLINE_ENV}=1)", hint)
    if max_bytes is None and expected is None:
        max_bytes = max_download_bytes()
    deadline = time.monotonic() + (deadline_s if deadline_s is not None
                                   else download_deadline_s())
    destination.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(destination)
    with _terminate_cleanly():
        return _download(url, destination, expected, timeout, progress, hint, max_bytes,
                         deadline)


def _download(url: str, destination: Path, expected: str | None, timeout: float,
              progress: bool, hint: str | None, max_bytes: int | None,
              deadline: float) -> Path:
    import urllib.request  # with http and ssl: loaded by the commands that download
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.{os.getpid()}.",
                                    suffix=".part", dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "localglobal"})
                response = urllib.request.urlopen(request, timeout=timeout)
            except (urllib.error.URLError, OSError) as error:
                raise _unavailable(url, destination, network_reason(error), hint) from error
            with response:
                actual = _copy_response(url, response, out, destination, hint, progress,
                                        max_bytes, deadline)
        if not sha256_matches(actual, expected):
            raise ChecksumError(
                f"{url}: the downloaded file's SHA-256 is {actual}, expected "
                f"{_kind(expected)} {expected}; the download was deleted and {destination} "
                f"was not written")
        os.replace(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)
    return destination
