"""Stable digests: of parameters, of input files and folders, of a stage's outputs."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from localglobal.errors import LocalglobalError

_CHUNK = 1 << 20


def params_hash(params: Any) -> str:
    """A stable SHA-256 of JSON-serialisable parameters (key order does not matter).

    Parameters
    ----------
    params : Any
        Nested dicts, lists and scalars; other objects are hashed by ``str()``.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    text = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str:
    """BLAKE2b of a file's bytes (32 hex digits), read in 1 MiB chunks."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _walk_files(folder: Path) -> list[tuple[str, os.stat_result]]:
    """Every regular file under ``folder`` with its stat; symbolic links are not followed."""
    found: list[tuple[str, os.stat_result]] = []

    def refuse(error: OSError) -> None:
        raise LocalglobalError(f"{error.filename}: cannot be listed ({error.strerror})")

    for root, dirs, files in os.walk(folder, onerror=refuse):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            try:
                stat = os.stat(full)
            except OSError as error:  # a dangling link or a symlink loop
                raise LocalglobalError(
                    f"{full}: cannot be read ({error.strerror}); remove or fix the link"
                ) from None
            found.append((os.path.relpath(full, folder), stat))
    return found


def input_fingerprint(path: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """What identifies an input file or folder cheaply: size, count and newest mtime.

    Used for the user's inputs (images, annotation archives, weights), which can be
    large: a changed file changes its size or modification time.

    Parameters
    ----------
    path : path-like or None
        A file or a folder; ``None`` gives ``None``.

    Returns
    -------
    dict or None
        ``path`` plus ``size`` and ``mtime`` (file) or ``files``, ``size`` and ``mtime``
        (folder), or ``missing: True``.
    """
    if not path:
        return None
    target = Path(path)
    if not target.exists():
        return {"path": str(target), "missing": True}
    if target.is_file():
        stat = target.stat()
        return {"path": str(target), "size": stat.st_size, "mtime": int(stat.st_mtime)}
    listing = _walk_files(target)
    return {
        "path": str(target),
        "files": len(listing),
        "size": sum(stat.st_size for _, stat in listing),
        "mtime": max((int(stat.st_mtime) for _, stat in listing), default=0),
    }


FileEntries = dict[str, tuple[int, int, str]]
"""A folder's files: relative path → (size, modification time in ns, content digest)."""


def folder_digest(path: Path, known: FileEntries | None = None
                  ) -> tuple[dict[str, Any], FileEntries]:
    """The content digest of a folder and the per-file digests it was made of.

    Every file's bytes count: a file changed at the same size is noticed. A file whose
    size and modification time are those ``known`` recorded is not read again, so that
    checking a large, unchanged folder costs one ``stat`` per file.

    Parameters
    ----------
    path : Path
        The folder.
    known : dict, optional
        Per-file entries recorded when the folder was written.

    Returns
    -------
    (dict, dict)
        ``{"files", "size", "digest", "content": True}`` and the entries.
    """
    entries: FileEntries = {}
    for name, stat in _walk_files(path):
        previous = (known or {}).get(name)
        if previous is not None and tuple(previous[:2]) == (stat.st_size, stat.st_mtime_ns):
            digest = str(previous[2])
        else:
            digest = file_digest(path / name)
        entries[name] = (stat.st_size, stat.st_mtime_ns, digest)
    listing = sorted((name, size, digest) for name, (size, _, digest) in entries.items())
    summary = {"files": len(listing), "size": sum(size for _, size, _ in listing),
               "digest": params_hash(listing)[:32], "content": True}
    return summary, entries


def output_digest(path: Path, known: FileEntries | None = None) -> dict[str, Any] | None:
    """The digest of a stage's output, recorded in the manifest and checked later.

    A file is hashed whole (tables, maps: a truncated or edited file is noticed); a
    folder by its files' contents (:func:`folder_digest`, which ``known`` speeds up).

    Returns
    -------
    dict or None
        ``{"size", "digest"}`` for a file, ``{"files", "size", "digest", "content"}``
        for a folder, ``None`` when the path does not exist.
    """
    if path.is_file():
        return {"size": path.stat().st_size, "digest": file_digest(path)}
    if path.is_dir():
        return folder_digest(path, known)[0]
    return None
