"""Download the Geirhos stimuli and human raw data once, verify every file, work offline.

Two public GitHub archives, at pinned commits (:data:`STIMULI`, :data:`HUMAN_DATA`):
the stimuli of rgeirhos/texture-vs-shape (CC BY 4.0) and the raw trials of
bethgelab/model-vs-human. Of each, only the folders the benchmark reads are kept
(``stimuli/{style-transfer-preprocessed-512,edges,filled-silhouettes}`` and
``raw-data/``: every human trial of model-vs-human's 17 experiments), and every kept
file is checked against the SHA-256 and size in ``geirhos-checksums.txt`` (shipped
with the package), since a GitHub archive's own bytes are not stable over time.

Layout of the cache folder (``<cache>/geirhos``, or ``to``)::

    texture-vs-shape-<commit>/stimuli/…        what discover_stimuli reads
    model-vs-human-<commit>/raw-data/…         what read_human_trials reads
    archives/<repository>-<commit>.tar.gz      archives put here by hand are used as they are

A source is unpacked into a hidden staging folder and renamed into place only when
every file has checked out, with a ``.geirhos-complete.json`` record; once there it
is used without the network. The archives' base URL is ``https://github.com``,
overridden by ``mirror`` or ``$LOCALGLOBAL_GEIRHOS_MIRROR`` (a server with the same
``<owner>/<repository>/archive/<commit>.tar.gz`` paths).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from localglobal.errors import ChecksumError, DownloadError, DownloadUnavailableError
from localglobal.io.atomic import write_json
from localglobal.io.checksums import sha256_file
from localglobal.io.download import (
    OFFLINE_REASON,
    cache_dir,
    download,
    offline,
    unavailable,
    unavailable_all,
)
from localglobal.io.safe_tar import extract_tar
from localglobal.io.tar import TarLimits

MIRROR_ENV = "LOCALGLOBAL_GEIRHOS_MIRROR"
DEFAULT_MIRROR = "https://github.com"
CHECKSUMS = Path(__file__).with_name("geirhos-checksums.txt")
"""The shipped list: ``sha256 bytes repository path`` per line, ``#`` comments."""
MARKER = ".geirhos-complete.json"
LIMITS = TarLimits(max_member_bytes=64 << 20, max_total_bytes=4 << 30)
"""Caps for unpacking: the largest kept file is well under 1 MiB, the archives well
under 1 GiB decompressed."""


@dataclass(frozen=True)
class GeirhosSource:
    """One pinned repository archive and the folders of it that are kept."""

    repo: str
    commit: str
    keep: tuple[str, ...]

    @property
    def top(self) -> str:
        """The archive's top folder, ``<repository>-<commit>``."""
        return f"{self.repo.split('/')[1]}-{self.commit}"

    def url(self, mirror: str) -> str:
        """The archive's URL under ``mirror``."""
        return f"{mirror.rstrip('/')}/{self.repo}/archive/{self.commit}.tar.gz"

    def kept(self, inner: PurePosixPath) -> bool:
        """Whether a path inside the repository lies in a kept folder."""
        text = inner.as_posix()
        return any(text.startswith(prefix + "/") for prefix in self.keep)


STIMULI = GeirhosSource(
    "rgeirhos/texture-vs-shape", "ccd0c01d42c0a8a834e90ec141e7f24fa915dc23",
    ("stimuli/style-transfer-preprocessed-512", "stimuli/edges", "stimuli/filled-silhouettes"))
HUMAN_DATA = GeirhosSource(
    "bethgelab/model-vs-human", "79ed7cd1d9ac3a114e71b6638f0a98bdd627316c", ("raw-data",))
SOURCES = (STIMULI, HUMAN_DATA)


class GeirhosPaths(NamedTuple):
    """Where the fetched data lies: ``root`` works for both readers."""

    root: Path
    stimuli: Path
    raw_data: Path


Checksums = Mapping[str, Mapping[str, tuple[str, int]]]
"""repository → path in it → (sha256, bytes)."""


