"""SHA-256 of files: the expected-value conventions, checks, and remembered digests.

An expected checksum is a full 64-digit SHA-256 or a leading prefix of one (torch hub
file names carry the first 8 hex digits); ``None`` or an empty string means "not
checked". Hashing a large file costs seconds, so :func:`known_sha256` remembers a
file's digest by its size and modification time, and :class:`DigestRecord` keeps the
digest a file had when it was first downloaded, for files whose checksums nobody
publishes. :mod:`localglobal.io.download` verifies every download with these.

>>> sha256_matches("c8e5653e" + "0" * 56, "C8E5653E")
True
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from localglobal.errors import ChecksumError, LocalglobalError
from localglobal.io.atomic import read_json, write_json

CHUNK_BYTES = 1 << 20
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_HASHED_NAME = re.compile(r"-([0-9a-f]{8,64})\.")
"""A file name ending in ``-<sha256 prefix>.<ext>`` (torch hub's convention)."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def normalise_sha256(expected: str | None) -> str | None:
    """Lower-case an expected checksum; ``None``/empty means "not checked".

    Raises
    ------
    ValueError
        Something that is not hex or is longer than 64 digits.
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


def describe_expected(expected: str | None) -> str:
    """``full hash <digest>`` or ``prefix <digits>``, for messages."""
    expected = normalise_sha256(expected)
    return f"{'full hash' if len(expected or '') == 64 else 'prefix'} {expected}"


def hashed_name_prefix(filename: str) -> str | None:
    """The SHA-256 prefix a file name carries (``resnet50-0676ba61.pth``), if any."""
    match = _HASHED_NAME.search(filename)
    return match.group(1) if match else None


def known_sha256(path: str | os.PathLike[str], memo: Path | None = None) -> str:
    """A file's full SHA-256, hashed only when the file is new or changed.

    Parameters
    ----------
    path : path-like
        An existing file.
    memo : Path, optional
        A JSON file remembering digests under the file's absolute path, with its size
        and modification time; a file whose size or mtime changed is hashed again. The
        memo is a convenience: when it cannot be read it is rebuilt, when it cannot be
        written the digest is still returned. ``None`` hashes every time.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    target = Path(path).expanduser().resolve()
    if memo is None:
        return sha256_file(target)
    stat = target.stat()
    try:
        known = read_json(memo) if memo.is_file() else {}
    except (LocalglobalError, OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    entry = known.get(str(target))
    if isinstance(entry, dict) and entry.get("size") == stat.st_size \
            and entry.get("mtime_ns") == stat.st_mtime_ns and entry.get("sha256"):
        return str(entry["sha256"])
    digest = sha256_file(target)
    known[str(target)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    # best effort: a read-only cache only costs the next use one more hash
    with contextlib.suppress(OSError, LocalglobalError):
        write_json(memo, known)
    return digest


def verify_file(path: str | os.PathLike[str], expected: str | None, *,
                memo: Path | None = None, advice: str | None = None) -> str:
    """Check a file's SHA-256 against ``expected``; return the full digest.

    Parameters
    ----------
    path : path-like
        The file.
    expected : str or None
        A full SHA-256 or a leading prefix; ``None`` checks nothing.
    memo : Path, optional
        Where digests are remembered (see :func:`known_sha256`).
    advice : str, optional
        What to do about a mismatch, appended to the message.

    Raises
    ------
    ChecksumError
        Naming the file, the expected and the actual value.
    """
    actual = known_sha256(path, memo)
    if not sha256_matches(actual, expected):
        raise ChecksumError(f"{path}: SHA-256 is {actual}, expected "
                            f"{describe_expected(expected)}" + (f"; {advice}" if advice else ""))
    return actual


@dataclass(frozen=True)
class DigestRecord:
    """The SHA-256 of files whose checksums nobody publishes, recorded at first download.

    A JSON file mapping a name to ``{"sha256", "bytes", "url", "recorded"}``: the first
    download of a name records its digest, and every later copy of it (a new download,
    a file put in place by hand) must match it, so that a file changed on the server or
    on the disk is noticed.
    """

    path: Path

    def read(self) -> dict[str, dict]:
        """Every recorded entry; empty when nothing is recorded yet.

        Raises
        ------
        ChecksumError
            The record exists but cannot be read (naming it and the way out).
        """
        if not self.path.is_file():
            return {}
        try:
            record = read_json(self.path)
        except (OSError, ValueError, LocalglobalError) as error:
            raise ChecksumError(f"{self.path}: unreadable record of archive digests "
                                f"({error}); repair or delete it (deleting it trusts the "
                                "next download)") from None
        return record if isinstance(record, dict) else {}

    def sha256(self, name: str) -> str | None:
        """The digest recorded for ``name``, if any."""
        return self.read().get(name, {}).get("sha256")

    def check(self, name: str, file: Path, digest: str) -> bool:
        """Check a file's digest against the one recorded for ``name``.

        Returns
        -------
        bool
            True when a digest was recorded (and matched); False when none is yet.

        Raises
        ------
        ChecksumError
            The digests differ (naming the file, both digests and the fix).
        """
        known = self.sha256(name)
        if known and known != digest:
            raise ChecksumError(
                f"{file}: SHA-256 is {digest}, but {file.name} had {known} when first "
                f"downloaded (recorded in {self.path.name}); the source or the file "
                "changed: delete the file to download it again, or the record entry to "
                "trust the new file")
        return bool(known)

    def add(self, name: str, file: Path, digest: str, url: str) -> None:
        """Record ``name``'s digest (re-reading the record: others may have added since)."""
        record = self.read()
        record[name] = {"sha256": digest, "bytes": file.stat().st_size, "url": url,
                        "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_json(self.path, record)
