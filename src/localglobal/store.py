"""The run directory: where every stage reads its inputs and writes its outputs.

All writes are atomic: data goes to a temporary file in the destination folder and
is then renamed over the destination, so an interrupted write never leaves a file
that looks complete. Tables are Parquet, images lossless PNG, records JSON.

Layout of a run directory (file names are part of the interface)::

    config.toml               the configuration the run was made with
    manifest.json             provenance and per-stage status (see :mod:`localglobal.run`)
    boxes.parquet             annotations stage
    annotations-report.json
    samples.parquet           index stage
    index-report.json
    edges.parquet, edges.npz  edges stage
    perturbations.parquet     perturb stage, images under perturbations/<probe>/<wnid>/
    predictions.parquet       evaluate stage
    attributions.parquet      attribute stage, maps under relevance/
    hypotheses.parquet        analyze stage, figures under figures/
    report/index.html         report stage
    .shards/<stage>/<key>/    finished shards of interrupted stages
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd


def safe_name(name: str) -> str:
    """A model or image name made safe as a file name (``timm:x/y`` → ``timm_x_y``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


class MissingInputError(FileNotFoundError):
    """A stage needs a file that an earlier stage has not written yet."""


def _read_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, because it is
    # process-wide and toggling it while other threads create files would race them.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_path(destination: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``destination``; rename it into place on success.

    On an exception the temporary file is removed and ``destination`` is left as it was.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
    )
    os.close(fd)
    tmp_path = Path(tmp_name)
    # mkstemp creates the file private to its owner; a result file should get the
    # same permissions as any other file this user creates.
    os.chmod(tmp_path, 0o666 & ~_UMASK)
    try:
        yield tmp_path
        os.replace(tmp_path, destination)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
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
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _json_default(value: Any) -> Any:
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
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path}: no such table")
    return pd.read_parquet(path, columns=columns)


def encode_png(image_rgb: np.ndarray, compression: int = 1) -> bytes:
    """Encode an H×W×3 (RGB) or H×W uint8 array as PNG bytes, deterministically."""
    import cv2

    image = np.ascontiguousarray(image_rgb)
    if image.dtype != np.uint8:
        raise ValueError(f"PNG images must be uint8, got {image.dtype}")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buffer.tobytes()


def write_png(path: str | os.PathLike[str], image_rgb: np.ndarray) -> Path:
    """Write an RGB uint8 image as a lossless PNG atomically."""
    return write_bytes_atomic(path, encode_png(image_rgb))


def read_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG (or any image OpenCV decodes) as an RGB uint8 array."""
    import cv2

    path = Path(path)
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not a decodable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def write_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> Path:
    """Write arrays to a compressed ``.npz`` atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return write_bytes_atomic(path, buffer.getvalue())


def write_npy(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write one array to ``.npy`` atomically (readable with ``np.load(mmap_mode='r')``)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
    return Path(path)


class RunDir:
    """A run directory, with the paths of every stage's outputs.

    >>> run = RunDir("runs/thesis")          # doctest: +SKIP
    >>> samples = run.read("samples")        # doctest: +SKIP
    """

    TABLES: ClassVar[dict[str, str]] = {
        "boxes": "boxes.parquet",
        "samples": "samples.parquet",
        "edges": "edges.parquet",
        "perturbations": "perturbations.parquet",
        "predictions": "predictions.parquet",
        "attributions": "attributions.parquet",
        "hypotheses": "hypotheses.parquet",
        "interaction": "interaction.parquet",
        "shape_bias": "shape_bias.parquet",
    }
    # Which stage writes each table, for "run this stage first" messages.
    PRODUCER: ClassVar[dict[str, str]] = {
        "boxes": "annotations",
        "samples": "index",
        "edges": "edges",
        "perturbations": "perturb",
        "predictions": "evaluate",
        "attributions": "attribute",
        "hypotheses": "analyze",
        "interaction": "analyze",
        "shape_bias": "analyze",
    }

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    def path(self, *parts: str) -> Path:
        """A path inside the run directory."""
        return self.root.joinpath(*parts)

    def ensure(self) -> RunDir:
        """Create the run directory if needed and return it."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def config_path(self) -> Path:
        return self.path("config.toml")

    @property
    def manifest_path(self) -> Path:
        return self.path("manifest.json")

    def table_path(self, name: str) -> Path:
        """Path of a named table (``"samples"`` → ``samples.parquet``)."""
        try:
            return self.path(self.TABLES[name])
        except KeyError:
            raise KeyError(f"unknown table {name!r}; known: {sorted(self.TABLES)}") from None

    def has(self, name: str) -> bool:
        """Whether the named table exists."""
        return self.table_path(name).exists()

    def read(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Read a named table; a missing one says which stage writes it."""
        path = self.table_path(name)
        if not path.exists():
            stage = self.PRODUCER.get(name, name)
            raise MissingInputError(
                f"{path}: missing; run `localglobal {stage} --run {self.root}` first"
            )
        return pd.read_parquet(path, columns=columns)

    def write(self, name: str, table: pd.DataFrame) -> Path:
        """Write a named table atomically."""
        return write_table(self.table_path(name), table)

    def shard_dir(self, stage: str, key: str) -> Path:
        """Folder for the finished shards of ``stage`` under cache key ``key``."""
        return self.path(".shards", stage, key)


class ShardStore:
    """Finished pieces of a long stage, so an interrupted stage resumes where it stopped.

    Each shard is a small Parquet table written atomically under a name; a shard that
    exists is finished. The key folder should be derived from everything that changes
    a shard's content (see :meth:`localglobal.run.StageContext.shards`).
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
        return self.folder / f"{safe}.parquet"

    def done(self, name: str) -> bool:
        """Whether shard ``name`` is finished."""
        return self._path(name).exists()

    def put(self, name: str, table: pd.DataFrame) -> None:
        """Store a finished shard."""
        write_table(self._path(name), table)

    def get(self, name: str) -> pd.DataFrame:
        """Read one finished shard."""
        return pd.read_parquet(self._path(name))

    def names(self) -> list[str]:
        """Names (file stems) of every finished shard, sorted."""
        return sorted(p.stem for p in self.folder.glob("*.parquet"))

    def concat(self, names: list[str] | None = None) -> pd.DataFrame:
        """All (or the named) finished shards as one table, in name order."""
        selected = self.names() if names is None else names
        tables = [self.get(name) for name in selected]
        tables = [t for t in tables if len(t)]
        if not tables:
            return pd.DataFrame()
        return pd.concat(tables, ignore_index=True)

    def clear(self) -> None:
        """Delete every shard."""
        for path in self.folder.glob("*.parquet"):
            path.unlink()
