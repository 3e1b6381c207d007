"""Where ImageNet's bounding boxes come from, listed as a stream of XML files.

ImageNet's boxes come in several shapes, and every one of them is read here:

* the official ``Annotation.tar.gz``: an outer tar holding one archive per synset
  (``n01440764.tar.gz``), each holding XML files such as
  ``Annotation/n01440764/n01440764_18.xml``;
* an archive of XML files directly (``ILSVRC2012_bbox_train_v2.tar.gz``,
  ``ILSVRC2012_bbox_val_v3.tgz``) or one per-synset archive;
* a folder of per-synset archives, or a folder tree of XML files (the ILSVRC
  validation boxes, an extracted archive), or a mixture; or one XML file.

:func:`iter_source` streams a source once and yields every XML file
(:class:`~localglobal.data.boxes.XmlItem`, its bytes or its path) and every member it
skips (:class:`~localglobal.data.boxes.Problem`): unsafe paths, links, members stored
twice or past a cap, corrupt inner archives. Nothing is ever extracted to disk. An
archive *file* (the source, or one in the source folder) is streamed and its XML
files handed on as they are read; a corrupt one stops the reading with an
:class:`~localglobal.errors.ArchiveError` naming it. An archive *inside* an archive is
read whole (it is at most :attr:`~localglobal.io.tar.TarLimits.max_member_bytes`)
before its files are handed on, so that a corrupt one is skipped as a whole:
data decoded before a failed integrity check cannot be trusted.

:func:`read_annotations` reads a source into the boxes table in this process (the
Python API and the tests); the ``annotations`` stage does the same on shards.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd

from localglobal.data.boxes import (
    Problem,
    XmlItem,
    folder_wnid,
    read_xml_items,
    summarize,
    wnid_of_label,
)
from localglobal.errors import (
    ArchiveError,
    ArchiveLimitError,
    MissingInputError,
    describe_error,
    is_machine_error,
)
from localglobal.io.tar import (
    DecompressionBudget,
    TarLimits,
    TarMember,
    iter_tar,
    open_archive,
)

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
MAX_DEPTH = 4
"""Archives nested deeper than this inside an archive are not opened (counted as ignored)."""

Entry = XmlItem | Problem


def is_xml_name(name: str) -> bool:
    """Whether a file name ends in ``.xml`` (any case)."""
    return name[-4:].lower() == ".xml"


def is_archive_name(name: str) -> bool:
    """Whether a file name looks like a (possibly compressed) tar archive."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def source_kind(source: str | os.PathLike[str]) -> str:
    """``folder``, ``file`` (one XML file) or ``archive``."""
    path = Path(source).expanduser()
    return "folder" if path.is_dir() else "file" if is_xml_name(path.name) else "archive"


def iter_source(source: str | os.PathLike[str], limits: TarLimits | None = None
                ) -> Iterator[Entry]:
    """Every XML file of an annotation source, and every member skipped, in source order.

    Parameters
    ----------
    source : path-like
        An archive, a folder of archives and/or XML files, or one XML file.
    limits : TarLimits, optional
        The caps on reading archives (default :class:`~localglobal.io.tar.TarLimits`).

    Yields
    ------
    XmlItem or Problem
        The files to parse and what was skipped while listing them.

    Raises
    ------
    MissingInputError
        The source does not exist.
    ArchiveError
        An archive file is corrupt or truncated (raised where the damage is met).
    """
    path = Path(source).expanduser()
    if not path.exists():
        raise MissingInputError(f"{path}: annotation source not found")
    limits = limits or TarLimits()
    budget = DecompressionBudget()
    kind = source_kind(path)
    if kind == "folder":
        yield from _iter_folder(path, limits, budget)
    elif kind == "file":
        yield XmlItem(path.name, path.name, folder_wnid(path.name), path=str(path))
    else:
        yield from _iter_archive_file(path, "", path.name, limits, budget)


def _iter_folder(path: Path, limits: TarLimits, budget: DecompressionBudget
                 ) -> Iterator[Entry]:
    """The archives, then the XML files, under a folder (sorted: the order is stable)."""
    archives: list[str] = []
    xml_files: list[str] = []
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        relfolder = os.path.relpath(folder, path)
        for name in sorted(files):
            rel = name if relfolder == "." else f"{relfolder}/{name}".replace(os.sep, "/")
            if is_archive_name(name):
                archives.append(rel)
            elif is_xml_name(name):
                xml_files.append(rel)
    for rel in archives:
        yield from _iter_archive_file(path / rel, rel, rel, limits, budget)
    for rel in xml_files:
        yield XmlItem(rel, rel, folder_wnid(rel), path=str(path / rel))


def _iter_archive_file(path: Path, source_prefix: str, problem_prefix: str,
                       limits: TarLimits, budget: DecompressionBudget) -> Iterator[Entry]:
    """Stream an archive file; a cap stops it (reported), corruption raises."""
    label = str(path)
    try:
        with open_archive(path, label, limits, budget) as stream:
            yield from _members(stream, label, source_prefix, problem_prefix,
                                wnid_of_label(path.name), limits, budget, 0)
    except ArchiveLimitError as error:
        where = f" at member {error.member}" if error.member else ""
        yield Problem("archive", problem_prefix, f"reading stopped{where}: {error.reason}; "
                      "the rest of the archive was not read")
    except OSError as error:
        if is_machine_error(error):
            raise
        yield Problem("archive", problem_prefix, f"unreadable: {describe_error(error)}")


