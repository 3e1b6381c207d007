"""What the ``attribute`` stage explains: its items, their images, and which have edges.

Items are the rows of ``perturbations.parquet`` whose probe is asked for (default only
``original``); without a perturbations table the ``original`` items come straight from
``samples.parquet`` (source images brought into the input frame). Edges and box of an
item are those of its source image (for a perturbed image: of the image it was made
from).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from localglobal.errors import CorruptArtifactError, MissingInputError, is_machine_error
from localglobal.io.images import load_input_frame, read_png
from localglobal.probes.batched import check_item
from localglobal.probes.edge_masks import EdgeMasks
from localglobal.probes.materialize import build_images
from localglobal.probes.plan import is_built
from localglobal.probes.registry import Level

BOX_COLUMNS: tuple[str, ...] = ("box_x0", "box_y0", "box_x1", "box_y1")
ITEM_COLUMNS: tuple[str, ...] = ("item_id", "image_id", "wnid", "probe", "level", "variant",
                                 "path", "in_frame", *BOX_COLUMNS)
"""The columns of :func:`attribution_items`."""


def attribution_items(samples: pd.DataFrame, perturbations: pd.DataFrame | None,
                      probes: Sequence[str], root: Path) -> pd.DataFrame:
    """The items to attribute, with their image path, box and class.

    Parameters
    ----------
    samples : pandas.DataFrame
        ``samples.parquet``.
    perturbations : pandas.DataFrame or None
        ``perturbations.parquet`` when the run has one.
    probes : sequence of str
        Probe names to include.
    root : Path
        The run directory (perturbation paths are relative to it; messages name it).

    Returns
    -------
    pandas.DataFrame
        One row per item with :data:`ITEM_COLUMNS`: the absolute ``path``,
        ``in_frame`` (the file is already an input-frame PNG) and the source image's
        box (input frame), in the perturbations table's order.

    Raises
    ------
    CorruptArtifactError
        The samples table lacks a needed column.
    MissingInputError
        Probes other than ``original`` are asked for and there are no perturbations.
    """
    box_columns = list(BOX_COLUMNS)
    missing = [c for c in ["image_id", "wnid", "path", *box_columns] if c not in samples]
    if missing:
        raise CorruptArtifactError(f"{root / 'samples.parquet'}: missing columns {missing}; "
                                   "run `localglobal index` again")
    boxes = samples.drop_duplicates("image_id").set_index("image_id")
    if perturbations is not None:
        table = perturbations[perturbations["probe"].isin(list(probes))].copy()
        table["path"] = [str(root / p) for p in table["path"]]
        table["in_frame"] = True
    elif list(probes) == ["original"]:
        table = pd.DataFrame({
            "item_id": [f"{i}/original/0/0" for i in samples["image_id"]],
            "image_id": samples["image_id"].astype(str),
            "wnid": samples["wnid"].astype(str),
            "probe": "original", "level": 0, "variant": "0",
            "path": samples["path"].astype(str), "in_frame": False,
        })
    else:
        raise MissingInputError(
            f"{root / 'perturbations.parquet'}: missing, and probes {list(probes)} need it; "
            f"run `localglobal perturb --run {root}` first")
    table = table.drop(columns=[c for c in box_columns if c in table])
    table = table.join(boxes[box_columns], on="image_id")
    if "wnid" not in table:
        table["wnid"] = boxes["wnid"].reindex(table["image_id"]).to_numpy()
    table = table[list(ITEM_COLUMNS) + (["params"] if "params" in table else [])]
    table = table.reset_index(drop=True)
    table["level"] = table["level"].astype("int64")
    table["variant"] = table["variant"].astype(str)
    return table


def load_batch(items: list[dict[str, Any]], frame: tuple[int, int, str], build: bool = True,
               ) -> tuple[list[dict[str, Any]], np.ndarray | None, list[tuple[str, str]]]:
    """Load the images of ``items`` (crop×crop×3 uint8 RGB); an unreadable one is bad input.

    Parameters
    ----------
    items : list of dict
        Rows of :func:`attribution_items`.
    frame : (int, int, str)
        ``(crop, resize, interpolation)``.
    build : bool
        Build the items without a PNG of their own (``probes.materialize = false``)
        here, on the CPU; with False they hold their original, for the caller to build
        on its device (:func:`built_items`).

    Returns
    -------
    (list of dict, numpy.ndarray or None, list of (str, str))
        The items that loaded, their N×H×W×3 images (None if none loaded), and
        ``(item_id, reason)`` for each that did not: an unreadable or missing file, an
        input-frame PNG of the wrong size, a row whose probe parameters do not check.

    Raises
    ------
    OSError
        A failure of the machine (:func:`localglobal.errors.is_machine_error`), never
        blamed on an image.
    """
    crop, resize, interpolation = frame
    good, images, bad = [], [], []
    for item in items:
        try:
            if is_built(str(item.get("probe")), str(item["path"])):
                # Checked before anything is built from it: a bad row is a bad item.
                check_item(str(item["probe"]), item.get("params"),
                           Level(int(item["level"]), str(item["level"])), crop)
            if not item["in_frame"]:
                image = load_input_frame(item["path"], resize, crop, interpolation)
            elif (image := read_png(item["path"])).shape != (crop, crop, 3):
                raise ValueError(f"{item['path']}: {image.shape[1]}×{image.shape[0]} pixels, "
                                 f"expected the {crop}×{crop} input frame")
        except (OSError, ValueError) as error:
            if is_machine_error(error):
                raise
            bad.append((item["item_id"], f"{type(error).__name__}: {error}"))
            continue
        good.append(item)
        images.append(image)
    builds = built_items(good) if build else {}
    if images and builds:
        probes = [builds.get(k, ("original", "{}")) for k in range(len(good))]
        images = list(build_images(np.stack(images), [p for p, _ in probes],
                                   [params for _, params in probes]))
    return good, (np.stack(images) if images else None), bad


def built_items(items: Sequence[dict[str, Any]]) -> dict[int, tuple[str, str]]:
    """``position -> (probe, params)`` of the items built from their original.

    Those are the rows without a PNG of their own (``probes.materialize = false``,
    :func:`~localglobal.probes.plan.is_built`); their ``path`` is the original's.
    """
    return {k: (str(item["probe"]), str(item.get("params", "{}")))
            for k, item in enumerate(items)
            if is_built(str(item.get("probe")), str(item["path"]))}


def with_edge_masks(items: pd.DataFrame, edges: EdgeMasks) -> tuple[pd.DataFrame, list[str]]:
    """The items whose source image has an edge mask, and the ids of those without one."""
    missing = ~items["image_id"].isin(edges.ids)
    return (items[~missing].reset_index(drop=True),
            items.loc[missing, "item_id"].astype(str).tolist())


def empty_edge_images(edges_table: pd.DataFrame, image_ids: Sequence[str]) -> list[str]:
    """The images among ``image_ids`` whose mask ``edges.parquet`` flags ``empty``.

    Their edge-based statistics are undefined (NaN); the list is empty for a table
    without the ``empty`` column.
    """
    if "empty" not in edges_table:
        return []
    flagged = set(edges_table.loc[edges_table["empty"].astype(bool), "image_id"].astype(str))
    return sorted(flagged & set(image_ids))
