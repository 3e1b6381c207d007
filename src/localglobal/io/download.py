"""Files from URLs: downloaded into a cache, verified, and used offline once there.

Every download goes through here: model weights into the cache folder's ``weights/``,
the Geirhos data into ``geirhos/``, model-vs-human's into ``model-vs-human/``. The
cache folder is ``$LOCALGLOBAL_CACHE``, else the user cache folder (e.g.
``~/.cache/localglobal``). ``LOCALGLOBAL_OFFLINE=1`` forbids downloads: what is cached
still works, anything else is an error naming the URL and the path to put the file at.
:func:`download` writes a URL's file, hashed as it arrives and renamed into place only
when its SHA-256 checks out; :func:`fetch` gives a source (a URL or a local path) as a
verified local file; :func:`verify_cached` checks a file on disk before use, hashing an
unchanged file once. The checksum conventions are :mod:`localglobal.io.checksums`.

Every download is bounded: a file without a known checksum may be at most
``max_bytes`` long (``$LOCALGLOBAL_MAX_DOWNLOAD_MB``, default 2048 MiB), and every
download has a total deadline (``$LOCALGLOBAL_DOWNLOAD_DEADLINE_S``, default six hours)
besides the timeout of each read, so a server that trickles or never ends cannot fill
the disk or hold the command forever. The partial file (``.NAME.PID.*.part``) is
removed when the download fails, on SIGINT and SIGTERM, and, if its process was killed
outright, by the next download into the folder.

>>> fetch("https://example.org/model-0123abcd.pth", "0123abcd", folder="weights")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import signal
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.parse
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from localglobal.errors import (
    ChecksumError,
    DownloadError,
    DownloadUnavailableError,
    MissingInputError,
)
from localglobal.io.checksums import (
    CHUNK_BYTES,
    describe_expected,
    hashed_name_prefix,
    normalise_sha256,
    sha256_matches,
    verify_file,
)

CACHE_ENV = "LOCALGLOBAL_CACHE"
OFFLINE_ENV = "LOCALGLOBAL_OFFLINE"
MAX_BYTES_ENV = "LOCALGLOBAL_MAX_DOWNLOAD_MB"
DEADLINE_ENV = "LOCALGLOBAL_DOWNLOAD_DEADLINE_S"
DEFAULT_MAX_MB = 2048
"""The largest download without a known checksum, MiB (model-vs-human's largest archive
is a few hundred MB)."""
DEFAULT_DEADLINE_S = 6 * 3600.0
"""The longest a download may take in all, seconds."""


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


def network_reason(error: BaseException) -> str:
    """A short reason for a failed request (``HTTP 404 Not Found``, the socket error)."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return f"{type(error).__name__}: {error}"


def unavailable(url: str, path: Path, reason: str | BaseException,
                hint: str | None = None) -> DownloadUnavailableError:
    """The error for a file that cannot be had: the URL, the reason, where to put it.

    Parameters
    ----------
    url : str
        What was asked for.
    path : Path
        Where the file is to go (where the user can put a copy by hand).
    reason : str or BaseException
        Why it cannot be had; an exception is shortened by :func:`network_reason`.
    hint : str, optional
        The message's last line (default: where the cache folder is set).
    """
    if isinstance(reason, BaseException):
        reason = network_reason(reason)
    return DownloadUnavailableError(
        f"cannot download {url} ({reason}).\n"
        f"Download it on a machine with network access and put the file at:\n  {path}\n"
        + (hint or f"(the cache folder is set by {CACHE_ENV})."), url, path, reason)


