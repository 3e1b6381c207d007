"""Reading tar archives safely: streamed, never extracted, with size and ratio caps.

:func:`iter_tar` streams the members of a tar archive (ustar, GNU long names, pax)
through :mod:`tarfile`'s forward-only stream mode; nothing is ever written to disk.
Every member is checked before its data is touched:

* a path that is absolute or climbs out with ``..`` is refused (reported, never used);
* hard and symbolic links are refused: nothing is followed;
* a member larger than :attr:`TarLimits.max_member_bytes` is refused by name.

Compressed archives (gzip, bzip2, xz) are decompressed as a stream by
:func:`open_archive` (a file) or :func:`open_nested` (an archive inside an archive,
read from its outer member without holding it whole); while they are read, the bytes
they decompress to are metered: past :attr:`TarLimits.max_total_bytes` for the whole
source, or past :attr:`TarLimits.max_ratio` times the compressed bytes read, reading
stops with an :class:`ArchiveLimitError` naming the archive and the member. A
decompression bomb therefore costs at most the caps, never the memory or the time its
expansion would take.

>>> with open_archive("Annotation.tar.gz") as stream:          # doctest: +SKIP
...     for member in iter_tar(stream, "Annotation.tar.gz"):
...         if member.kind == "file" and not member.problem:
...             data = member.read()
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import re
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from localglobal.errors import ArchiveError, ArchiveLimitError, is_machine_error

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_DRIVE = re.compile(r"^[A-Za-z]:")
_MIB = 1 << 20


@dataclass(frozen=True)
class TarLimits:
    """Caps on what reading an archive may cost; the defaults are generous.

    Attributes
    ----------
    max_member_bytes : int
        Largest member, in bytes as stored in its archive; an archive inside an archive
        may also decompress to no more than this. ImageNet's XML files are about 1 KB
        and its per-synset archives well under 1 MB.
    max_total_bytes : int
        Most bytes all the compressed archives of one source may decompress to.
    max_ratio : float
        Most bytes a compressed stream may decompress to per compressed byte read
        (tars of small XML files reach about 50; a gzip bomb about 1000).
    ratio_after_bytes : int
        The ratio is checked only once a stream has decompressed this many bytes, so
        that a small, very compressible archive (mostly tar padding) passes.
    """

    max_member_bytes: int = 256 * _MIB
    max_total_bytes: int = 64 * 1024 * _MIB
    max_ratio: float = 250.0
    ratio_after_bytes: int = 4 * _MIB


def is_unsafe_member(name: str) -> bool:
    """Whether an archive member's path is absolute or climbs out with ``..``."""
    if not name or name[0] in "/\\" or (":" in name and _DRIVE.match(name)):
        return True
    return ".." in name and ".." in re.split(r"[\\/]+", name)


def is_archive_name(name: str) -> bool:
    """Whether a file name looks like a (possibly compressed) tar archive."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def describe_error(error: BaseException) -> str:
    """A short text for an exception: its kind and message (``truncated`` for EOF)."""
    text = str(error).strip()
    if isinstance(error, EOFError):
        return f"truncated: {text}" if text else "truncated"
    kind = type(error).__name__
    return f"{kind}: {text}" if text else kind


# --------------------------------------------------------------------------- streams


class DecompressionBudget:
    """Decompressed bytes of one source so far (``used``), against the total cap (``limit``).

    One budget is shared by an archive and every archive nested in it, so that the total
    cap holds for the whole source.
    """

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0


class _Counting(io.RawIOBase):
    """Counts the (compressed) bytes read from ``raw``."""

    def __init__(self, raw: IO[bytes]):
        self.raw, self.count = raw, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.raw.read(len(buffer))
        buffer[:len(data)] = data
        self.count += len(data)
        return len(data)


class _Metered(io.RawIOBase):
    """A decompressing stream that stops at the caps and names the archive when corrupt."""

    def __init__(self, stream: IO[bytes], counter: _Counting, label: str, limits: TarLimits,
                 budget: DecompressionBudget, max_bytes: int | None):
        self.stream, self.counter, self.label = stream, counter, label
        self.limits, self.budget, self.max_bytes = limits, budget, max_bytes
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self.stream.read(len(buffer))
        except ArchiveError:
            raise
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as error:
            if is_machine_error(error):
                raise
            raise ArchiveError(self.label, f"corrupt archive ({describe_error(error)})"
                               ) from None
        buffer[:len(data)] = data
        self.produced += len(data)
        self.budget.used += len(data)
        self._check()
        return len(data)

    def _check(self) -> None:
        limits = self.limits
        if self.max_bytes is not None and self.produced > self.max_bytes:
            raise ArchiveLimitError(self.label, f"decompresses to more than the per-member "
                                    f"cap of {_size(self.max_bytes)}")
        if self.budget.used > self.budget.limit:
            raise ArchiveLimitError(self.label, "the source decompresses to more than the "
                                    f"total cap of {_size(self.budget.limit)}")
        if (self.produced > limits.ratio_after_bytes
                and self.produced > limits.max_ratio * max(self.counter.count, 1)):
            raise ArchiveLimitError(self.label, "compression ratio above the cap of "
                                    f"{limits.max_ratio:g} (a decompression bomb?)")


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", _MIB), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


def _decompressing(raw: IO[bytes], label: str, limits: TarLimits, budget: DecompressionBudget,
                   max_bytes: int | None) -> IO[bytes]:
    """``raw`` as an uncompressed stream: gzip, bzip2 and xz are found by their magic."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
    magic = buffered.peek(6)[:6]
    openers = {b"\x1f\x8b": lambda f: gzip.GzipFile(fileobj=f, mode="rb"),
               b"BZh": bz2.BZ2File, b"\xfd7zXZ\x00": lzma.LZMAFile}
    for prefix, opener in openers.items():
        if magic.startswith(prefix):
            counter = _Counting(buffered)
            metered = _Metered(opener(counter), counter, label, limits, budget, max_bytes)
            # A small read-ahead: a cap is blamed on a member at most this early.
            return io.BufferedReader(metered, buffer_size=64 * 1024)
    return buffered


