"""Atomic writes: an interrupted or failed write never leaves a file that looks complete.

Data goes to a temporary file in the destination folder and is renamed over the
destination. A write the machine refuses (full disk, read-only folder) raises
:class:`~localglobal.errors.MachineError`, naming the path, so that no caller can
mistake it for a bad input item. Tables are Parquet, records JSON, arrays ``.npz`` or
``.npy``.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localglobal.errors import (
    CorruptArtifactError,
    MissingInputError,
    as_machine_error,
    is_machine_error,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# numpy and pandas are imported by the functions that need them: the JSON and byte
# helpers serve commands (``localglobal models``, ``--help``) that must answer at once.


def safe_name(name: str) -> str:
    """A model or image name made safe as a file name (``timm:x/y`` → ``timm_x_y``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, because it is
    # process-wide and toggling it while other threads create files would race them.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _temporary_pattern(name: str) -> str:
    """The glob of :func:`atomic_path`'s temporary files for a destination named ``name``."""
    return f".{glob.escape(name)}.*.tmp"


def remove_stale_temporaries(path: str | os.PathLike[str]) -> int:
    """Remove what writes killed mid-way (SIGKILL, power loss) left of ``path``.

    :func:`atomic_path` writes next to its destination and renames; a process killed
    before the rename leaves its temporary file behind. Call this only while no one
    else writes ``path`` (the run's lock is held).

    Symbolic links are neither followed nor removed: the cleanup never leaves ``path``.

    Parameters
    ----------
    path : path-like
        A file (its own temporaries are removed) or a folder (every temporary under it).

    Returns
    -------
    int
        How many files were removed.
    """
    path = Path(path)
    if path.is_symlink():  # never followed: a link could lead out of the run
        return 0
    if path.is_dir():
        found = [Path(p) for p in _temporaries_under(path)]
    else:
        parent = path.parent
        found = [p for p in parent.glob(_temporary_pattern(path.name))
                 if not p.is_symlink() and p.is_file()] \
            if parent.is_dir() and not parent.is_symlink() else []
    for stale in found:
        stale.unlink(missing_ok=True)
    return len(found)


def _temporaries_under(folder: Path) -> Iterator[str]:
    """The temporary files under ``folder``, walked without following a link."""
    pending = [str(folder)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    yield entry.path


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``destination``; rename it into place on success.

    On an exception the temporary file is removed and ``destination`` is left as it was.
    """
    destination = Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        # The name is what remove_stale_temporaries looks for: ".<name>.<random>.tmp".
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
        )
    except OSError as error:
        if is_machine_error(error):
            raise as_machine_error(error, destination) from None
        raise
    os.close(fd)
    tmp_path = Path(tmp_name)
    # mkstemp creates the file private to its owner; a result file should get the
    # same permissions as any other file this user creates.
    os.chmod(tmp_path, 0o666 & ~_UMASK)
    try:
        yield tmp_path
        os.replace(tmp_path, destination)
    except BaseException as error:
        tmp_path.unlink(missing_ok=True)
        if is_machine_error(error) and isinstance(error, OSError):
            raise as_machine_error(error, destination) from None
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically and return the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (numpy scalars are converted)."""
    return write_text_atomic(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; one that is not valid JSON is a :class:`CorruptArtifactError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptArtifactError(f"{path}: not valid JSON ({error})") from None


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def write_table(path: str | os.PathLike[str], table: pd.DataFrame) -> Path:
    """Write a data frame as Parquet atomically (the index is not stored)."""
    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
    return Path(path)


def read_table(path: str | os.PathLike[str], columns: list[str] | None = None) -> pd.DataFrame:
    """Read a Parquet table, naming the file in the error if it is missing."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: no such table")
    try:
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError) as error:
        if is_machine_error(error):
            raise
        raise CorruptArtifactError(f"{path}: not a readable Parquet table ({error})") from None


def write_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> Path:
    """Write arrays to a compressed ``.npz`` atomically."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return write_bytes_atomic(path, buffer.getvalue())


def write_npy(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write one array to ``.npy`` atomically (readable with ``np.load(mmap_mode='r')``)."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
    return Path(path)
