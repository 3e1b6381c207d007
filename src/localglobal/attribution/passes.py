"""One pass of one model, as the kernel's stateful worker runs it: here or in a Ray actor.

A *pass* explains every item with one model (``none``: as trained;
``random-weights``: its randomised copy). :class:`AttributionPass` (picklable) says
everything about it; :class:`PassWorker` opens it once — the edge masks, the model (or
its randomised copy, made from the trained one with its BatchNorm statistics
re-estimated on the first images), the method registered on it; an error there fails
the model, not its shards — and then explains shard after shard. On a cluster the run
directory must be on a file system every node sees, as for ``evaluate``.

Each explained map is scored by
:func:`~localglobal.attribution.regions.region_statistics` against its image's edges
and box — every statistic the function returns becomes a column — and, in the
``none`` pass, against the edges of its partner image (the ``shuffled-edges``
control) and drawn as a heat map; where the run has the true outlines, the ``none``
pass is scored against them too (rows with ``proxy = "outline"``; the others have
``proxy = "canny"``). Images of the next batch are read, and finished batches scored,
in worker threads while the device works; items without a PNG of their own
(``probes.materialize = false``) are built from their original on the model's device.
A map holding NaN or infinity keeps its row, with ``finite = False`` and NaN
statistics; its NaN and infinite values are stored as 0.

>>> worker = PassWorker(task)                    # doctest: +SKIP
>>> table, bad = worker(items)                   # doctest: +SKIP
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from localglobal.attribution.controls import randomize_weights
from localglobal.attribution.explainer import Explainer, free_device_memory
from localglobal.attribution.heatmap import heatmap_name, overlay
from localglobal.attribution.items import EdgeMasks, built_items, item_box, load_batch
from localglobal.attribution.methods import Explanation, Settings
from localglobal.attribution.outputs import (
    MAP_ROW_COLUMN,
    MAPS_COLUMN,
    stat_row,
    to_float16,
    write_shard_maps,
)
from localglobal.attribution.regions import region_statistics
from localglobal.io.images import write_png
from localglobal.models import ModelSpec, load_model
from localglobal.models.devices import select_device
from localglobal.models.preprocessing import normalise
from localglobal.probes.batched import build_batch

BATCH_SIZE_COLUMN = "_batch_size"
"""The batch size each row's map was computed with (a shard column, dropped from the
table): how often running out of memory halved the batch."""


@dataclass(frozen=True)
class AttributionPass:
    """One model's pass over its items (``none``: as trained; ``random-weights``).

    Attributes
    ----------
    model_name : str
        The model's name.
    spec : ModelSpec
        The model.
    control : str
        ``none`` or ``random-weights``.
    method : str
        The method, resolved for the model (``epsilon-plus-flat``, ``gradient-x-input``).
    canonizer : str or None
        The model's canonizer (used by an LRP composite only).
    epsilon : float
        The epsilon of the LRP rules.
    batch_size : int
        Images per forward pass at the start (halved on running out of memory).
    device : str
        Where the model runs (``cuda``, ``cpu``, …).
    seed : int
        Seed of the random-weights control.
    frame : (int, int, str)
        ``(crop, resize, interpolation)``.
    targets : dict or None
        item_id → class to explain; None for the predicted classes.
    edges_path : str
        ``edges.npz`` of the run.
    outlines_path : str or None
        ``outlines.npz``, to score the maps against the true outlines too (``none``).
    partner : dict
        image_id → the image whose edges the ``shuffled-edges`` control uses.
    shuffled : bool
        Whether to score the ``shuffled-edges`` control (``none`` pass only).
    maps_folder : str
        Where the shard maps go (the pass's shard folder).
    heatmap_folder : str or None
        ``heatmaps/<model>`` when heat maps are drawn (``none`` pass only).
    calibration : tuple of dict
        The first items of the stage: they re-estimate the random network's BatchNorm
        statistics (``random-weights``).
    """

    model_name: str
    spec: ModelSpec
    control: str
    method: str
    canonizer: str | None
    epsilon: float
    batch_size: int
    device: str
    seed: int
    frame: tuple[int, int, str]
    targets: dict[str, int] | None
    edges_path: str
    outlines_path: str | None
    partner: dict[str, str]
    shuffled: bool
    maps_folder: str
    heatmap_folder: str | None
    calibration: tuple[dict[str, Any], ...] = ()


def pass_model(task: AttributionPass, device: torch.device) -> torch.nn.Module:
    """The model a pass explains: the trained one, or (``random-weights``) its random copy."""
    model = load_model(task.spec, device=device)
    if task.control != "random-weights":
        return model
    good, images, _ = load_batch(list(task.calibration), task.frame)
    calibration = normalise(images, task.spec.mean, task.spec.std, device) \
        if images is not None and len(good) > 1 else None
    with torch.no_grad():
        return randomize_weights(model, task.seed, calibration)


@dataclass
class _Batch:
    items: list[dict[str, Any]]
    rows: Future
    maps: np.ndarray = field(repr=False)
    batch_size: int = 0


class PassWorker:
    """The worker of one pass: ``worker(items) -> (table, bad items)``; :meth:`close` at the end.

    Parameters
    ----------
    task : AttributionPass
        The pass.

    Raises
    ------
    Exception
        Whatever loading the model or registering its method raised: the model fails,
        not its shards.
    """

    def __init__(self, task: AttributionPass):
        self.task = task
        self._stack = ExitStack()
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise

    def _open(self) -> None:
        task = self.task
        device = select_device(task.device)
        self.edges = EdgeMasks(np.load(task.edges_path))
        self._stack.callback(self.edges.close)
        self.outlines = None
        if task.outlines_path is not None:
            self.outlines = EdgeMasks(np.load(task.outlines_path))
            self._stack.callback(self.outlines.close)
        self.pool = ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2)),
                                       thread_name_prefix="attribute")
        self._stack.callback(self.pool.shutdown)
        self.explainer = Explainer(task.method, task.canonizer, device, task.batch_size,
                                   Settings(epsilon=task.epsilon, mean=task.spec.mean,
                                            std=task.spec.std))
        self._stack.callback(free_device_memory, device)
        model = pass_model(task, device)
        self.explain = self._stack.enter_context(self.explainer.attach(model, task.model_name))
        self.heatmaps = Path(task.heatmap_folder) if task.heatmap_folder else None

    def close(self) -> None:
        """Remove the method's hooks, let the model go, close the masks and the threads."""
        self.explain = None
        self._stack.close()

    def __call__(self, items: list[dict[str, Any]],
                 ) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
        """Explain and score one shard of items.

        Parameters
        ----------
        items : list of dict
            Rows of :func:`~localglobal.attribution.items.attribution_items`.

        Returns
        -------
        (pandas.DataFrame, list of (str, str))
            The shard's rows (with :data:`MAPS_COLUMN` and :data:`MAP_ROW_COLUMN`), and
            ``(item_id, reason)`` for every item skipped as bad input.
        """
        size, frame = self.explainer.batch_size, self.task.frame
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        bad: list[tuple[str, str]] = []
        batches: list[_Batch] = []
        loading = self.pool.submit(load_batch, chunks[0], frame, False) if chunks else None
        for index in range(len(chunks)):
            good, images, unreadable = loading.result()  # type: ignore[union-attr]
            if index + 1 < len(chunks):
                loading = self.pool.submit(load_batch, chunks[index + 1], frame, False)
            bad.extend(unreadable)
            good, images = self._with_targets(good, images, bad)
            if not good or images is None:
                continue
            targets = self.task.targets
            wanted = None if targets is None else torch.tensor(
                [targets[item["item_id"]] for item in good], dtype=torch.long)
            x, images = self._built_on_device(good, images)
            explanation = self.explain(x, wanted)  # type: ignore[misc]
            rows = self.pool.submit(self.score_batch, good, images, explanation)
            batches.append(_Batch(good, rows, to_float16(explanation.maps),
                                  self.explainer.batch_size))
        return self._shard_table(batches), bad

    def score_batch(self, items: list[dict[str, Any]], images: np.ndarray,
                    explanation: Explanation) -> list[dict[str, Any]]:
        """Rows of one explained batch (run in a worker thread); draws the heat maps.

        Returns
        -------
        list of dict
            The pass's rows in item order, then the ``shuffled-edges`` and outline rows.
        """
        task, rows, others = self.task, [], []
        for k, item in enumerate(items):
            relevance, box = explanation.maps[k], item_box(item)
            explained = (task.model_name, task.control, explanation.method, item,
                         explanation.targets[k], explanation.logits[k])
            edges = self.edges.get(item["image_id"])
            stats = region_statistics(relevance, edges, box)
            rows.append(stat_row(*explained, stats))
            partner = task.partner.get(item["image_id"]) if task.shuffled else None
            if partner is not None:
                other = region_statistics(relevance, self.edges.get(partner), box)
                others.append(stat_row(task.model_name, "shuffled-edges", *explained[2:],
                                       other))
            if self.outlines is not None and item["image_id"] in self.outlines:
                truth = region_statistics(relevance, self.outlines.get(item["image_id"]),
                                          box)
                others.append(stat_row(*explained, truth, proxy="outline"))
            if self.heatmaps is not None and stats.finite:
                write_png(self.heatmaps / f"{heatmap_name(item)}.png",
                          overlay(images[k], relevance, edges=edges, box=box))
        return rows + others

    def _with_targets(self, good: list[dict[str, Any]], images: np.ndarray | None,
                      bad: list[tuple[str, str]],
                      ) -> tuple[list[dict[str, Any]], np.ndarray | None]:
        """Keep the items that have a target class; the others are bad for this pass."""
        targets = self.task.targets
        if targets is None or not good:
            return good, images
        keep = np.asarray([item["item_id"] in targets for item in good])
        bad.extend((item["item_id"], f"{self.task.model_name}: no target class")
                   for item, kept in zip(good, keep, strict=True) if not kept)
        kept_items = [item for item, kept in zip(good, keep, strict=True) if kept]
        return kept_items, (images[keep] if kept_items else None)  # type: ignore[index]

    def _built_on_device(self, items: list[dict[str, Any]], images: np.ndarray,
                         ) -> tuple[np.ndarray | torch.Tensor, np.ndarray]:
        """The batch to explain, its built items made on the model's device; and its images.

        The images (N×H×W×3 uint8, on the CPU) are what the heat maps draw: for a built
        item its probe, copied back only when heat maps are drawn.
        """
        builds = built_items(items)
        if not builds:
            return images, images
        x = build_batch(torch.from_numpy(images), range(len(items)), builds,
                        self.explainer.device)
        return x, (x.cpu().numpy() if self.heatmaps is not None else images)

    def _shard_table(self, batches: list[_Batch]) -> pd.DataFrame:
        """The shard's rows; its maps stored first, so a finished shard has them."""
        rows = [row for batch in batches for row in batch.rows.result()]
        if not rows:
            return pd.DataFrame()
        explained = [item["item_id"] for batch in batches for item in batch.items]
        name = write_shard_maps(Path(self.task.maps_folder), explained,
                                np.concatenate([batch.maps for batch in batches]))
        position = {item_id: row for row, item_id in enumerate(explained)}
        batch_size = {item["item_id"]: batch.batch_size for batch in batches
                      for item in batch.items}
        table = pd.DataFrame(rows)
        table[BATCH_SIZE_COLUMN] = table["item_id"].map(batch_size).astype("int64")
        own = (table["control"] == self.task.control) & (table["proxy"] == "canny")
        table[MAPS_COLUMN] = np.where(own, name, "")
        table[MAP_ROW_COLUMN] = [position[i] if o else -1
                                 for i, o in zip(table["item_id"], own, strict=True)]
        # The pass's rows first, then the shuffled-edges and outline rows, in item order.
        return pd.concat([table[own], table[~own]], ignore_index=True)