def _members(stream: IO[bytes], label: str, source_prefix: str, problem_prefix: str,
             wnid: str | None, limits: TarLimits, budget: DecompressionBudget, depth: int
             ) -> Iterator[Entry]:
    """The entries of one archive's members (nested archives opened up to MAX_DEPTH)."""
    seen: set[str] = set()
    wnids: dict[str, str | None] = {}  # parent folder → its synset (thousands of files each)
    prefix = f"{source_prefix}:" if source_prefix else ""
    for member in iter_tar(stream, label, limits):
        name = member.name
        if member.kind == "file" and not member.problem and name[-4:].lower() == ".xml" \
                and name not in seen:  # the common case first: one XML file
            seen.add(name)
            parent = name.rpartition("/")[0]
            if parent not in wnids:
                wnids[parent] = folder_wnid(name, wnid)
            yield XmlItem(prefix + name, name, wnids[parent], data=member.read())
            continue
        if member.kind == "dir":
            continue
        where = f"{problem_prefix}:{name}" if problem_prefix else name
        if name in seen:
            yield Problem("file", where, "member stored twice: the first copy is read")
            continue
        seen.add(name)
        if member.problem:
            yield Problem("file", where, member.problem, xml=is_xml_name(name))
        elif member.kind == "file" and is_archive_name(name) and depth < MAX_DEPTH:
            # A nested archive is named as its files' sources are: by its member name.
            yield from _inner_archive(member, prefix + name, limits, budget, depth + 1)
        else:
            yield Problem("ignored", where)


def _inner_archive(member: TarMember, where: str, limits: TarLimits,
                   budget: DecompressionBudget, depth: int) -> Iterator[Entry]:
    """An archive inside an archive: read whole and checked, then handed on, or skipped."""
    try:  # read to its end on leaving: the integrity check (CRC) comes last
        with open_archive(member, where, limits, budget) as stream:
            entries = list(_members(stream, where, where, where, wnid_of_label(where),
                                    limits, budget, depth))
    except ArchiveError as error:
        if error.archive != where:
            raise  # the outer archive's damage or cap, not this member's
        reason = error.reason
        if isinstance(error, ArchiveLimitError) and error.member:
            reason = f"skipped at member {error.member}: {reason}"
        yield Problem("archive", where, reason)
        return
    yield from entries


def windows(entries: Iterable[Entry], size: int, problems: list[Problem],
            max_bytes: int | None = None) -> Iterator[list[XmlItem]]:
    """Consecutive lists of XML items; the problems met go into ``problems``.

    Parameters
    ----------
    entries : iterable
        What :func:`iter_source` yields.
    size : int
        Items per list; with ``max_bytes``, every list but the last holds a multiple of
        it (whole shards), as many as keep the files' bytes near ``max_bytes``.
    problems : list
        Receives every :class:`~localglobal.data.boxes.Problem`.
    max_bytes : int, optional
        About how many bytes of XML a list may hold.
    """
    window: list[XmlItem] = []
    held = 0
    for entry in entries:
        if isinstance(entry, Problem):
            problems.append(entry)
            continue
        window.append(entry)
        held += len(entry.data) if entry.data is not None else 0
        full = len(window) % size == 0 and (max_bytes is None or held >= max_bytes)
        if full:
            yield window
            window, held = [], 0
    if window:
        yield window


# --------------------------------------------------------------------------- reading


@dataclass
class AnnotationsResult:
    """The boxes read from a source (``boxes.parquet``'s rows) and the report."""

    table: pd.DataFrame
    report: dict[str, Any]


def read_annotations(source: str | os.PathLike[str], *, limits: TarLimits | None = None,
                     fast: bool = True, batch: int = 4096) -> AnnotationsResult:
    """Read every box of an annotation source in this process.

    Parameters
    ----------
    source : path-like
        ``Annotation.tar.gz`` (or any tar of archives or XML files), a folder of
        archives and/or XML files, or one XML file.
    limits : TarLimits, optional
        The caps on reading archives.
    fast : bool
        Read canonical files with the scanner (the answer is the same).
    batch : int
        XML files parsed at a time (memory holds about one batch of files).

    Returns
    -------
    AnnotationsResult
        The rows (:data:`~localglobal.data.boxes.BOX_COLUMNS`, in source order) and
        the report (as in ``annotations-report.json``'s details).

    Raises
    ------
    MissingInputError
        The source does not exist.
    ArchiveError
        An archive file is corrupt or truncated.
    """
    started = time.perf_counter()
    problems: list[Problem] = []
    frames = [read_xml_items(items, fast)[0]
              for items in windows(iter_source(source, limits), batch, problems)]
    objects = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    boxes, details = summarize(objects, problems)
    seconds = time.perf_counter() - started
    report = {"source": str(Path(source).expanduser()), "source_kind": source_kind(source),
              **details, "seconds": round(seconds, 3),
              "files_per_second": round(details["files_read"] / seconds, 1) if seconds else None}
    return AnnotationsResult(boxes, report)
