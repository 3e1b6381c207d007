"""One shard of one pass: load the images, explain them, score the maps, store them.

A *pass* explains every item with one model (``none``: as trained;
``random-weights``: its randomised copy). Each explained map is scored by
:func:`~localglobal.attribution.regions.region_statistics` against its image's edges
and box — every statistic the function returns becomes a column — and, in the
``none`` pass, against the edges of its partner image (the ``shuffled-edges``
control) and drawn as a heat map; where the run has the true outlines, the ``none``
pass is scored against them too (rows with ``proxy = "outline"``; the others have
``proxy = "canny"``). Images of the next batch are read, and finished
batches scored, in worker threads while the device works; items without a PNG of
their own (``probes.materialize = false``) are built from their original on the
model's device.

A map holding NaN or infinity keeps its row, with ``finite = False`` and NaN
statistics; its NaN and infinite values are stored as 0.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from localglobal.attribution.attributor import Attributor
from localglobal.attribution.heatmap import heatmap_name, overlay
from localglobal.attribution.items import EdgeMasks, built_items, item_box, load_batch
from localglobal.attribution.regions import region_statistics
from localglobal.attribution.relevance_store import (
    MAP_ROW_COLUMN,
    MAPS_COLUMN,
    to_float16,
    write_shard_maps,
)
from localglobal.attribution.table import stat_row
from localglobal.io.images import write_png
from localglobal.probes.batched import build_batch

BATCH_SIZE_COLUMN = "_batch_size"
"""The batch size each row's map was computed with (a shard column, dropped from the
table): how often running out of memory halved the batch."""


@dataclass
class PassPlan:
    """What every shard of one pass shares.

    Attributes
    ----------
    model_name, method, control : str
        The model, the ``method`` column and the pass's control.
    model : callable
        ``model()`` -> the model with its composite registered (built on first use).
    attributor : Attributor
        Explains batches; its batch size shrinks on running out of memory.
    targets : dict or None
        item_id → class to explain; None for the predicted classes.
    edges : EdgeMasks
        The run's edge masks.
    partner : dict
        image_id → the image whose edges the ``shuffled-edges`` control uses.
    shuffled : bool
        Whether to score the ``shuffled-edges`` control too (``none`` pass only).
    frame : (int, int, str)
        ``(crop, resize, interpolation)``.
    maps_folder : Path
        Where shard maps go (the pass's shard folder).
    heatmap_folder : Path or None
        ``heatmaps/<model>`` when heat maps are drawn (``none`` pass only).
    pool : ThreadPoolExecutor
        Threads that read images and score maps.
    outlines : EdgeMasks or None
        The true outlines, to score the maps against as a second proxy (``none`` pass).
    """

    model_name: str
    method: str
    control: str
    model: Callable[[], torch.nn.Module]
    attributor: Attributor
    targets: dict[str, int] | None
    edges: EdgeMasks
    partner: dict[str, str]
    shuffled: bool
    frame: tuple[int, int, str]
    maps_folder: Path
    heatmap_folder: Path | None
    pool: ThreadPoolExecutor
    outlines: EdgeMasks | None = None


@dataclass
class _Batch:
    items: list[dict[str, Any]]
    rows: Future
    maps: np.ndarray = field(repr=False)
    batch_size: int = 0


def score_batch(plan: PassPlan, items: list[dict[str, Any]], images: np.ndarray,
                maps: np.ndarray, targets: np.ndarray, logits: np.ndarray,
                ) -> list[dict[str, Any]]:
    """Rows of one explained batch (run in a worker thread); draws the heat maps.

    Returns
    -------
    list of dict
        The pass's rows in item order, then the ``shuffled-edges`` and outline rows.
    """
    rows, others = [], []
    for k, item in enumerate(items):
        relevance, box = maps[k], item_box(item)
        edges = plan.edges.get(item["image_id"])
        stats = region_statistics(relevance, edges, box)
        rows.append(stat_row(plan.model_name, plan.control, plan.method, item, targets[k],
                             logits[k], stats))
        partner = plan.partner.get(item["image_id"]) if plan.shuffled else None
        if partner is not None:
            other = region_statistics(relevance, plan.edges.get(partner), box)
            others.append(stat_row(plan.model_name, "shuffled-edges", plan.method, item,
                                   targets[k], logits[k], other))
        if plan.outlines is not None and item["image_id"] in plan.outlines:
            truth = region_statistics(relevance, plan.outlines.get(item["image_id"]), box)
            others.append(stat_row(plan.model_name, plan.control, plan.method, item,
                                   targets[k], logits[k], truth, proxy="outline"))
        if plan.heatmap_folder is not None and stats.finite:
            write_png(plan.heatmap_folder / f"{heatmap_name(item)}.png",
                      overlay(images[k], relevance, edges=edges, box=box))
    return rows + others


def _with_targets(plan: PassPlan, good: list[dict[str, Any]], images: np.ndarray | None,
                  bad: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], np.ndarray | None]:
    """Keep the items that have a target class; the others are bad for this pass."""
    if plan.targets is None or not good:
        return good, images
    keep = np.asarray([item["item_id"] in plan.targets for item in good])
    bad.extend((item["item_id"], f"{plan.model_name}: no target class")
               for item, kept in zip(good, keep, strict=True) if not kept)
    kept_items = [item for item, kept in zip(good, keep, strict=True) if kept]
    return kept_items, (images[keep] if kept_items else None)  # type: ignore[index]


def attribute_shard(plan: PassPlan, items: list[dict[str, Any]],
                    ) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Explain and score one shard of items.

    Parameters
    ----------
    plan : PassPlan
        The pass.
    items : list of dict
        Rows of :func:`~localglobal.attribution.items.attribution_items`.

    Returns
    -------
    (pandas.DataFrame, list of (str, str))
        The shard's rows (with :data:`MAPS_COLUMN` and :data:`MAP_ROW_COLUMN`), and
        ``(item_id, reason)`` for every item skipped as bad input.
    """
    size = plan.attributor.batch_size
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    bad: list[tuple[str, str]] = []
    batches: list[_Batch] = []
    loading = plan.pool.submit(load_batch, chunks[0], plan.frame, False) if chunks else None
    for index in range(len(chunks)):
        good, images, unreadable = loading.result()  # type: ignore[union-attr]
        if index + 1 < len(chunks):
            loading = plan.pool.submit(load_batch, chunks[index + 1], plan.frame, False)
        bad.extend(unreadable)
        good, images = _with_targets(plan, good, images, bad)
        if not good or images is None:
            continue
        wanted = None if plan.targets is None else torch.tensor(
            [plan.targets[item["item_id"]] for item in good], dtype=torch.long)
        x, images = _built_on_device(plan, good, images)
        maps, targets, logits = plan.attributor(plan.model(), x, wanted)
        rows = plan.pool.submit(score_batch, plan, good, images, maps, targets, logits)
        batches.append(_Batch(good, rows, to_float16(maps), plan.attributor.batch_size))
    return _shard_table(plan, batches), bad


def _built_on_device(plan: PassPlan, items: list[dict[str, Any]], images: np.ndarray
                     ) -> tuple[np.ndarray | torch.Tensor, np.ndarray]:
    """The batch to explain, its built items made on the model's device; and its images.

    The images (N×H×W×3 uint8, on the CPU) are what the heat maps draw: for a built
    item its probe, copied back only when heat maps are drawn.
    """
    builds = built_items(items)
    if not builds:
        return images, images
    x = build_batch(torch.from_numpy(images), range(len(items)), builds,
                    plan.attributor.device)
    return x, (x.cpu().numpy() if plan.heatmap_folder is not None else images)


def _shard_table(plan: PassPlan, batches: list[_Batch]) -> pd.DataFrame:
    """The shard's rows; its maps stored first, so a finished shard has them."""
    rows = [row for batch in batches for row in batch.rows.result()]
    if not rows:
        return pd.DataFrame()
    explained = [item["item_id"] for batch in batches for item in batch.items]
    name = write_shard_maps(plan.maps_folder, explained,
                            np.concatenate([batch.maps for batch in batches]))
    position = {item_id: row for row, item_id in enumerate(explained)}
    batch_size = {item["item_id"]: batch.batch_size for batch in batches
                  for item in batch.items}
    table = pd.DataFrame(rows)
    table[BATCH_SIZE_COLUMN] = table["item_id"].map(batch_size).astype("int64")
    own = (table["control"] == plan.control) & (table["proxy"] == "canny")
    table[MAPS_COLUMN] = np.where(own, name, "")
    table[MAP_ROW_COLUMN] = [position[i] if o else -1
                             for i, o in zip(table["item_id"], own, strict=True)]
    # The pass's rows first, then the shuffled-edges and outline rows, each in item order.
    return pd.concat([table[own], table[~own]], ignore_index=True)
