"""Download model-vs-human's datasets and human raw data once, verify them, work offline.

The stimuli come from model-vs-human's release, one archive per dataset
(:data:`RELEASE`: ``…/releases/download/v0.1/<name>.tar.gz``, holding
``<name>/dnn/session-N/<image>.png``, or ``<name>/<category>/<image>.png`` for
cue-conflict, edge and silhouette); the human raw data come from the repository at the
commit the Geirhos benchmark pins (:data:`~localglobal.data.geirhos_fetch.HUMAN_DATA`,
every file verified against the shipped checksum list).

No checksums of the release archives are published, so the first download of each
archive **records** its SHA-256 (and size) in ``archives-sha256.json`` in the cache
folder, and every later use checks against that record: a new download, an archive
put in ``archives/`` by hand, and the unpacked folder (whose marker names the archive
digest it came from) must all match it, or the fetch fails naming both digests. The
result says, per dataset, whether its digest was recorded now or verified.

Layout of the cache folder (``<cache>/model-vs-human``, or ``to``)::

    datasets/<name>/…                           what the geirhos stage reads (--stimuli)
    model-vs-human-<commit>/raw-data/<name>/…   the human trials (--humans)
    archives/<name>.tar.gz                      archives put here by hand are used
    archives-sha256.json                        the digests recorded at first download

A dataset is unpacked into a hidden staging folder (image files under ``<name>/``
only; links, absolute paths and ``..`` refuse the archive) and renamed into place
whole. The base URL is ``https://github.com``, overridden by ``mirror`` or
``$LOCALGLOBAL_GEIRHOS_MIRROR``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from localglobal.data.geirhos_fetch import DEFAULT_MIRROR, HUMAN_DATA, MIRROR_ENV, fetch_sources
from localglobal.data.model_vs_human import DATASETS
from localglobal.errors import ChecksumError, DownloadUnavailableError, UnknownNameError
from localglobal.io.atomic import write_json
from localglobal.io.checksums import DigestRecord, sha256_file
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

RELEASE = "bethgelab/model-vs-human/releases/download/v0.1"
"""Where the release archives lie under the base URL."""
RECORD = "archives-sha256.json"
MARKER = ".model-vs-human-complete.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
LIMITS = TarLimits(max_member_bytes=16 << 20, max_total_bytes=8 << 30)
"""Caps for unpacking: a stimulus is a 224 × 224 PNG (well under 1 MiB), a dataset
well under 1 GiB."""


@dataclass(frozen=True)
class FetchedDataset:
    """One dataset on disk: its folder, image count, archive digest and how it was checked."""

    name: str
    folder: Path
    images: int
    sha256: str
    status: str
    """``recorded`` (first download: digest recorded now), ``verified`` (checked
    against the record), or ``cached`` (unpacked before from the recorded archive)."""


@dataclass(frozen=True)
class ModelVsHumanPaths:
    """Where the fetched data lies: ``root`` serves as both --stimuli and --humans."""

    root: Path
    datasets: tuple[FetchedDataset, ...]
    raw_data: Path


def release_url(name: str, mirror: str | None = None) -> str:
    """The release archive of dataset ``name`` under ``mirror`` (default github.com)."""
    base = (mirror or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR).rstrip("/")
    return f"{base}/{RELEASE}/{name}.tar.gz"


def _complete(final: Path, digest: str | None) -> int | None:
    """The image count of an unpacked dataset made from the archive ``digest``; None if not."""
    try:
        marker = json.loads((final / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if digest is None or marker.get("sha256") != digest:
        return None
    files = marker.get("files", {})
    for inner, size in files.items():
        path = final / inner
        if not path.is_file() or path.stat().st_size != size:
            return None
    return len(files)


def _unpack(archive: Path, folder: Path, name: str, digest: str, limits: TarLimits) -> int:
    """Unpack ``<name>/``'s images of ``archive`` into ``folder/<name>``; the image count."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=folder))
    try:
        def target(member: PurePosixPath) -> Path | None:
            if len(member.parts) < 2 or member.parts[0] != name:
                return None
            if member.suffix.lower() not in IMAGE_SUFFIXES or member.name.startswith("."):
                return None
            return staging.joinpath(*member.parts[1:])

        files = extract_tar(archive, staging, target, limits)
        if not files:
            raise ChecksumError(f"{archive}: no images under {name}/ in this archive")
        write_json(staging / MARKER, {
            "name": name, "sha256": digest,
            "files": {PurePosixPath(*f.name.parts[1:]).as_posix(): f.size for f in files}})
        final = folder / name
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        return len(files)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch_one(root: Path, name: str, mirror: str | None, keep_archives: bool, progress: bool,
               limits: TarLimits, missing: list[DownloadUnavailableError]
               ) -> FetchedDataset | None:
    record = DigestRecord(root / RECORD)
    folder = root / "datasets"
    known = record.sha256(name)
    count = _complete(folder / name, known)
    if count is not None:
        return FetchedDataset(name, folder / name, count, known, "cached")  # type: ignore[arg-type]
    archive = root / "archives" / f"{name}.tar.gz"
    url = release_url(name, mirror)
    downloaded = False
    if not archive.is_file():
        if offline():
            missing.append(unavailable(url, archive, OFFLINE_REASON))
            return None
        try:
            download(url, archive, known, progress=progress,
                     hint=f"(or set {MIRROR_ENV} to a mirror).")
        except DownloadUnavailableError as error:
            missing.append(error)
            return None
        downloaded = True
    try:
        digest = sha256_file(archive)
        verified = record.check(name, archive, digest)
        count = _unpack(archive, folder, name, digest, limits)
    except BaseException:
        if downloaded:
            archive.unlink(missing_ok=True)
        raise
    if not verified:
        record.add(name, archive, digest, url)
    if downloaded and not keep_archives:
        archive.unlink(missing_ok=True)
    return FetchedDataset(name, folder / name, count, digest,
                          "verified" if verified else "recorded")