@contextlib.contextmanager
def open_archive(path: str | Path, label: str | None = None, limits: TarLimits | None = None,
                 budget: DecompressionBudget | None = None) -> Iterator[IO[bytes]]:
    """Open an archive file as an uncompressed, metered byte stream.

    Parameters
    ----------
    path : path-like
        A tar archive, plain or compressed with gzip, bzip2 or xz.
    label : str, optional
        How errors name it (default: the path).
    limits : TarLimits, optional
        The caps (default :class:`TarLimits`).
    budget : optional
        The source's decompressed-bytes account, shared with nested archives (see
        :func:`new_budget`); a fresh one by default.

    Yields
    ------
    binary stream
        Read it with :func:`iter_tar`.
    """
    limits = limits or TarLimits()
    budget = budget or new_budget(limits)
    with open(path, "rb") as raw:
        yield _decompressing(raw, label or str(path), limits, budget, None)


def new_budget(limits: TarLimits) -> DecompressionBudget:
    """A fresh account of decompressed bytes for one source, against ``max_total_bytes``."""
    return DecompressionBudget(limits.max_total_bytes)


def open_nested(member: TarMember, label: str, limits: TarLimits, budget: DecompressionBudget
                ) -> IO[bytes]:
    """An archive member that is itself an archive, as an uncompressed, metered stream.

    It decompresses to at most ``limits.max_member_bytes``. Read it whole before the
    outer :func:`iter_tar` moves on.
    """
    return _decompressing(member.open(), label, limits, budget, limits.max_member_bytes)


def drain(stream: IO[bytes]) -> None:
    """Read a stream to its end, so that a compressed stream checks its integrity (CRC)."""
    while stream.read(1 << 20):
        pass


# --------------------------------------------------------------------------- members


@contextlib.contextmanager
def _blamed(label: str, member: str | None) -> Iterator[None]:
    """tarfile's errors as :class:`ArchiveError`; a cap passed is blamed on ``member``."""
    try:
        yield
    except ArchiveLimitError as error:
        if error.member is not None or member is None:
            raise
        raise ArchiveLimitError(error.archive, error.reason, member) from None
    except tarfile.ReadError as error:
        where = f"ends inside member {member!r}" if member else str(error)
        raise ArchiveError(label, f"truncated archive ({where})") from None
    except tarfile.TarError as error:
        raise ArchiveError(label, f"corrupt archive ({describe_error(error)})") from None


class _MemberStream(io.RawIOBase):
    """The data of one member, read through tarfile, its errors naming the member."""

    def __init__(self, data: IO[bytes], label: str, name: str):
        self.data, self.label, self.name = data, label, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        with _blamed(self.label, self.name):
            return self.data.readinto(buffer)  # type: ignore[attr-defined]

    def read_whole(self) -> bytes:
        """The member's data in one read (the common case: one XML file)."""
        with _blamed(self.label, self.name):
            return self.data.read()


