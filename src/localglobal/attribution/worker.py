"""One pass of one model, as the kernel's stateful worker runs it: here or in a Ray actor.

:class:`AttributionPass` (picklable) says everything a worker needs: the model and
how to explain it, the control, the target classes, where the edge masks, the shard
maps and the heat maps are. :func:`make_worker` builds the worker once — opening the
edge masks, loading the model (or its randomised copy) and registering the
composite; an error there fails the model, not its shards — and the worker then
explains shard after shard (:func:`~localglobal.attribution.shard.attribute_shard`).
On a cluster the run directory must be on a file system every node sees, as for
``evaluate``.

>>> work = make_worker(task)                     # doctest: +SKIP
>>> table, bad = work(items)                     # doctest: +SKIP
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from localglobal.attribution.attributor import Attributor, free_device_memory
from localglobal.attribution.items import EdgeMasks
from localglobal.attribution.session import ModelSession
from localglobal.attribution.shard import PassPlan, attribute_shard
from localglobal.models import ModelSpec, load_model
from localglobal.models.devices import select_device


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
        The ``method`` column (the composite's name).
    composite, canonizer : str, str or None
        What explains it (the canonizer only for an LRP composite).
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
    composite: str
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


class AttributionWorker:
    """The worker of one pass: ``worker(items) -> (table, bad items)``; :meth:`close` at the end.

    Parameters
    ----------
    task : AttributionPass
        The pass.

    Raises
    ------
    Exception
        Whatever loading the model or registering its composite raised: the model
        fails, not its shards.
    """

    def __init__(self, task: AttributionPass):
        self._stack = ExitStack()
        try:
            self.plan = self._open(task)
        except BaseException:
            self._stack.close()
            raise

    def _open(self, task: AttributionPass) -> PassPlan:
        device = select_device(task.device)
        edges = EdgeMasks(np.load(task.edges_path))
        self._stack.callback(edges.close)
        outlines = None
        if task.outlines_path is not None:
            outlines = EdgeMasks(np.load(task.outlines_path))
            self._stack.callback(outlines.close)
        pool = ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2)),
                                  thread_name_prefix="attribute")
        self._stack.callback(pool.shutdown)
        attributor = Attributor(task.composite, task.canonizer, task.epsilon, task.spec.mean,
                                task.spec.std, device, task.batch_size)
        self._stack.callback(free_device_memory, device)
        session = ModelSession(lambda: load_model(task.spec, device=device), attributor,
                               task.model_name, task.seed, pd.DataFrame(list(task.calibration)),
                               task.frame)
        self._stack.callback(session.close)
        model = self._stack.enter_context(session.pass_model(task.control))
        model()  # build now: a model that does not load fails as a model
        return PassPlan(
            model_name=task.model_name, method=task.method, control=task.control,
            model=model, attributor=attributor, targets=task.targets, edges=edges,
            partner=task.partner, shuffled=task.shuffled, frame=task.frame,
            maps_folder=Path(task.maps_folder),
            heatmap_folder=Path(task.heatmap_folder) if task.heatmap_folder else None,
            pool=pool, outlines=outlines)

    def __call__(self, items: list[dict[str, Any]]) -> tuple[pd.DataFrame, list]:
        """Explain and score one shard (:func:`~localglobal.attribution.shard.attribute_shard`)."""
        return attribute_shard(self.plan, items)

    def close(self) -> None:
        """Remove the composite, let the model go, close the masks and the threads."""
        self._stack.close()


def make_worker(task: AttributionPass) -> AttributionWorker:
    """The worker of ``task``, its model loaded (see :class:`AttributionWorker`)."""
    return AttributionWorker(task)