def fetch_model_vs_human(to: str | os.PathLike[str] | None = None,
                         datasets: Sequence[str] | None = None, *, mirror: str | None = None,
                         checksums: str | os.PathLike[str] | None = None,
                         keep_archives: bool = False, progress: bool = True,
                         limits: TarLimits | None = None) -> ModelVsHumanPaths:
    """model-vs-human's datasets and every human trial, downloaded and verified once.

    Parameters
    ----------
    to : path, optional
        Folder to keep them in (default ``<cache>/model-vs-human``).
    datasets : sequence of str, optional
        Which of the 17 datasets (default all).
    mirror : str, optional
        Base URL instead of ``https://github.com`` (default ``$LOCALGLOBAL_GEIRHOS_MIRROR``).
    checksums : path, optional
        A checksum list for the raw data other than the shipped one.
    keep_archives : bool
        Keep downloaded archives under ``archives/``.
    progress : bool
        Show download progress.
    limits : TarLimits, optional
        Caps for unpacking (default :data:`LIMITS`).

    Returns
    -------
    ModelVsHumanPaths
        ``root`` (give it to the geirhos stage as stimuli and humans), each dataset's
        folder, image count, digest and status, and the raw-data folder.

    Raises
    ------
    UnknownNameError
        A dataset name that is not one of the 17.
    DownloadUnavailableError
        Something is neither cached nor downloadable: names each URL and where to put it.
    ChecksumError
        An archive differs from the digest recorded at its first download.
    ArchiveError
        An archive that could escape its folder or decompresses past the caps.
    """
    names = list(DATASETS) if datasets is None else list(dict.fromkeys(datasets))
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise UnknownNameError(f"unknown model-vs-human datasets {unknown}; known: "
                         f"{', '.join(DATASETS)}")
    root = Path(to).expanduser() if to is not None else cache_dir() / "model-vs-human"
    missing: list[DownloadUnavailableError] = []
    fetched = [_fetch_one(root, name, mirror, keep_archives, progress, limits or LIMITS, missing)
               for name in names]
    try:
        fetch_sources(root, (HUMAN_DATA,), mirror=mirror, checksums=checksums,
                      progress=progress)
    except DownloadUnavailableError as error:
        missing.append(error)
    if missing:
        raise unavailable_all(
            "model-vs-human's data", missing,
            "Download each file on a machine with network access and put it where the "
            "arrow points; the next fetch unpacks it without the network. A mirror of "
            f"github.com is set by {MIRROR_ENV}.")
    return ModelVsHumanPaths(root, tuple(f for f in fetched if f is not None),
                             root / HUMAN_DATA.top / "raw-data")


__all__ = ["RELEASE", "FetchedDataset", "ModelVsHumanPaths", "fetch_model_vs_human",
           "release_url"]
