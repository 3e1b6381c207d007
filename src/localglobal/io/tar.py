"""Reading tar archives safely: streamed, never extracted, with size and ratio caps.

:func:`open_archive` decompresses gzip, bzip2 and xz as a stream, stopping at the total
and compression ratio caps, so that a decompression bomb costs at most the caps;
:func:`iter_tar` streams the members through :mod:`tarfile`'s forward-only mode and
refuses by name absolute paths, paths that climb out with ``..``, links and files over
the member cap (:attr:`TarMember.problem`).
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from localglobal.errors import ArchiveError, ArchiveLimitError, describe_error, is_machine_error

_DECOMPRESSORS = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
_MIB = 1 << 20


@dataclass(frozen=True)
class TarLimits:
    """Caps on what reading an archive may cost; the defaults are generous.

    ``max_member_bytes`` bounds a member, and what an archive inside an archive may
    decompress to; ``max_total_bytes`` what all the compressed archives of one source
    may decompress to; ``max_ratio`` the bytes decompressed per compressed byte (XML
    tars reach 50, a gzip bomb 1000), checked past ``ratio_after_bytes`` decompressed
    bytes so that a small tar, mostly padding, passes.
    """

    max_member_bytes: int = 256 * _MIB
    max_total_bytes: int = 64 * 1024 * _MIB
    max_ratio: float = 250.0
    ratio_after_bytes: int = 4 * _MIB


@dataclass
class DecompressionBudget:
    """Bytes decompressed so far from one source: its archives and the ones nested in them."""

    used: int = 0


def is_unsafe_member(name: str) -> bool:
    """Whether an archive member's path is absolute or climbs out with ``..``."""
    return (not name or name[0] in "/\\" or re.match(r"[A-Za-z]:", name) is not None
            or (".." in name and ".." in re.split(r"[\\/]+", name)))


def _size(n: float) -> str:
    return f"{n / _MIB:g} MiB" if n >= _MIB else f"{n:g} bytes"


class _Metered:
    """A decompressed stream that stops at the caps and names its archive when corrupt."""

    def __init__(self, raw: IO[bytes], opener: Callable[[IO[bytes]], IO[bytes]], label: str,
                 limits: TarLimits, budget: DecompressionBudget, max_bytes: int):
        self.raw, self.stream, self.label, self.limits = raw, opener(raw), label, limits
        self.budget, self.max_bytes, self.produced = budget, max_bytes, 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:  # all of it, chunk by chunk: each chunk is checked
            return b"".join(iter(lambda: self.read(_MIB), b""))
        try:
            data = self.stream.read(size)
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as error:
            if is_machine_error(error) or isinstance(error, ArchiveError):
                raise
            raise ArchiveError(self.label, f"corrupt archive ({describe_error(error)})"
                               ) from None
        self.produced += len(data)
        self.budget.used += len(data)
        total, ratio = self.limits.max_total_bytes, self.limits.max_ratio
        if self.budget.used > total:
            reason = f"the source decompresses to more than the total cap of {_size(total)}"
        elif self.produced > self.max_bytes:
            reason = f"decompresses to more than the per-member cap of {_size(self.max_bytes)}"
        elif (self.produced > self.limits.ratio_after_bytes  # raw.tell(): compressed bytes
              and self.produced > ratio * max(self.raw.tell(), 1)):
            reason = f"compression ratio above the cap of {ratio:g} (a decompression bomb?)"
        else:
            return data
        raise ArchiveLimitError(self.label, reason)


@contextlib.contextmanager
def open_archive(source: str | Path | TarMember, label: str | None = None,
                 limits: TarLimits | None = None, budget: DecompressionBudget | None = None
                 ) -> Iterator[IO[bytes]]:
    """Open an archive as an uncompressed, metered stream for :func:`iter_tar`.

    Parameters
    ----------
    source : path-like or TarMember
        An archive file, or a member that is an archive (read within the outer
        iteration, it decompresses to at most ``limits.max_member_bytes``).
    label : str, optional
        How errors name it (default: the path, or the member's name).
    limits : TarLimits, optional
        The caps (default :class:`TarLimits`).
    budget : DecompressionBudget, optional
        The source's account, shared with its nested archives (default: a fresh one).

    Yields
    ------
    binary stream
        Decompressed if gzip, bzip2 or xz; read to its end (checksum) on a clean exit.
    """
    limits, budget = limits or TarLimits(), budget or DecompressionBudget()
    nested = isinstance(source, TarMember)
    label = label or (source.name if nested else str(source))  # type: ignore[union-attr]
    with contextlib.nullcontext(source) if nested else open(source, "rb") as raw:
        head = raw.peek(6)
        opener = next((o for magic, o in _DECOMPRESSORS.items() if head.startswith(magic)), None)
        cap = limits.max_member_bytes if nested else limits.max_total_bytes
        stream = _Metered(raw, opener, label, limits, budget, cap) if opener else raw
        yield stream
        while stream.read(_MIB):
            pass