def load_checksums(path: str | os.PathLike[str] | None = None
                   ) -> dict[str, dict[str, tuple[str, int]]]:
    """Read a checksum list (default: the shipped one).

    Parameters
    ----------
    path : path, optional
        A file of ``sha256 bytes repository path`` lines (``#`` starts a comment).

    Returns
    -------
    dict
        repository → path → (sha256, bytes).

    Raises
    ------
    DownloadError
        A line that is not ``sha256 bytes repository path`` (naming file and line), or
        a file that is not text.
    """
    path = Path(path) if path is not None else CHECKSUMS
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DownloadError(f"{path}: not a text file of 'sha256 bytes repository "
                                "path' lines") from None
    table: dict[str, dict[str, tuple[str, int]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(maxsplit=3)
        if len(parts) != 4 or len(parts[0]) != 64 or not parts[1].isdigit():
            raise DownloadError(f"{path}:{number}: expected 'sha256 bytes repository "
                                    f"path', got {line!r}")
        table.setdefault(parts[2], {})[parts[3]] = (parts[0].lower(), int(parts[1]))
    return table


def _expected(source: GeirhosSource, checksums: Checksums) -> dict[str, tuple[str, int]]:
    listed = checksums.get(source.repo, {})
    return {p: v for p, v in listed.items() if source.kept(PurePosixPath(p))}


def _is_complete(final: Path, source: GeirhosSource, expected: Mapping[str, tuple[str, int]],
                 verify: bool) -> bool:
    """Whether an unpacked source is whole (sizes, or with ``verify`` the SHA-256 too)."""
    try:
        record = json.loads((final / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if record.get("commit") != source.commit or record.get("files") != len(expected):
        return False
    for inner, (sha, size) in expected.items():
        path = final / inner
        if not path.is_file() or path.stat().st_size != size:
            return False
        if verify and sha256_file(path) != sha:
            raise ChecksumError(f"{path}: SHA-256 does not match {sha}; delete {final} and "
                                "fetch again")
    return True


def unpack_source(archive: Path, root: Path, source: GeirhosSource,
                  expected: Mapping[str, tuple[str, int]],
                  limits: TarLimits | None = None) -> Path:
    """Unpack and verify one archive into ``root/<top>``; return that folder.

    Raises
    ------
    ArchiveError
        A member with a path out of its folder, a link, or too many bytes; an archive
        that decompresses past the caps (a decompression bomb, ``ArchiveLimitError``).
    ChecksumError
        Kept files whose size or SHA-256 differs from the list (all named).
    DownloadError
        Listed files the archive lacks.
    """
    if not expected:
        raise DownloadError(f"the checksum list names no file of {source.repo}")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{source.top}.", suffix=".partial", dir=root))
    try:
        def target(name: PurePosixPath) -> Path | None:
            if not name.parts or name.parts[0] != source.top:
                return None
            inner = PurePosixPath(*name.parts[1:])
            return staging / inner if inner.as_posix() in expected else None

        files = extract_tar(archive, staging, target, limits or LIMITS)
        found = {PurePosixPath(*f.name.parts[1:]).as_posix(): f for f in files}
        bad = [f"{p}: {f.size} bytes, SHA-256 {f.sha256}; expected {expected[p][1]} bytes, "
               f"{expected[p][0]}" for p, f in found.items()
               if (f.sha256, f.size) != expected[p]]
        if bad:
            raise ChecksumError(f"{archive}: {len(bad)} file(s) do not match the checksum "
                                "list:\n  " + "\n  ".join(bad[:20]))
        missing = sorted(set(expected) - set(found))
        if missing:
            raise DownloadError(f"{archive}: {len(missing)} listed file(s) are not in the "
                                    "archive, e.g. " + ", ".join(missing[:5]))
        write_json(staging / MARKER, {"repo": source.repo, "commit": source.commit,
                                      "files": len(expected)})
        final = root / source.top
        shutil.rmtree(final, ignore_errors=True)
        try:
            os.replace(staging, final)
        except OSError:
            # Another process unpacked the same source meanwhile: use its copy if whole.
            if not _is_complete(final, source, expected, verify=False):
                raise
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _obtain_archive(source: GeirhosSource, archives: Path, mirror: str,
                    progress: bool) -> tuple[Path, bool]:
    """The archive's path and whether it was downloaded now (a placed one is kept)."""
    archive = archives / f"{source.top}.tar.gz"
    if archive.is_file():
        return archive, False
    download(source.url(mirror), archive, None, progress=progress,
             hint=f"(or set {MIRROR_ENV} to a mirror).")
    return archive, True


def fetch_sources(root: Path, sources: tuple[GeirhosSource, ...], *, mirror: str | None = None,
                  checksums: str | os.PathLike[str] | None = None, verify: bool = False,
                  keep_archives: bool = False, progress: bool = True,
                  limits: TarLimits | None = None) -> None:
    """Download, verify and unpack each of ``sources`` into ``root`` (see :func:`fetch_geirhos`).

    Raises
    ------
    DownloadUnavailableError
        Some source is neither unpacked nor downloadable (all of them named).
    ChecksumError, ArchiveError, DownloadError
        See :func:`unpack_source`.
    """
    mirror = mirror or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR
    table = load_checksums(checksums)
    archives = root / "archives"
    missing: list[DownloadUnavailableError] = []
    for source in sources:
        expected = _expected(source, table)
        if _is_complete(root / source.top, source, expected, verify):
            continue
        archive = archives / f"{source.top}.tar.gz"
        if offline() and not archive.is_file():
            missing.append(unavailable(source.url(mirror), archive, OFFLINE_REASON))
            continue
        try:
            archive, downloaded = _obtain_archive(source, archives, mirror, progress)
        except DownloadUnavailableError as error:
            missing.append(error)
            continue
        try:
            unpack_source(archive, root, source, expected, limits)
        except BaseException:
            if downloaded:  # a bad download is not kept for the next, offline, attempt
                archive.unlink(missing_ok=True)
            raise
        if downloaded and not keep_archives:
            archive.unlink(missing_ok=True)
    if missing:
        raise unavailable_all(
            "the Geirhos data", missing,
            f"Download each archive on a machine with network access and put it in:\n  "
            f"{archives}\n(its name as shown); the next fetch unpacks it without the network. "
            f"A mirror of github.com is set by {MIRROR_ENV}.")


def fetch_geirhos(to: str | os.PathLike[str] | None = None, *, mirror: str | None = None,
                  checksums: str | os.PathLike[str] | None = None, verify: bool = False,
                  keep_archives: bool = False, progress: bool = True,
                  limits: TarLimits | None = None) -> GeirhosPaths:
    """The Geirhos stimuli and human raw data, downloaded and verified once.

    Parameters
    ----------
    to : path, optional
        Folder to keep them in (default ``<cache>/geirhos``, the user cache folder or
        ``$LOCALGLOBAL_CACHE``).
    mirror : str, optional
        Base URL of the archives (default ``$LOCALGLOBAL_GEIRHOS_MIRROR``, else
        ``https://github.com``).
    checksums : path, optional
        A checksum list other than the shipped one.
    verify : bool
        Re-hash already unpacked files (otherwise their presence and sizes are checked).
    keep_archives : bool
        Keep downloaded archives under ``archives/`` after unpacking.
    progress : bool
        Show download progress.
    limits : TarLimits, optional
        Caps for unpacking (default :data:`LIMITS`).

    Returns
    -------
    GeirhosPaths
        ``root`` (give it to :func:`~localglobal.data.geirhos_stimuli.discover_stimuli` and
        :func:`~localglobal.data.geirhos_humans.read_human_trials`), ``stimuli``, ``raw_data``.

    Raises
    ------
    DownloadUnavailableError
        Not cached, and offline or unreachable: names each URL and the folder to put
        the archives in.
    ChecksumError, ArchiveError, DownloadError
        See :func:`unpack_source`.
    """
    root = Path(to).expanduser() if to is not None else cache_dir() / "geirhos"
    fetch_sources(root, SOURCES, mirror=mirror, checksums=checksums, verify=verify,
                  keep_archives=keep_archives, progress=progress, limits=limits)
    return GeirhosPaths(root, root / STIMULI.top / "stimuli", root / HUMAN_DATA.top / "raw-data")
