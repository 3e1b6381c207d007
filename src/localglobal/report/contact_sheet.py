"""``localglobal show IMAGE_ID``: one image's contact sheet, read from a run (not a stage).

Reads the image's rows of ``perturbations.parquet`` and the stored PNGs the sheet
shows (scrambles and patches of a run that did not store them are built from the
original and their params), its box from ``samples.parquet``, its edge mask from
``edges.npz`` (or, where the edges stage has not run, computed from the stored
original with the run's edge settings) and the LRP heat maps the attribute stage
wrote under ``heatmaps/<model>/``; :func:`localglobal.probes.contact.image_sheet` draws the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from localglobal.config import RunConfig, load_config
from localglobal.errors import BadInputError, UnknownNameError
from localglobal.io.atomic import safe_name
from localglobal.io.images import read_png, write_png
from localglobal.pipeline.rundir import RunDir
from localglobal.probes.batched import check_item
from localglobal.probes.contact import NO_BOX, Box, image_sheet, sheet_items
from localglobal.probes.edge_masks import EdgePlan, unpack_masks
from localglobal.probes.materialize import build_images
from localglobal.probes.plan import is_built
from localglobal.probes.registry import Level

HEATMAPS = "heatmaps"
"""The artifact (a folder of ``<model>/<image id>.png`` overlays) the attribute stage writes."""


def _unknown(image_id: str, known: Sequence[str]) -> UnknownNameError:
    shown = ", ".join(list(known)[:5])
    more = f" (and {len(known) - 5} more)" if len(known) > 5 else ""
    return UnknownNameError(f"unknown image id {image_id!r}; known ids include {shown}{more}")


def _box(run: RunDir, image_id: str) -> Box:
    if not run.has("samples"):
        return NO_BOX
    samples = run.read("samples")
    match = samples[samples["image_id"].astype(str) == image_id]
    if match.empty or "box_x0" not in match:
        return NO_BOX
    first = match.iloc[0]
    return tuple(math.nan if pd.isna(first[k]) else float(first[k])  # type: ignore[return-value]
                 for k in ("box_x0", "box_y0", "box_x1", "box_y1"))


def edge_mask(run: RunDir, image_id: str, original: np.ndarray,
              config: RunConfig | None = None) -> np.ndarray:
    """The stored edge mask, or one computed from the stored original if edges did not run.

    The computed one follows ``config``'s ``[edges]`` (default: the run's ``config.toml``).
    """
    if run.has("edge_masks"):
        with run.read("edge_masks") as archive:
            try:
                return unpack_masks(archive, [image_id])[image_id]
            except KeyError:
                pass
    if config is None:
        config = load_config(run.config_path) if run.config_path.exists() else RunConfig()
    return EdgePlan.from_config(config).canny(original)[0]


def heatmaps(run: RunDir, image_id: str) -> list[tuple[str, np.ndarray]]:
    """Each model's LRP heat map of the image, where the attribute stage wrote one."""
    folder = run.artifact_path(HEATMAPS) if HEATMAPS in run.registry.catalog \
        else run.path(HEATMAPS)
    if not folder.is_dir():
        return []
    found = []
    for model_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
        path = model_folder / f"{safe_name(image_id)}.png"
        if path.is_file():
            found.append((model_folder.name, read_png(path)))
    return found


def _probe_images(run: RunDir, rows: pd.DataFrame, items: Sequence[str]
                  ) -> dict[str, np.ndarray]:
    """The pixels of ``items`` (rows by item id): stored PNGs, or built from the original."""
    images: dict[str, np.ndarray] = {}
    decoded: dict[str, np.ndarray] = {}
    for item in items:
        row = rows.loc[item]
        path = str(row["path"])
        if path not in decoded:
            decoded[path] = read_png(run.path(path))
        if is_built(str(row["probe"]), path):
            try:
                check_item(str(row["probe"]), row.get("params"),
                           Level(int(row["level"]), str(row["level"])), decoded[path].shape[0])
            except BadInputError as error:  # the stages' message, naming the item
                raise BadInputError(f"{run.artifact_path('perturbations')}: item {item}: "
                                    f"{error}") from None
            images[item] = build_images(decoded[path][None], [str(row["probe"])],
                                        [str(row.get("params", "{}"))])[0]
        else:
            images[item] = decoded[path]
    return images


def contact_sheet_of(run: RunDir, image_id: str, columns: int = 6,
                     config: RunConfig | None = None) -> np.ndarray:
    """One image's contact sheet from a run, as an RGB array.

    ``config`` (default: the run's ``config.toml``) gives the ``[edges]`` settings of
    an edge mask computed here, where the edges stage stored none for the image.

    Raises
    ------
    MissingInputError
        The perturb stage has not run.
    UnknownNameError
        The image id has no probes; the message lists a few known ids.
    """
    table = run.read("perturbations")
    rows = table[table["image_id"].astype(str) == image_id]
    if rows.empty:
        raise _unknown(image_id, list(dict.fromkeys(table["image_id"].astype(str))))
    images = _probe_images(run, rows.set_index("item_id"), [i for _, i in sheet_items(rows)])
    original_id = f"{image_id}/original/0/0"
    mask = edge_mask(run, image_id, images[original_id], config) if original_id in images \
        else None
    return image_sheet(rows, images, box=_box(run, image_id), edge_mask=mask,
                       heatmaps=heatmaps(run, image_id), columns=columns)


def write_contact_sheet(run: RunDir | str | Path, image_id: str, out: Path | None = None,
                        columns: int = 6, config: RunConfig | None = None) -> Path:
    """Write one image's contact sheet as a PNG and return its path.

    Parameters
    ----------
    run : RunDir or path
        A run where the perturb stage has run.
    image_id : str
        An id from ``samples.parquet``.
    out : Path, optional
        The PNG to write; default ``<run>/contact/<image_id>.png``.
    columns : int
        Tiles per row.
    config : RunConfig, optional
        The settings of an edge mask computed here (see :func:`contact_sheet_of`).

    Raises
    ------
    MissingInputError
        The perturb stage has not run.
    UnknownNameError
        Unknown image id (the message lists a few known ids).
    """
    run = run if isinstance(run, RunDir) else RunDir(run)
    sheet = contact_sheet_of(run, image_id, columns, config)
    path = Path(out) if out is not None else run.path("contact", f"{safe_name(image_id)}.png")
    write_png(path, sheet)
    return path
