"""Where in the model-input frame relevance, edges and object boxes lie, over images.

Each density is an H×W array holding, per pixel, the share of images whose region
(positive LRP region, Canny edge, object box) covers it; the ``density`` figure shows
them side by side.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from localglobal.data.geometry import box_mask
from localglobal.io.atomic import safe_name
from localglobal.probes.canny import unpack_mask
from localglobal.probes.edge_masks import SHAPE_KEY


def edge_masks_from_npz(arrays: Mapping[str, np.ndarray], crop: int) -> Iterator[np.ndarray]:
    """The boolean edge masks of ``edges.npz``, unpacked one at a time.

    The archive holds ``shape`` and one bit-packed mask per image id (the edges
    stage's format, :mod:`localglobal.probes.edge_masks`); masks are unpacked as they
    are read, so memory holds one mask, never the run's.

    Parameters
    ----------
    arrays : mapping
        The loaded archive (:func:`numpy.load` of ``edges.npz``).
    crop : int
        Side of the frame, used when the archive has no ``shape``.

    Yields
    ------
    numpy.ndarray
        One H×W boolean mask per image.
    """
    shape = (tuple(int(v) for v in arrays[SHAPE_KEY][-2:]) if SHAPE_KEY in arrays
             else (crop, crop))
    for key in arrays:
        if key != SHAPE_KEY:
            yield unpack_mask(arrays[key], shape)  # type: ignore[arg-type]


def edge_density(masks: Iterable[np.ndarray]) -> np.ndarray | None:
    """Share of images with an edge at each pixel (H×W), or None without masks.

    Parameters
    ----------
    masks : iterable of numpy.ndarray
        H×W boolean masks (:func:`edge_masks_from_npz`); read one at a time.
    """
    total, count = None, 0
    for mask in masks:
        mask = np.asarray(mask, dtype=bool)
        total = mask.astype(np.float64) if total is None else total + mask
        count += 1
    return None if total is None else total / count


def box_density(samples: pd.DataFrame | None, crop: int) -> np.ndarray | None:
    """Share of images whose (union) object box covers each pixel (crop × crop).

    Parameters
    ----------
    samples : pandas.DataFrame, optional
        ``samples.parquet`` (``box_x0 … box_y1``); None gives None.
    crop : int
        Side of the frame.

    Returns
    -------
    numpy.ndarray or None
        The share over the images that have a box; None when none has one (an
        empty panel would claim that objects avoid the whole frame).
    """
    columns = ["box_x0", "box_y0", "box_x1", "box_y1"]
    if samples is None or samples.empty or any(c not in samples for c in columns):
        return None
    boxes = samples[columns].to_numpy(dtype=float)
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    if not len(boxes):
        return None
    total = np.zeros((crop, crop))
    for box in boxes:
        total += box_mask(tuple(box), crop)
    return total / len(boxes)


def positive_region_density(maps: np.ndarray, rows: np.ndarray | None = None,
                            chunk: int = 64) -> np.ndarray:
    """Share of maps whose positive region covers each pixel.

    The positive region of a relevance map R is ``R > mean(R[R > 0])`` (the LRP
    section's definition). Maps are read in chunks, so a memory-mapped
    ``relevance/<model>.npy`` is never loaded whole.

    Parameters
    ----------
    maps : numpy.ndarray
        N×H×W relevance maps (any float dtype; a memory map is fine).
    rows : numpy.ndarray, optional
        Indices of the maps to use (default: all).
    chunk : int
        Maps read at a time.

    Returns
    -------
    numpy.ndarray
        H×W float array in [0, 1] (zeros when no map is used).
    """
    if maps.ndim != 3:
        raise ValueError(f"relevance maps must be N×H×W, got shape {maps.shape}")
    rows = np.arange(maps.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    total = np.zeros(maps.shape[1:], dtype=np.float64)
    for start in range(0, rows.size, chunk):
        block = np.asarray(maps[rows[start:start + chunk]], dtype=np.float32)
        positive = np.where(block > 0, block, 0.0)
        count = (block > 0).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            pos_mean = positive.sum(axis=(1, 2)) / count
        # An image with no positive relevance has an empty positive region.
        pos_mean = np.where(count > 0, pos_mean, np.inf)
        total += (block > pos_mean[:, None, None]).sum(axis=0)
    return total / max(rows.size, 1)


def _non_finite_images(attributions: pd.DataFrame | None, control: str
                       ) -> dict[str, set[str]]:
    """Per model (keyed like its relevance file), the image ids whose map held NaN or inf."""
    if attributions is None or "finite" not in attributions:
        return {}
    finite = attributions["finite"].astype("boolean").fillna(True).astype(bool)
    bad = attributions[~finite & (attributions["control"] == control)]
    if "probe" in bad:
        bad = bad[bad["probe"] == "original"]
    return {safe_name(str(m)): set(g["image_id"].astype(str)) for m, g in bad.groupby("model")}


def _rows_of(index_path: Path, control: str, left_out: set[str], n_maps: int) -> np.ndarray:
    """The rows of ``<model>.npy`` that hold the unperturbed maps under ``control``."""
    if not index_path.exists():
        return np.arange(n_maps)
    index = pd.read_parquet(index_path)
    if "control" in index:
        index = index[index["control"] == control]
    if "probe" in index:  # maps of perturbed images are not where objects lie
        index = index[index["probe"] == "original"]
    index = index[~index["image_id"].astype(str).isin(left_out)]
    return np.sort(index["row"].to_numpy(dtype=np.int64))


def relevance_densities(folder: Path, control: str = "none",
                        attributions: pd.DataFrame | None = None,
                        models: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Per model: share of images whose positive LRP region covers each pixel.

    Maps that ``attributions`` (the run's ``attributions.parquet``) marks as holding
    NaN or infinity, stored as zeros, are left out of the share, as they are left out
    of every statistic.

    Parameters
    ----------
    folder : Path
        The run's ``relevance/`` folder (``<model>.npy`` and ``<model>.index.parquet``).
    control : str
        Which maps: ``none`` (the model's own) or a control.
    attributions : pandas.DataFrame, optional
        ``attributions.parquet``, for its ``finite`` column.
    models : sequence of str, optional
        The models to draw, from the run's tables: only their files are read, so a
        model removed from the run is not drawn from the files it left. Default: the
        models of ``attributions``, else every ``.npy`` file of the folder.

    Returns
    -------
    dict
        Model (as its file is named) → H×W density.
    """
    densities = {}
    non_finite = _non_finite_images(attributions, control)
    if models is None and attributions is not None and "model" in attributions:
        models = list(pd.unique(attributions["model"].astype(str)))
    paths = {m: Path(folder) / f"{safe_name(m)}.npy" for m in models} if models is not None \
        else {p.stem: p for p in sorted(Path(folder).glob("*.npy"))}
    for name, path in paths.items():
        if not path.is_file():
            continue
        model = path.stem
        maps = np.load(path, mmap_mode="r")
        rows = _rows_of(path.with_name(f"{model}.index.parquet"), control,
                        non_finite.get(model, set()), maps.shape[0])
        if rows.size:
            densities[name] = positive_region_density(maps, rows=rows)
    return densities
