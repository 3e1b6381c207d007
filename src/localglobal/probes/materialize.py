"""Writing the probe images of source images as PNGs: the perturb stage's work.

:func:`render_samples` takes a shard of :class:`~localglobal.probes.sources.SourceImage`
records, decodes each image with the one decoder
(:func:`~localglobal.io.images.decode_rgb`), makes its probe images
(:func:`~localglobal.probes.plan.probe_images`), writes them under
``perturbations/<probe>/<wnid>/`` and returns their rows of ``perturbations.parquet``,
plus the images that were bad input (undecodable, too small, refused by a TorchScript
smoother) with the reason. With ``materialize = false`` scrambles and patches are
not written: their rows name the original's PNG (see
:func:`~localglobal.probes.plan.is_built`). A failure of the machine (a full disk)
is never an image's fault: it propagates and stops the stage.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from localglobal.errors import BadInputError
from localglobal.io.images import decode_rgb, write_png
from localglobal.probes.catalog import on_the_fly
from localglobal.probes.plan import ProbePlan, original_path, probe_images
from localglobal.probes.sources import SourceImage, safe_component

PERTURBATION_COLUMNS = ["item_id", "image_id", "wnid", "probe", "level", "variant", "params",
                        "path", "class_index", "split", "condition"]
"""The columns of ``perturbations.parquet`` (the contract's first eight, then three more:
``condition`` is the level's label, ``"28"`` or ``"c50"``)."""

_TEXT_COLUMNS = ("item_id", "image_id", "wnid", "probe", "variant", "params", "path", "split",
                 "condition")


@dataclass(frozen=True)
class RenderJob:
    """What every shard of one perturb run shares (picklable).

    Attributes
    ----------
    plan : ProbePlan
        The probe images to make.
    run_root : str
        The run directory the PNG paths are relative to.
    """

    plan: ProbePlan
    run_root: str


def render_sample(plan: ProbePlan, source: SourceImage, run_root: str | os.PathLike[str]
                  ) -> list[dict[str, Any]]:
    """Make and write every probe image of one source image; return its table rows.

    Parameters
    ----------
    plan : ProbePlan
        What to generate.
    source : SourceImage
        The sample.
    run_root : path-like
        The run directory; images go to ``perturbations/<probe>/<wnid>/``.

    Returns
    -------
    list of dict
        One ``perturbations.parquet`` row per probe image.

    Raises
    ------
    BadInputError
        The image cannot be used (the message names the file and the problem).
    MachineError, OSError
        The machine failed a read or a write.
    """
    image_id = safe_component(source.image_id, "image id")
    wnid = safe_component(source.wnid, "wnid")
    image = decode_rgb(source.path, min_side=plan.min_side)
    root = Path(run_root)
    rows = []
    for item, pixels in probe_images(plan, image, image_id):
        if plan.stores(item.probe):
            relative = item.path(wnid, image_id)
            write_png(root / relative, pixels)
        else:  # built from the original and the params where it is used
            relative = original_path(wnid, image_id)
        rows.append({
            "item_id": item.item_id(image_id), "image_id": image_id, "wnid": wnid,
            "probe": item.probe, "level": int(item.level.code), "variant": str(item.variant),
            "params": item.params_json, "path": relative,
            "class_index": int(source.class_index), "split": str(source.split),
            "condition": item.level.label,
        })
    return rows


def build_images(originals: np.ndarray, probes: Sequence[str], params: Sequence[Any]
                 ) -> np.ndarray:
    """Rows without a PNG of their own, built on the CPU from their originals (N×H×W×3 uint8).

    The same pixels as the stored PNGs of a materialized run
    (:func:`~localglobal.probes.batched.build_probes`); rows of other probes keep
    their image.
    """
    import torch

    from localglobal.probes.batched import build_probes

    originals = np.asarray(originals)
    built = [i for i, probe in enumerate(probes) if on_the_fly(probe) and probe != "original"]
    if not built:
        return originals
    batch = torch.from_numpy(np.ascontiguousarray(originals[built])).permute(0, 3, 1, 2)
    out = originals.copy()
    out[built] = build_probes(batch, [probes[i] for i in built],
                              [params[i] for i in built]).permute(0, 2, 3, 1).numpy()
    return out


def perturbation_table(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the table's column order and types (also when empty)."""
    if rows.empty:
        rows = pd.DataFrame({c: pd.Series(dtype="object") for c in PERTURBATION_COLUMNS})
    rows = rows.copy()
    rows["level"] = rows["level"].astype("int64")
    rows["class_index"] = rows["class_index"].astype("int64")
    for column in _TEXT_COLUMNS:
        rows[column] = rows[column].astype(str)
    return rows[PERTURBATION_COLUMNS + [c for c in rows.columns
                                        if c not in PERTURBATION_COLUMNS]]


def render_samples(job: RenderJob, sources: Iterable[SourceImage]
                   ) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The perturb work on one shard of source images.

    Parameters
    ----------
    job : RenderJob
        The plan and the run directory.
    sources : iterable of SourceImage
        The shard's images.

    Returns
    -------
    (pandas.DataFrame, list of (str, str))
        The rows of every image that worked, and ``(image_id, reason)`` for every
        image that was bad input. Machine failures and unexpected errors propagate.
    """
    rows: list[dict[str, Any]] = []
    bad: list[tuple[str, str]] = []
    for source in sources:
        try:
            rows.extend(render_sample(job.plan, source, job.run_root))
        except BadInputError as error:
            bad.append((source.image_id, str(error)))
    return (perturbation_table(pd.DataFrame(rows)) if rows else pd.DataFrame()), bad
