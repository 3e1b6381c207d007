"""One pass of one model: the record that describes it and the worker that runs it.

A *pass* explains every item with one model: ``none`` as trained, ``random-weights``
its randomised copy (:mod:`~localglobal.attribution.controls`). :class:`PassWorker`,
the kernel's stateful worker, opens a pass once — an error there fails the model, not
its shards — and explains shard after shard, in this process or in a Ray actor (the
run directory must then be on a file system every node sees, as for ``evaluate``).

Each map is scored by :func:`~localglobal.attribution.regions.region_statistics`
(every statistic it returns becomes a column) against its image's edges and box; in
the ``none`` pass also against its partner image's edges (``shuffled-edges``) and,
where the run has them, the true outlines (``proxy = "outline"``; the others are
``"canny"``), and drawn as a heat map. A map holding NaN or infinity keeps its row,
with ``finite = False`` and NaN statistics.

>>> worker = PassWorker(task)                    # doctest: +SKIP
>>> table, bad = worker(items)                   # doctest: +SKIP
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from localglobal.attribution.controls import randomize_weights
from localglobal.attribution.explainer import Explainer, free_device_memory
from localglobal.attribution.heatmap import heatmap_name, overlay
from localglobal.attribution.methods import Explanation, Settings, is_lrp, resolve_method
from localglobal.attribution.outputs import (
    BATCH_SIZE_COLUMN,
    MAPS_COLUMN,
    stat_row,
    to_float16,
    write_shard_maps,
)
from localglobal.attribution.regions import region_statistics
from localglobal.attribution.stage_inputs import BOX_COLUMNS, built_items, load_batch
from localglobal.config import AttributeSection
from localglobal.io.images import write_png
from localglobal.labels import get_label_space
from localglobal.models import ModelSpec, load_model
from localglobal.models.devices import select_device
from localglobal.models.preprocessing import normalise
from localglobal.probes.batched import build_batch
from localglobal.probes.edge_masks import EdgeMasks


@dataclass(frozen=True)
class AttributionPass:
    """One model's pass over the items (``none``: as trained; ``random-weights``).

    Attributes
    ----------
    model : str
        The model's name.
    spec : ModelSpec
        The model.
    control : str
        ``none`` or ``random-weights``.
    settings : AttributeSection
        The stage's settings (method, ε, target, controls, batch size, heat maps).
    frame : (int, int, str)
        ``(crop, resize, interpolation)``.
    seed : int
        The run seed (of the random weights).
    device : str
        Where the model runs (``cuda``, ``cpu``, …; a Ray actor takes its own GPU).
    edges : str
        ``edges.npz`` of the run.
    outlines : str or None
        ``outlines.npz``, to score the maps against the true outlines too.
    partner : dict
        image_id → the image whose edges the ``shuffled-edges`` control uses.
    heatmaps : str or None
        Where the pass draws its heat maps (``heatmaps/<model>``), if it does.
    calibration : tuple of dict
        The first items of the stage: they re-estimate the random network's BatchNorm
        statistics (``random-weights``).
    targets : dict or None
        item_id → class to explain; None for the predicted classes.
    maps_folder : str
        Where the shard maps go (the pass's shard folder).
    """

    model: str
    spec: ModelSpec
    control: str
    settings: AttributeSection
    frame: tuple[int, int, str]
    seed: int
    device: str
    edges: str
    outlines: str | None = None
    partner: dict[str, str] = field(default_factory=dict)
    heatmaps: str | None = None
    calibration: tuple[dict[str, Any], ...] = ()
    targets: dict[str, int] | None = None
    maps_folder: str = ""

    @property
    def method(self) -> str:
        """The method the model gets (``attribute.composite``, ``auto`` chosen for it)."""
        return resolve_method(self.settings.composite, self.spec.canonizer)

    def explainer(self, device: torch.device) -> Explainer:
        """The pass's method on ``device``, with the model's canonizer and normalisation."""
        return Explainer(self.method, self.spec.canonizer, device, self.settings.batch_size,
                         Settings(epsilon=self.settings.epsilon, mean=self.spec.mean,
                                  std=self.spec.std))

    def refuse_misfit(self) -> None:
        """Refuse, before any weights are loaded, a model the method would attribute wrongly.

        Raises
        ------
        ModelRefused
            As :meth:`~localglobal.attribution.explainer.Explainer.attach`, on an
            unweighted build of the architecture (:func:`architecture`).
        """
        if is_lrp(self.method):
            self.explainer(torch.device("cpu")).check_fit(architecture(self.spec), self.model)

    def key(self, upstream: dict[str, Any]) -> dict[str, Any]:
        """Everything besides the items that changes a shard; ``upstream``: the runs read."""
        s = self.settings
        key = {"model": self.spec.fingerprint(), "composite": s.composite,
               "epsilon": s.epsilon, "target": s.target, "frame": list(self.frame),
               "seed": self.seed, "upstream": upstream, "heatmaps": s.heatmaps,
               "control": self.control}
        if self.control == "none":
            key["shuffled"] = "shuffled-edges" in s.controls
            key["outlines"] = self.outlines is not None
        return key


def architecture(spec: ModelSpec) -> torch.nn.Module:
    """The model's architecture without weights: enough to see whether a canonizer fits.

    Built on the meta device (no initialisation, so even VGG-16 takes milliseconds) and
    given uninitialised CPU storage. A BatchNorm the canonizer folds becomes the exact
    identity whatever its values; one it misses keeps values that are not the identity.
    A builder that computes on its tensors while it builds is built for real instead.
    """
    try:
        with torch.device("meta"):
            model = load_model(spec, pretrained=False, device="meta")
        return model.to_empty(device="cpu")
    except Exception:  # any trouble on the meta device: build it for real
        return load_model(spec, pretrained=False)


def pass_items(task: AttributionPass, items: pd.DataFrame, trained: pd.DataFrame | None = None,
               ) -> tuple[list[dict[str, Any]], dict[str, int] | None, list[tuple[str, str]]]:
    """The items and target classes of a pass, and the items it leaves out as bad.

    ``none`` explains every item (with ``target = "true"``: those whose class is in the
    model's label space); ``random-weights`` the items the trained model explained
    (``trained``: the ``none`` pass's rows), for the same classes.
    """
    records = items.to_dict("records")
    if task.control == "random-weights":
        targets = {}
        if trained is not None and len(trained):
            rows = trained[trained["control"] == "none"]
            targets = dict(zip(rows["item_id"].astype(str), map(int, rows["target"]),
                               strict=True))
        return [r for r in records if r["item_id"] in targets], targets, []
    if task.settings.target != "true":
        return records, None, []
    space = get_label_space(task.spec.label_space)
    targets = {r["item_id"]: space.index_of(r["wnid"]) for r in records if r["wnid"] in space}
    bad = [(r["item_id"], f"{task.model}: true class outside the model's label space "
            f"{task.spec.label_space!r}") for r in records if r["item_id"] not in targets]
    return [r for r in records if r["item_id"] in targets], targets, bad


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

    Images of the next batch are read, and finished batches scored, in worker threads
    while the device works; items without a PNG of their own
    (``probes.materialize = false``) are built from their original on the device.

    Parameters
    ----------
    task : AttributionPass
        The pass.
    """

    def __init__(self, task: AttributionPass):
        self.task = task
        self._stack = ExitStack()
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise

    def _masks(self, path: str) -> EdgeMasks:
        masks = EdgeMasks(np.load(path))
        self._stack.callback(masks.close)
        return masks

    def _open(self) -> None:
        task = self.task
        device = select_device(task.device)
        self.edges = self._masks(task.edges)
        self.outlines = self._masks(task.outlines) if task.outlines else None
        self.pool = ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2)),
                                       thread_name_prefix="attribute")
        self._stack.callback(self.pool.shutdown)
        self.explainer = task.explainer(device)
        self._stack.callback(free_device_memory, device)
        model = pass_model(task, device)
        self.explain = self._stack.enter_context(self.explainer.attach(model, task.model))
        self.heatmaps = Path(task.heatmaps) if task.heatmaps else None

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
            Rows of :func:`~localglobal.attribution.stage_inputs.attribution_items`, each
            with a target class when the pass has ``targets``.

        Returns
        -------
        (pandas.DataFrame, list of (str, str))
            The shard's rows (with :data:`~localglobal.attribution.outputs.SHARD_COLUMNS`), and
            ``(item_id, reason)`` for every item skipped as bad input.
        """
        size, frame, targets = self.explainer.batch_size, self.task.frame, self.task.targets
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        bad: list[tuple[str, str]] = []
        batches: list[_Batch] = []
        loading = self.pool.submit(load_batch, chunks[0], frame, False) if chunks else None
        for index in range(len(chunks)):
            good, images, unreadable = loading.result()  # type: ignore[union-attr]
            if index + 1 < len(chunks):
                loading = self.pool.submit(load_batch, chunks[index + 1], frame, False)
            bad.extend(unreadable)
            if not good or images is None:
                continue
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
        """The pass's rows in item order, then the other rows; draws the heat maps."""
        task, rows, others = self.task, [], []
        for k, item in enumerate(items):
            relevance, image_id = explanation.maps[k], item["image_id"]
            box = tuple(float(item[c]) for c in BOX_COLUMNS)
            row = partial(stat_row, task.model, task.control, explanation.method, item,
                          explanation.targets[k], explanation.logits[k])
            edges = self.edges.get(image_id)
            stats = region_statistics(relevance, edges, box)
            rows.append(row(stats))
            if (partner := task.partner.get(image_id)) is not None:
                shuffled = row(region_statistics(relevance, self.edges.get(partner), box))
                others.append({**shuffled, "control": "shuffled-edges"})
            if self.outlines is not None and image_id in self.outlines:
                truth = region_statistics(relevance, self.outlines.get(image_id), box)
                others.append(row(truth, proxy="outline"))
            if self.heatmaps is not None and stats.finite:
                write_png(self.heatmaps / f"{heatmap_name(item)}.png",
                          overlay(images[k], relevance, edges=edges, box=box))
        return rows + others

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
        rows = [{**row, BATCH_SIZE_COLUMN: batch.batch_size}
                for batch in batches for row in batch.rows.result()]
        if not rows:
            return pd.DataFrame()
        explained = [item["item_id"] for batch in batches for item in batch.items]
        name = write_shard_maps(Path(self.task.maps_folder), explained,
                                np.concatenate([batch.maps for batch in batches]))
        table = pd.DataFrame(rows)
        own = (table["control"] == self.task.control) & (table["proxy"] == "canny")
        table[MAPS_COLUMN] = np.where(own, name, "")
        # The pass's rows first, in the order of their maps; then the shuffled-edges and
        # outline rows.
        return pd.concat([table[own], table[~own]], ignore_index=True)