class TarMember:
    """One member of a tar archive, as streamed by :func:`iter_tar`.

    Attributes
    ----------
    name : str
        Its path inside the archive, as stored (pax and GNU long names resolved).
    kind : str
        ``file``, ``dir``, ``link`` or ``other`` (devices, FIFOs, …).
    size : int
        Data size in bytes.
    problem : str
        Why it is refused (unsafe path, a link, past the member cap), else empty.

    The data is read with :meth:`read` (or streamed with :meth:`open`) before the
    iteration moves on; whatever is left unread is skipped.
    """

    __slots__ = ("_stream", "kind", "name", "problem", "size")

    def __init__(self, name: str, kind: str, size: int, problem: str,
                 stream: _MemberStream | None):
        self.name, self.kind, self.size, self.problem = name, kind, size, problem
        self._stream = stream

    def __repr__(self) -> str:
        return f"TarMember({self.name!r}, {self.kind!r}, {self.size})"

    def open(self) -> IO[bytes]:
        """The member's data as a stream (regular files only, not refused ones)."""
        if self._stream is None or self.problem:
            raise ArchiveError(self.name, f"has no readable data ({self.problem or self.kind})")
        return self._stream

    def read(self) -> bytes:
        """The member's data, whole (it is at most ``TarLimits.max_member_bytes``)."""
        self.open()
        return self._stream.read_whole()  # type: ignore[union-attr]


def _kind(info: tarfile.TarInfo) -> str:
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    return "link" if info.islnk() or info.issym() else "other"


def _problem(name: str, kind: str, size: int, limits: TarLimits) -> str:
    if is_unsafe_member(name):
        return "unsafe member path (absolute or with '..'): skipped, never extracted"
    if kind == "link":
        return "a link: refused, never followed"
    if kind == "file" and size > limits.max_member_bytes:
        return (f"{_size(size)}, larger than the per-member cap of "
                f"{_size(limits.max_member_bytes)}: skipped")
    return ""


def _open_tar(stream: IO[bytes], label: str) -> tarfile.TarFile | None:
    """tarfile's stream reader over ``stream`` (None for an empty stream)."""
    try:
        return tarfile.open(fileobj=stream, mode="r|*")
    except tarfile.ReadError as error:
        if str(error) == "empty file":
            return None  # no data at all: no members, as tar itself has it
        raise ArchiveError(label, f"not a tar archive ({error})") from None
    except tarfile.TarError as error:
        raise ArchiveError(label, f"corrupt archive ({describe_error(error)})") from None


def iter_tar(stream: IO[bytes], label: str, limits: TarLimits | None = None
             ) -> Iterator[TarMember]:
    """Stream the members of an uncompressed tar stream, without extracting anything.

    The headers are read by :mod:`tarfile` in its stream mode (``"r|*"``), which reads
    forward only and never seeks, over the metered stream of :func:`open_archive`.

    Parameters
    ----------
    stream : binary stream
        Positioned at the archive's start (see :func:`open_archive`).
    label : str
        How errors name the archive.
    limits : TarLimits, optional
        The per-member cap (default :class:`TarLimits`).

    Yields
    ------
    TarMember
        Every member, directories and links included; check ``problem`` before
        reading.

    Raises
    ------
    ArchiveError
        Not a tar archive, truncated or corrupt.
    ArchiveLimitError
        A cap was passed while decompressing; ``member`` names the member being read
        (or skipped).
    """
    limits = limits or TarLimits()
    archive = _open_tar(stream, label)
    previous: str | None = None
    while archive is not None:
        with _blamed(label, previous):  # moving on skips the rest of the previous member
            info = archive.next()
        if info is None:
            return
        archive.members.clear()  # tarfile keeps every header it read: memory stays flat
        kind = _kind(info)
        problem = _problem(info.name, kind, info.size, limits)
        data = archive.extractfile(info) if kind == "file" and not problem else None
        yield TarMember(info.name, kind, info.size, problem,
                        _MemberStream(data, label, info.name) if data is not None else None)
        previous = info.name


# --------------------------------------------------------------------------- writing


def tar_bytes(members: Iterable[tuple[str, bytes]], compress: bool = True) -> bytes:
    """A tar archive (gzip-compressed by default) of ``(name, data)`` members, in memory.

    Names are stored exactly as given, unsafe ones included (tests need them); the
    output is deterministic (no modification times).
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return gzip.compress(raw, compresslevel=1, mtime=0) if compress else raw