@contextlib.contextmanager
def _blamed(label: str, member: str | None) -> Iterator[None]:
    """tarfile's errors as :class:`ArchiveError`; a cap passed is blamed on ``member``."""
    try:
        yield
    except ArchiveLimitError as error:
        if error.member is not None or member is None:
            raise
        raise ArchiveLimitError(error.archive, error.reason, member) from None
    except tarfile.ReadError as error:  # the only error tarfile's reading raises
        where = f"ends inside member {member!r}" if member else str(error)
        raise ArchiveError(label, f"truncated archive ({where})") from None


class TarMember:
    """One member of a tar archive, as :func:`iter_tar` streams it: its path ``name``,
    ``kind`` (``file``, ``dir``, ``link`` or ``other``), data ``size``, and the ``problem``
    that refuses it (unsafe path, a link, past the member cap), else empty."""

    def __init__(self, archive: tarfile.TarFile, info: tarfile.TarInfo, label: str,
                 limits: TarLimits):
        self.name, self.size, self._label = info.name, info.size, label
        self.kind = ("file" if info.isreg() else "dir" if info.isdir()
                     else "link" if info.islnk() or info.issym() else "other")
        self.problem = ""
        if is_unsafe_member(self.name):
            self.problem = "unsafe member path (absolute or with '..'): skipped, never extracted"
        elif self.kind == "link":
            self.problem = "a link: refused, never followed"
        elif self.kind == "file" and self.size > limits.max_member_bytes:
            self.problem = (f"{_size(self.size)}, larger than the per-member cap of "
                            f"{_size(limits.max_member_bytes)}: skipped")
        readable = self.kind == "file" and not self.problem
        self._data = archive.extractfile(info) if readable else None

    def read(self, size: int = -1) -> bytes:
        """Its data, whole or ``size`` bytes more; what is left unread is skipped."""
        with _blamed(self._label, self.name):
            return self._file().read(size)

    def peek(self, size: int = 1) -> bytes:
        """Data ahead, left to be read."""
        with _blamed(self._label, self.name):
            return self._file().peek(size)  # type: ignore[attr-defined]

    def tell(self) -> int:
        """Bytes of its data read so far."""
        return self._file().tell()

    def _file(self) -> IO[bytes]:
        if self._data is None:
            raise ArchiveError(self._label, f"no data to read ({self.problem or self.kind})",
                               self.name)
        return self._data


def iter_tar(stream: IO[bytes], label: str, limits: TarLimits | None = None
             ) -> Iterator[TarMember]:
    """Stream the members of an uncompressed tar stream, without extracting anything.

    Parameters
    ----------
    stream : binary stream
        At the archive's start (see :func:`open_archive`); read forward only.
    label : str
        How errors name the archive.
    limits : TarLimits, optional
        The per-member cap (default :class:`TarLimits`).

    Yields
    ------
    TarMember
        Every member, directories and links included (read a file before the next).

    Raises
    ------
    ArchiveError
        Not a tar archive, truncated or corrupt; :class:`ArchiveLimitError` past a cap.
    """
    limits, previous = limits or TarLimits(), None
    try:  # "r|", not "r|*": what open_archive does not decompress stays compressed
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            while True:
                with _blamed(label, previous):  # moving on skips the rest of the previous
                    info = archive.next()
                if info is None:
                    return
                archive.members.clear()  # tarfile keeps every header: memory stays flat
                yield TarMember(archive, info, label, limits)
                previous = info.name
    except tarfile.ReadError as error:  # opening: the loop raises ArchiveErrors only
        if str(error) != "empty file":  # no data at all: no members, as tar has it
            raise ArchiveError(label, f"not a tar archive ({error})") from None


def tar_bytes(members: Iterable[tuple[str, bytes]], compress: bool = True) -> bytes:
    """A tar archive, gzip-compressed by default and deterministic, of ``(name, data)``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)  # mode 0o644, no modification time
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return gzip.compress(raw, compresslevel=1, mtime=0) if compress else raw
