"""Reading tar archives safely: streamed, never extracted, with size and ratio caps.

:func:`iter_tar` streams the members of a tar archive (ustar, GNU long names, pax);
nothing is ever written to disk. Every member is checked before its data is touched:

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

from localglobal.errors import LocalglobalError, is_machine_error

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
_DRIVE = re.compile(r"^[A-Za-z]:")
_MIB = 1 << 20


class ArchiveError(LocalglobalError, ValueError):
    """An archive cannot be read: not a tar, corrupt or truncated.

    Attributes
    ----------
    archive : str
        How the archive is named; the message starts with it.
    reason : str
        What is wrong with it.
    """

    def __init__(self, archive: str, reason: str):
        self.archive, self.reason = archive, reason
        super().__init__(f"{archive}: {reason}")


class ArchiveLimitError(ArchiveError):
    """Reading an archive stopped at a cap (total size, compression ratio, nested size).

    Attributes
    ----------
    archive : str
        How the archive is named.
    reason : str
        Which cap, and its value.
    member : str or None
        The member being read when the cap was passed (None: between members).
    """

    def __init__(self, archive: str, reason: str, member: str | None = None):
        self.member = member
        super().__init__(archive, reason)
        if member:
            self.args = (f"{archive}: member {member}: {reason}",)


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


class _MemberReader(io.RawIOBase):
    """The data of one member: ``size`` bytes of the archive stream, then its padding."""

    def __init__(self, stream: IO[bytes], size: int, label: str, name: str):
        self.stream, self.size, self.left, self.label, self.name = stream, size, size, label, name
        self.padding = -size % 512

    def readable(self) -> bool:
        return True

    def _read(self, n: int) -> bytes:
        try:
            return self.stream.read(n)
        except ArchiveLimitError as error:
            if error.member is not None:
                raise
            raise ArchiveLimitError(error.archive, error.reason, self.name) from None

    def _truncated(self) -> ArchiveError:
        return ArchiveError(self.label, f"truncated archive (ends inside member {self.name!r})")

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.left <= 0:
            return 0
        data = self._read(min(len(buffer), self.left))
        if not data:
            raise self._truncated()
        buffer[:len(data)] = data
        self.left -= len(data)
        return len(data)

    def read_whole(self) -> bytes:
        """The member's data and padding in one read (the common case: one XML file)."""
        if self.left != self.size:
            return self.read()
        data = self._read(self.size + self.padding)
        if len(data) != self.size + self.padding:
            raise self._truncated()
        self.left = self.padding = 0
        return data[:self.size] if len(data) != self.size else data

    def finish(self) -> None:
        """Skip whatever was not read, and the padding."""
        while self.left > 0:
            self.read(min(self.left, 1 << 20))
        if self.padding:
            if len(self._read(self.padding)) != self.padding:
                raise self._truncated()
            self.padding = 0


class TarMember:
    """One member of a tar archive, as streamed by :func:`iter_tar`.

    Attributes
    ----------
    name : str
        Its path inside the archive, as stored (never normalised).
    kind : str
        ``file``, ``dir``, ``link`` or ``other`` (devices, FIFOs, …).
    size : int
        Data size in bytes.
    problem : str
        Why it is refused (unsafe path, a link, past the member cap), else empty.

    The data is read with :meth:`read` (or streamed with :meth:`open`) before the
    iteration moves on; whatever is left unread is skipped.
    """

    __slots__ = ("_reader", "kind", "name", "problem", "size")

    def __init__(self, name: str, kind: str, size: int, problem: str,
                 reader: _MemberReader | None):
        self.name, self.kind, self.size, self.problem = name, kind, size, problem
        self._reader = reader

    def __repr__(self) -> str:
        return f"TarMember({self.name!r}, {self.kind!r}, {self.size})"

    def open(self) -> IO[bytes]:
        """The member's data as a stream (regular files only, not refused ones)."""
        if self._reader is None or self.problem:
            raise ArchiveError(self.name, f"has no readable data ({self.problem or self.kind})")
        return self._reader

    def read(self) -> bytes:
        """The member's data, whole (it is at most ``TarLimits.max_member_bytes``)."""
        self.open()
        return self._reader.read_whole()  # type: ignore[union-attr]