OFFLINE_REASON = f"offline mode ({OFFLINE_ENV}=1)"


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
                    raise unavailable(url, destination, "the download took longer than "
                                      f"its deadline (${DEADLINE_ENV})", hint)
                out.write(chunk)
                digest.update(chunk)
                bar.advance(task, len(chunk))
        except (urllib.error.URLError, OSError) as error:
            raise unavailable(url, destination, "the download broke off: "
                              f"{network_reason(error)}", hint) from error
    if total is not None and received != total:
        raise unavailable(url, destination,
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
        raise unavailable(url, destination, OFFLINE_REASON, hint)
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
                raise unavailable(url, destination, error, hint) from error
            with response:
                actual = _copy_response(url, response, out, destination, hint, progress,
                                        max_bytes, deadline)
        if not sha256_matches(actual, expected):
            raise ChecksumError(
                f"{url}: the downloaded file's SHA-256 is {actual}, expected "
                f"{describe_expected(expected)}; the download was deleted and {destination} "
                f"was not written")
        os.replace(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)
    return destination


# --------------------------------------------------------------------------- sources


def is_url(source: str) -> bool:
    """Whether a source is a URL (``scheme://…``) rather than a local path."""
    return "://" in source


def cached_path(url: str, folder: str) -> Path:
    """Where the file downloaded from ``url`` lives in the cache's ``folder``.

    The file keeps its name; a name without a hash part (``-0123abcd.``) is prefixed
    with a digest of the URL so that two URLs ending in ``model.pth`` cannot collide.
    """
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name or "download"
    if hashed_name_prefix(name) is None:
        name = f"{hashlib.sha256(url.encode()).hexdigest()[:8]}-{name}"
    return cache_dir() / folder / name


def source_path(source: str, folder: str) -> Path:
    """The local file of a source: its cache path for a URL, the path itself otherwise."""
    return cached_path(source, folder) if is_url(source) else Path(source).expanduser()


def fetch(source: str, sha256: str | None = None, *, folder: str, what: str = "file",
          hint: str | None = None, progress: bool = True) -> Path:
    """The local file of ``source``, downloaded into the cache first if it is a URL.

    Parameters
    ----------
    source : str
        A URL (downloaded once into ``folder`` of :func:`cache_dir`), or a local path,
        used where it is (``~`` is expanded).
    sha256 : str, optional
        Expected checksum (full digest or prefix). A download is checked as it arrives;
        a cached file and a local path are checked before use (:func:`verify_cached`).
    folder : str
        The cache's sub-folder for downloads (``weights``).
    what : str
        What the file is, for the message about a missing local file.
    hint : str, optional
        Last line of the "cannot download" message.
    progress : bool
        Show a progress bar while downloading.

    Returns
    -------
    Path
        The file.

    Raises
    ------
    MissingInputError
        A local path that does not exist.
    DownloadUnavailableError
        A URL not cached, and no network (the message names the URL and the exact path
        to put the file at).
    ChecksumError
        The download or the file does not match ``sha256``.
    """
    path = source_path(source, folder)
    if is_url(source) and not path.is_file():
        return download(source, path, sha256, progress=progress, hint=hint)
    if not path.is_file():
        raise MissingInputError(f"{what} {path} does not exist")
    return verify_cached(path, sha256)


def is_cached(source: str, folder: str) -> bool:
    """Whether a URL's file is in the cache's ``folder``, or a local path exists."""
    return source_path(source, folder).is_file()


def file_fingerprint(source: str | None, folder: str) -> dict[str, Any]:
    """What identifies a source's content for caching results made with it.

    The source, and for a file on disk (a local path, a cached download) its size and
    modification time, so that replacing the file at the same path invalidates results
    made with it.
    """
    if not source:
        return {"source": source}
    path = source_path(source, folder)
    if not path.is_file():
        return {"source": source}
    stat = path.stat()
    return {"source": source, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


_NETWORK_ERROR_NAMES = {
    "LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectError", "ConnectTimeout",
    "ReadTimeout", "ConnectionError", "NameResolutionError", "MaxRetryError",
}
"""Network failures of libraries that download on their own (huggingface_hub, httpx,
requests, urllib3), known by name so that none of them need be imported."""


def is_network_error(error: BaseException) -> bool:
    """Whether an exception (or one it was raised from) means "could not reach the server"
    (for libraries that download by themselves, such as torchvision and timm)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (urllib.error.URLError, ConnectionError, TimeoutError,
                                socket.gaierror, socket.timeout)):
            return True
        if type(current).__name__ in _NETWORK_ERROR_NAMES:
            return True
        current = current.__cause__ or current.__context__
    return False


def unavailable_all(what: str, missing: Sequence[DownloadUnavailableError],
                    advice: str) -> DownloadUnavailableError:
    """One error for several files that cannot be had, each URL with where it goes.

    Parameters
    ----------
    what : str
        What was being fetched ("the Geirhos data").
    missing : sequence of DownloadUnavailableError
        One per file (its ``url``, ``path`` and ``reason`` are listed).
    advice : str
        The closing lines: what to do with the files.
    """
    lines = [f"  {e.url}\n    -> {e.path}   ({e.reason})" for e in missing]
    first = missing[0]
    return DownloadUnavailableError(f"cannot download {what}:\n" + "\n".join(lines)
                                    + "\n" + advice, first.url, first.path, first.reason)


# --------------------------------------------------------------------------- checks


HASHES_FILE = "known-sha256.json"
"""The cache folder's memo of files' SHA-256 by path, size and modification time."""


def verify_cached(path: str | os.PathLike[str], expected: str | None) -> Path:
    """Check a file on disk against ``expected`` before it is used.

    The digest is remembered in the cache folder's :data:`HASHES_FILE` (see
    :func:`~localglobal.io.checksums.known_sha256`), so an unchanged file is hashed once.

    Parameters
    ----------
    path : path-like
        A cached download or a local file.
    expected : str or None
        A full SHA-256 or a leading prefix; ``None`` checks nothing.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ChecksumError
        The file's digest does not match (naming the file, both values and the fix).
    """
    if normalise_sha256(expected) is not None:
        verify_file(path, expected, memo=cache_dir() / HASHES_FILE,
                    advice="the file is damaged or not the one configured: delete a cached "
                           "download to fetch it again, or correct the configured sha256")
    return Path(path)
