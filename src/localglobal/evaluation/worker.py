"""One model's pass over a set of images, as the kernel's stateful worker runs it.

:class:`ClassificationPass` (picklable) says everything a worker needs: the model,
the device, the images by row, how to fit them, how to turn logits into rows.
:func:`make_worker` builds the worker once — loading the model (an error there fails
the model, not its shards) and starting the image feeder — in this process or in a
Ray actor; the worker then classifies shard after shard.

>>> work = make_worker(task)                     # doctest: +SKIP
>>> work([0, 1, 2, 3]).table                     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from localglobal.evaluation.inference import shared_classifier
from localglobal.evaluation.loader import BatchFeeder, ImageDataset, reads_ahead
from localglobal.models.devices import select_device
from localglobal.models.spec import ModelSpec
from localglobal.pipeline.shards import ShardResult
from localglobal.probes.batched import build_batch

Rows = Callable[[np.ndarray, torch.Tensor], pd.DataFrame]
"""``rows(row_numbers, logits) -> table``: a :class:`~localglobal.evaluation.scoring.Scorer`'s
or a :class:`~localglobal.evaluation.geirhos_decider.GeirhosDecider`'s ``frame``."""


@dataclass(frozen=True)
class ClassificationPass:
    """One model over one set of images.

    Attributes
    ----------
    spec : ModelSpec
        The model.
    n_classes, space : int, str
        Its label space's size and name (its outputs are checked against them).
    device : str
        Where it runs (``cuda``, ``cpu``, …).
    paths : tuple of str
        The image files, by row.
    ids : tuple of str
        Each row's item id (bad items are named by it).
    rows : callable
        Logits → table rows (see :data:`Rows`).
    fit : str
        ``resize`` (input-frame images) or ``frame`` (raw images; the model's own
        resize, crop and interpolation).
    batch_size, loader_workers : int
        Images per batch; decoding processes.
    channels_last, bf16 : bool
        Memory layout; bfloat16 autocast (CUDA only).
    shards : tuple of tuple of int, optional
        Every shard of the pass in the order they will be asked for, so the feeder
        decodes ahead across shards; ``None`` where the order is not known (Ray actors
        sharing the shards).
    builds : mapping of int to (str, str), optional
        Rows built from their original (``probes.materialize = false``):
        ``row -> (probe, params JSON)``. They are built batch by batch on the model's
        device when the model takes the input frame as it is (``frame_crop``), else
        on the CPU before the image is fitted.
    frame_crop : int, optional
        The side of the run's input frame.
    """

    spec: ModelSpec
    n_classes: int
    space: str
    device: str
    paths: tuple[str, ...]
    ids: tuple[str, ...]
    rows: Rows
    fit: str = "resize"
    batch_size: int = 64
    loader_workers: int = 0
    channels_last: bool = True
    bf16: bool = False
    shards: tuple[tuple[int, ...], ...] | None = None
    builds: Mapping[int, tuple[str, str]] | None = None
    frame_crop: int | None = None


def make_worker(task: ClassificationPass) -> Callable[[list[int]], ShardResult]:
    """Load the model and start the feeder; return ``work(rows) -> ShardResult``.

    Raises
    ------
    LocalglobalError
        The model cannot be loaded, or its outputs do not fit its label space.
    """
    device = select_device(task.device)
    classifier = shared_classifier(task.spec, str(device), n_classes=task.n_classes,
                                   space=task.space, channels_last=task.channels_last,
                                   bf16=task.bf16)
    spec = task.spec
    builds = dict(task.builds or {})
    on_device = bool(builds) and task.frame_crop in (None, spec.crop)
    # decoded in this process between the forward passes: by as many threads as they use
    between_passes = task.loader_workers == 0 and not reads_ahead(device, 0)
    dataset = ImageDataset(task.paths, spec.crop, mode=task.fit, resize=spec.resize,
                           interpolation=spec.interpolation,
                           builds=None if on_device else builds,
                           threads=torch.get_num_threads() if between_passes else 1)
    # on the CPU the model's input is made by numpy as each batch is decoded: torch's
    # thread pool would spend more on synchronising so small an operation than on it
    prepare = classifier.input_of if device.type == "cpu" and not on_device else None
    feeder = BatchFeeder(dataset, workers=task.loader_workers, device=device, prepare=prepare)
    if task.shards is not None:
        feeder.plan(task.shards, task.batch_size)
        feeder.start()  # the first batches decode while the model loads
    try:
        classifier.model()  # load now: a model that does not load fails as a model
    except BaseException:
        feeder.close()
        raise

    def work(rows: list[int]) -> ShardResult:
        if task.shards is None:
            feeder.plan([rows], task.batch_size)
        tables, bad = [], []
        for batch in feeder.batches(rows):
            bad += [(task.ids[row], reason) for row, reason in batch.bad]
            if len(batch.rows):
                images = build_batch(batch.images, batch.rows, builds, device) \
                    if on_device else batch.images
                tables.append(task.rows(batch.rows, classifier.logits(images)))
        return ShardResult(pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(),
                           bad)

    work.close = feeder.close  # type: ignore[attr-defined]  # the kernel closes a worker
    return work


__all__ = ["ClassificationPass", "Rows", "make_worker"]
