"""Downloads into a cache: hashed as they arrive, renamed into place only when verified.

The cache folder is ``$LOCALGLOBAL_CACHE``, else the platform's user cache folder
(e.g. ``~/.cache/localglobal``); model weights live in its ``weights/`` folder, the
Geirhos data in ``geirhos/``. Setting ``LOCALGLOBAL_OFFLINE=1`` forbids downloads:
what is cached still works, anything else is an error that names the URL and the
path to put the file at.

Checksums follow two conventions: a full 64-digit SHA-256, or a leading prefix of
one (torch hub file names carry the first 8 hex digits).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
from pathlib import Path

from localglobal.errors import LocalglobalError

CHUNK_BYTES = 1 << 20
_HEX = re.compile(r"^[0-9a-fA-F]+$")

CACHE_ENV = "LOCALGLOBAL_CACHE"
OFFLINE_ENV = "LOCALGLOBAL_OFFLINE"


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


def _copy_response(url: str, response, out, destination: Path, hint: str | None,
                   progress: bool) -> str:
    """Stream a response into ``out``; return the hex SHA-256 of what arrived."""
    digest = hashlib.sha256()
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    received = 0
    with byte_progress(progress) as bar:
        task = bar.add_task(f"downloading {destination.name}", total=total)
        try:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.advance(task, len(chunk))
        except (urllib.error.URLError, OSError) as error:
            raise _unavailable(url, destination, "the download broke off: "
                               f"{network_reason(error)}", hint) from error
    if total is not None and received != total:
        raise _unavailable(url, destination,
                           f"the download ended after {received} of {total} bytes", hint)
    return digest.hexdigest()


def download(url: str, destination: str | os.PathLike[str], sha256: str | None = None, *,
             timeout: float = 30.0, progress: bool = True, hint: str | None = None) -> Path:
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
    progress : bool
        Show a progress bar (bytes, speed, time left).
    hint : str, optional
        Last line of the "cannot download" message (default: where the cache is set).

    Raises
    ------
    ChecksumError
        The downloaded file does not match; it has been deleted.
    DownloadUnavailableError
        Offline, or the server could not be reached or refused.
    """
    import urllib.request  # with http and ssl: loaded by the commands that download

    destination = Path(destination)
    expected = normalise_sha256(sha256)
    if offline():
        raise _unavailable(url, destination, f"offline mode ({OFFLINE_ENV}=1)", hint)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part",
                                    dir=destination.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "localglobal"})
                response = urllib.request.urlopen(request, timeout=timeout)
            except (urllib.error.URLError, OSError) as error:
                raise _unavailable(url, destination, network_reason(error), hint) from error
            with response:
                actual = _copy_response(url, response, out, destination, hint, progress)
        if not sha256_matches(actual, expected):
            raise ChecksumError(
                f"{url}: the downloaded file's SHA-256 is {actual}, expected "
                f"{_kind(expected)} {expected}; the download was deleted and {destination} "
                f"was not written")
        os.replace(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)
    return destination
