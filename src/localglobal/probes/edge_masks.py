"""Edge masks of source images: the rows of ``edges.parquet`` and the ``edges.npz`` archive.

Each image is decoded with the one decoder, taken into the model-input frame and
given to :func:`~localglobal.probes.canny.auto_canny` with the configuration's
``edges`` settings as they are (the threshold rule and the denoising), so that edges,
boxes and relevance share one frame. A row holds the thresholds the rule chose, the
edge pixels in all, inside and outside the box, and ``empty``: the mask has no edge
pixel, so every edge-based measure of the image is undefined.

``edges.npz`` holds one packed mask (:func:`~localglobal.probes.canny.pack_mask`) per
image id and ``shape``, the masks' (rows, cols); :func:`unpack_masks` reads it back, and
:class:`EdgeMasks` one mask at a time.

A second shape proxy, where the data know it: the objects' true outlines (the toy
world's ``outlines.npz``, one boolean mask per image id in the image's own pixels)
taken into the same frame by :func:`outline_masks`, in the same archive format, so
that every edge measure can be computed against the truth as well as against Canny.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from localglobal.config import RunConfig
from localglobal.errors import BadInputError, MissingInputError
from localglobal.io.images import load_input_frame, to_input_frame
from localglobal.probes.canny import (
    CannySettings,
    auto_canny,
    edge_counts,
    empty_mask,
    pack_mask,
    unpack_mask,
)
from localglobal.probes.sources import SourceImage

EDGES_FORMAT = 2
"""Bump when the rows or masks change for unchanged parameters (2: ``empty``, ``rule``)."""

EDGE_COLUMNS = ["image_id", "lower", "upper", "n_edge", "n_edge_in_box", "n_edge_out_box",
                "median", "sigma", "empty"]
"""The first columns of ``edges.parquet``; the edge record's further fields follow."""

SHAPE_KEY = "shape"
"""The key of the masks' shape in ``edges.npz`` (so no image may be called that)."""

_COUNTS = ("n_edge", "n_edge_in_box", "n_edge_out_box")


@dataclass(frozen=True)
class EdgePlan:
    """The frame and the edge settings of one edges run (picklable).

    Attributes
    ----------
    resize, crop, interpolation : int, int, str
        The model-input frame.
    min_side : int
        Shorter side below which a source image is refused.
    settings : tuple of (str, object)
        Every other field of the ``edges`` section: the fields of
        :class:`~localglobal.probes.canny.CannySettings`.
    """

    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    min_side: int = 16
    settings: tuple[tuple[str, Any], ...] = ()
    format: int = EDGES_FORMAT

    @classmethod
    def from_config(cls, config: RunConfig) -> EdgePlan:
        """The plan of the configuration's ``frame`` and ``edges`` sections."""
        settings = config.edges.model_dump(exclude={"min_side"})
        return cls(config.frame.resize, config.frame.crop, config.frame.interpolation,
                   config.edges.min_side, tuple(settings.items()))

    def canny(self, frame: np.ndarray) -> tuple[np.ndarray, Any]:
        """:func:`~localglobal.probes.canny.auto_canny` of ``frame`` with these settings."""
        return auto_canny(frame, CannySettings(**dict(self.settings)))

    def key(self) -> dict[str, Any]:
        """The parameters as JSON-able data (the shard key)."""
        settings = {k: list(v) if isinstance(v, tuple) else v for k, v in self.settings}
        return {"frame": [self.resize, self.crop, self.interpolation],
                "min_side": self.min_side, "edges": settings, "format": self.format}


def edge_row(plan: EdgePlan, source: SourceImage) -> dict[str, Any]:
    """The edges of one source image: its row, with the packed mask under ``mask``.

    Raises
    ------
    BadInputError
        The image cannot be used, or its id is the archive's reserved key.
    """
    if source.image_id == SHAPE_KEY:
        raise BadInputError(f"image id {SHAPE_KEY!r} is the key of the mask shape in "
                            "edges.npz; rename the image")
    frame = load_input_frame(source.path, plan.resize, plan.crop, plan.interpolation,
                             plan.min_side)
    mask, record = plan.canny(frame)
    counts = edge_counts(mask, source.box)
    fields = asdict(record)
    return {"image_id": source.image_id, "lower": fields.pop("lower"),
            "upper": fields.pop("upper"), **counts, "median": fields.pop("median"),
            "sigma": fields.pop("sigma"), "empty": bool(empty_mask(mask)), **fields,
            "mask": pack_mask(mask).tobytes()}


