"""Extract the chosen files of a (compressed) tar archive, refusing what could harm the disk.

A downloaded archive is untrusted. :func:`extract_tar` streams it once through
:mod:`localglobal.io.tar` (which meters decompression: total size and compression
ratio caps stop a decompression bomb with an
:class:`~localglobal.errors.ArchiveLimitError`) and

- refuses the **whole** archive when any member's path is absolute or climbs out
  with ``..`` (chosen or not: such an archive is not what it claims to be);
- refuses links, devices and FIFOs, and members over the per-member cap, among the
  members it is asked to extract (elsewhere they are skipped, never written);
- writes each file through a temporary name in its folder, hashing it on the way,
  and checks that every target lies inside the destination folder.

Which members to extract, and where, is the caller's ``target`` function.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from localglobal.errors import ArchiveError
from localglobal.io.atomic import atomic_path
from localglobal.io.tar import TarLimits, TarMember, is_unsafe_member, iter_tar, open_archive

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class ExtractedFile:
    """One extracted member: its name in the archive, where it went, its SHA-256 and size."""

    name: PurePosixPath
    path: Path
    sha256: str
    size: int


def _copy(member: TarMember, target: Path) -> tuple[str, int]:
    """Stream a member into ``target`` through a temporary file; (sha256, bytes)."""
    digest, size = hashlib.sha256(), 0
    with atomic_path(target) as tmp, open(tmp, "wb") as out:
        while chunk := member.read(CHUNK_BYTES):
            size += len(chunk)
            out.write(chunk)
            digest.update(chunk)
    return digest.hexdigest(), size


def _inside(root: Path, target: Path) -> bool:
    return target.resolve().is_relative_to(root.resolve())


def extract_tar(archive: str | os.PathLike[str], root: str | os.PathLike[str],
                target: Callable[[PurePosixPath], Path | None],
                limits: TarLimits | None = None) -> list[ExtractedFile]:
    """Extract the members ``target`` chooses from a tar (plain, gz, bz2 or xz) archive.

    Parameters
    ----------
    archive : path
        The archive, read once as a stream.
    root : path
        Folder every extracted file must lie inside.
    target : callable
        Called with each member's (safe, relative) path; returns the path to write
        the member to, inside ``root``, or None to skip it.
    limits : TarLimits, optional
        Per-member, total and ratio caps (default :class:`~localglobal.io.tar.TarLimits`).

    Returns
    -------
    list of ExtractedFile
        The files written, in archive order.

    Raises
    ------
    ArchiveError
        Not a readable tar archive, or a member breaks a rule of the module docstring.
        Files written before stay: extract into a staging folder and discard it on error.
    ArchiveLimitError
        The archive decompresses past the total or ratio cap.
    """
    archive, root = Path(archive), Path(root)
    limits = limits or TarLimits()
    extracted: list[ExtractedFile] = []
    with open_archive(archive, limits=limits) as stream:
        for member in iter_tar(stream, str(archive), limits):
            if is_unsafe_member(member.name):
                raise ArchiveError(str(archive), "absolute or climbs out of its folder (..): "
                                   "archive refused", member.name)
            name = PurePosixPath(member.name)
            destination = target(name)
            if destination is None or member.kind == "dir":
                continue
            if member.kind != "file" or member.problem:
                raise ArchiveError(str(archive), member.problem or "a special file: refused",
                                   member.name)
            if not _inside(root, destination):
                raise ArchiveError(str(archive), f"would be written outside {root}",
                                   member.name)
            sha, size = _copy(member, destination)
            extracted.append(ExtractedFile(name, destination, sha, size))
    return extracted