def _read_exact(stream: IO[bytes], size: int, label: str, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ArchiveError(label, f"truncated archive (ends inside {what})")
    return data


def _octal(field_bytes: bytes, label: str) -> int:
    if field_bytes[:1] and field_bytes[0] & 0x80:  # GNU base-256 for large values
        return int.from_bytes(field_bytes[1:], "big")
    text = field_bytes.rstrip(b"\0 ").lstrip(b" ")
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise ArchiveError(label, f"not a tar archive (bad header field {text[:12]!r})"
                           ) from None


def _check_header(block: bytes, label: str) -> None:
    # ustar/GNU headers carry a magic; older headers only their checksum.
    if block[257:262] == b"ustar":
        return
    stored = _octal(block[148:156], label)
    actual = sum(block[:148]) + 8 * 32 + sum(block[156:])
    if stored != actual:
        raise ArchiveError(label, "not a tar archive or corrupt header (checksum mismatch)")


def _pax_records(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            break
        if length <= 0:
            break
        record = data[space + 1: pos + length - 1]
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return records


_FILE_TYPES = (b"0", b"\0", b"7")
_LINK_TYPES = (b"1", b"2")
_NO_DATA_TYPES = (b"1", b"2", b"3", b"4", b"5", b"6")


def _problem(name: str, kind: str, size: int, limits: TarLimits) -> str:
    if is_unsafe_member(name):
        return "unsafe member path (absolute or with '..'): skipped, never extracted"
    if kind == "link":
        return "a link: refused, never followed"
    if kind == "file" and size > limits.max_member_bytes:
        return (f"{_size(size)}, larger than the per-member cap of "
                f"{_size(limits.max_member_bytes)}: skipped")
    return ""


def iter_tar(stream: IO[bytes], label: str, limits: TarLimits | None = None
             ) -> Iterator[TarMember]:
    """Stream the members of an uncompressed tar stream, without extracting anything.

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
        A cap was passed while decompressing; ``member`` names the member being read.
    """
    limits = limits or TarLimits()
    long_name: str | None = None
    pax: dict[str, str] = {}
    while True:
        block = stream.read(512)
        if not block:
            return  # end of data at a member boundary: accepted, as tar itself does
        if len(block) < 512:
            raise ArchiveError(label, "truncated archive (partial header)")
        if block.count(0) == 512:
            return  # end-of-archive marker
        _check_header(block, label)
        size = _octal(block[124:136], label)
        typeflag = block[156:157]
        name = block[0:100].split(b"\0", 1)[0]
        if block[257:262] == b"ustar" and block[345:346] != b"\0":
            name = block[345:500].split(b"\0", 1)[0] + b"/" + name
        if typeflag in (b"L", b"x", b"g", b"K"):
            meta = _read_exact(stream, (size + 511) & ~511, label, "an extended header")[:size]
            if typeflag == b"L":
                long_name = meta.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            elif typeflag == b"x":
                pax = _pax_records(meta)
            continue
        text = long_name if long_name is not None else name.decode("utf-8", "surrogateescape")
        text = pax.get("path", text)
        if "size" in pax:
            try:
                size = int(pax["size"])
            except ValueError:
                raise ArchiveError(label, f"bad pax size {pax['size']!r}") from None
        long_name, pax = None, {}
        kind = ("file" if typeflag in _FILE_TYPES else "dir" if typeflag == b"5"
                else "link" if typeflag in _LINK_TYPES else "other")
        data_size = 0 if typeflag in _NO_DATA_TYPES else size
        reader = _MemberReader(stream, data_size, label, text)
        try:
            yield TarMember(text, kind, size, _problem(text, kind, size, limits),
                            reader if kind == "file" else None)
            reader.finish()
        except ArchiveLimitError as error:
            if error.member is not None:
                raise
            raise ArchiveLimitError(error.archive, error.reason, text) from None


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