def edge_rows(plan: EdgePlan, sources: Iterable[SourceImage]
              ) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The edges work on one shard of source images.

    Returns
    -------
    (pandas.DataFrame, list of (str, str))
        One row per image that worked (with the ``mask`` bytes), and ``(image_id,
        reason)`` for every image that was bad input. Other errors propagate.
    """
    rows: list[dict[str, Any]] = []
    bad: list[tuple[str, str]] = []
    for source in sources:
        try:
            rows.append(edge_row(plan, source))
        except BadInputError as error:
            bad.append((source.image_id, str(error)))
    return pd.DataFrame(rows), bad


def edge_outputs(rows: pd.DataFrame, crop: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """``edges.parquet`` and the arrays of ``edges.npz`` from the work's rows.

    Parameters
    ----------
    rows : pandas.DataFrame
        Every shard's rows (with ``mask``), in the samples' order.
    crop : int
        The masks' side.

    Returns
    -------
    (pandas.DataFrame, dict)
        The table (:data:`EDGE_COLUMNS` first, the counts as int64, ``empty`` as bool)
        and ``{SHAPE_KEY: [crop, crop], image_id: packed mask, …}``.
    """
    arrays = {SHAPE_KEY: np.array([crop, crop], np.int64)}
    if rows.empty:
        table = pd.DataFrame({c: pd.Series(dtype="object") for c in EDGE_COLUMNS})
        return table.astype({c: "int64" for c in _COUNTS} | {"empty": bool}), arrays
    for row in rows.itertuples():
        arrays[str(row.image_id)] = np.frombuffer(row.mask, dtype=np.uint8)
    table = rows.drop(columns=["mask"])
    table = table[EDGE_COLUMNS + [c for c in table.columns if c not in EDGE_COLUMNS]].copy()
    for column in _COUNTS:
        table[column] = table[column].astype("int64")
    table["empty"] = table["empty"].astype(bool)
    return table.reset_index(drop=True), arrays


def outline_masks(path: str, image_ids: Iterable[str], plan: EdgePlan,
                  ) -> tuple[dict[str, np.ndarray], list[str]]:
    """True outlines brought into the input frame, as the arrays of an edge archive.

    Parameters
    ----------
    path : str
        An npz of boolean outline masks in image pixels, keyed by image id
        (``data.outlines``).
    image_ids : iterable of str
        The images wanted.
    plan : EdgePlan
        The frame.

    Returns
    -------
    (dict, list of str)
        ``{SHAPE_KEY: [crop, crop], image_id: packed mask, …}`` and the ids that have
        no outline in the file.

    Raises
    ------
    MissingInputError
        The file does not exist or is not an npz.
    """
    try:
        archive = np.load(path)
    except (OSError, ValueError) as error:
        raise MissingInputError(f"{path}: cannot read the outlines (data.outlines): "
                                f"{error}") from None
    arrays = {SHAPE_KEY: np.array([plan.crop, plan.crop], np.int64)}
    missing = []
    with archive:
        for image_id in image_ids:
            if image_id not in archive.files or image_id == SHAPE_KEY:
                missing.append(image_id)
                continue
            outline = np.asarray(archive[image_id], dtype=bool)
            grey = np.repeat((outline * np.uint8(255))[..., None], 3, axis=2)
            frame = to_input_frame(grey, plan.resize, plan.crop, plan.interpolation)
            # A thin line fades when downscaled: keep every pixel it covers by a quarter.
            arrays[image_id] = pack_mask(frame[..., 0] >= 64)
    return arrays, missing


def unpack_masks(archive: Mapping[str, np.ndarray], image_ids: Iterable[str] | None = None,
                 where: str = "edges.npz") -> dict[str, np.ndarray]:
    """The masks of an ``edges.npz`` archive, unpacked.

    Parameters
    ----------
    archive : mapping
        The archive as :func:`numpy.load` opens it (or any mapping of its arrays).
    image_ids : iterable of str, optional
        Only these (default: every image).
    where : str
        The archive's path, for messages.

    Returns
    -------
    dict
        image_id → crop×crop boolean mask, indexed (row, col), in the input frame.

    Raises
    ------
    KeyError
        An asked-for id has no mask.
    """
    names = list(getattr(archive, "files", None) or archive.keys())
    shape = tuple(int(v) for v in archive[SHAPE_KEY])
    wanted = [k for k in names if k != SHAPE_KEY] if image_ids is None else list(image_ids)
    missing = [k for k in wanted if k not in names or k == SHAPE_KEY]
    if missing:
        raise KeyError(f"no edge mask for {missing[:5]} in {where}")
    return {k: unpack_mask(archive[k], shape) for k in wanted}  # type: ignore[arg-type]


class EdgeMasks:
    """The masks of an open ``edges.npz``, unpacked one at a time as they are asked for.

    Safe to share between threads: the archive is read under a lock.

    Parameters
    ----------
    archive : numpy.lib.npyio.NpzFile
        The archive as :func:`numpy.load` opens it.
    """

    def __init__(self, archive: Any):
        self._lock = threading.Lock()
        self._archive = archive
        self.shape = tuple(int(v) for v in archive[SHAPE_KEY])
        self.ids = frozenset(k for k in archive.files if k != SHAPE_KEY)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self.ids

    def get(self, image_id: str) -> np.ndarray:
        """The H×W boolean mask of one image (``KeyError`` if it has none)."""
        with self._lock:
            return unpack_masks(self._archive, [image_id])[image_id]

    def close(self) -> None:
        """Close the archive."""
        self._archive.close()
