"""Images for the model, batch by batch: decoding, fitting, normalising, prefetching.

Image files are decoded by the one decoder (:func:`localglobal.io.images.decode_rgb`)
in :class:`torch.utils.data.DataLoader` worker processes and arrive as uint8 H×W×3
batches; :func:`localglobal.models.preprocessing.normalise` turns them into the model's
input on the device, where uint8 batches are four times cheaper to move than float ones.

The evaluate stage asks for its images shard by shard (the unit of resume). A
:class:`BatchFeeder` is told every shard of a pass beforehand, so that its workers
decode the next shard while the model works on this one; a shard the stage skips
(already finished) costs at most the few batches decoded ahead.

>>> dataset = ImageDataset(paths, 224)                        # doctest: +SKIP
>>> feeder = BatchFeeder(dataset, workers=4, device=device)   # doctest: +SKIP
>>> feeder.plan(shards, batch_size=64)                        # doctest: +SKIP
>>> for batch in feeder.batches(shards[0]): ...               # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from localglobal.errors import BadInputError, MachineError, is_machine_error
from localglobal.evaluation.read_ahead import CAN_LOWER_THREAD_PRIORITY, IDLE_NICE, ReadAhead
from localglobal.io.images import decode_rgb
from localglobal.probes.materialize import build_images

MAX_WORKERS = 4
"""Decoding processes on an accelerator; more only take cores from the rest."""

PREFETCH_BATCHES = 4
"""Batches each worker decodes ahead."""

THREAD_PREFETCH_BATCHES = 2
"""Batches the decoding thread of a feeder without worker processes decodes ahead."""


def fit_image(image: np.ndarray, size: int, *, mode: str = "resize", resize: int | None = None,
              interpolation: str = "bilinear") -> np.ndarray:
    """Bring an RGB image to ``size`` × ``size`` pixels.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8.
    size : int
        Output side, pixels.
    mode : {"resize", "frame"}
        ``resize`` for images already in an input frame (a square whose side merely
        differs from the model's: resampled as a whole, nothing cut); ``frame`` for
        raw images (shorter side to ``resize``, centre crop, as torchvision does). An
        image already ``size`` × ``size`` is kept as it is.
    resize : int, optional
        Shorter side before the crop in ``frame`` mode (default ``size``).
    interpolation : str
        ``bilinear``, ``bicubic`` or ``nearest``.

    Returns
    -------
    numpy.ndarray
        ``size`` × ``size`` × 3 uint8.
    """
    from localglobal.io.images import to_input_frame

    height, width = image.shape[:2]
    if height == size and width == size:
        return image
    # torchvision's antialiased resize (PIL: no thread pool, safe in forked workers); in
    # resize mode a square is resampled whole, since it already is an input frame
    shorter = resize if mode == "frame" and resize else size
    return to_input_frame(image, resize=shorter, crop=size, interpolation=interpolation)


class ImageDataset(torch.utils.data.Dataset):
    """Image files as ``size`` × ``size`` × 3 uint8 tensors (H×W×C), by row number.

    An index is a row number or a ``(tag, row)`` pair (the feeder tags each row with
    its batch). Items are ``(tag, row, image, error, machine)``: a file that cannot be
    decoded gives a zero image and the decoder's message, so that one bad file does
    not stop a batch; ``machine`` marks a failure of the machine (an I/O error),
    which the feeder raises rather than blame the image.

    Parameters
    ----------
    paths : sequence of path-like
        One file per row.
    size : int
        The model's input side.
    mode, resize, interpolation
        How an image of another size is fitted (see :func:`fit_image`).
    builds : mapping of int to (str, str), optional
        Rows whose file is their image's original and whose probe is built from it
        here, before fitting: ``row -> (probe, params JSON)``
        (:func:`localglobal.probes.materialize.build_images`). The last decoded file is
        kept, so the items of one image decode it once.
    threads : int
        Threads that decode the items of one batch together, in this process (the
        decoders let go of the interpreter lock). Between a CPU model's forward passes
        the cores are free; a batch with rows to build is decoded item by item.
    """

    def __init__(self, paths: Sequence[str | os.PathLike[str]], size: int, *,
                 mode: str = "resize", resize: int | None = None,
                 interpolation: str = "bilinear",
                 builds: Mapping[int, tuple[str, str]] | None = None, threads: int = 1):
        self.paths = [str(p) for p in paths]
        self.size = int(size)
        self.mode = mode
        self.resize = resize
        self.interpolation = interpolation
        self.builds = builds or {}
        self.threads = max(1, int(threads))
        self._last: tuple[str, np.ndarray] | None = None

    def _decode(self, row: int) -> np.ndarray:
        path = self.paths[row]
        last = self._last  # read once: another thread may replace it meanwhile
        if last is None or last[0] != path:
            last = (path, decode_rgb(path))
            self._last = last
        image = last[1]
        build = self.builds.get(row)
        if build is not None:
            image = build_images(image[None], [build[0]], [build[1]])[0]
        return image

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[int, int, torch.Tensor, str,
                                                                   bool]:
        tag, row = index if isinstance(index, tuple) else (-1, index)
        try:
            image = fit_image(self._decode(row), self.size, mode=self.mode,
                              resize=self.resize, interpolation=self.interpolation)
        except BadInputError as error:
            return tag, row, self._blank(), str(error), False
        except OSError as error:
            if not is_machine_error(error):
                raise
            # The errno would be lost on the way out of a worker process: say it here.
            return tag, row, self._blank(), f"{self.paths[row]}: {error}", True
        return tag, row, torch.from_numpy(np.require(image, requirements=["C", "W"])), "", False

    def __getitems__(self, indices: Sequence[int | tuple[int, int]]) -> list[
            tuple[int, int, torch.Tensor, str, bool]]:
        """The items of one batch, in order (decoded by :attr:`threads` threads)."""
        threads = min(self.threads, len(indices))
        if threads < 2 or self.builds or torch.utils.data.get_worker_info() is not None:
            return [self[index] for index in indices]
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:  # gone after the batch
            return list(pool.map(self.__getitem__, indices))

    def _blank(self) -> torch.Tensor:
        return torch.zeros((self.size, self.size, 3), dtype=torch.uint8)


def loader_worker_count(configured: int | None, device: torch.device) -> int:
    """How many processes decode images for the model.

    Decoding a 224-pixel PNG takes about a millisecond, a CPU forward pass of a
    ResNet-50 about a hundred: on the CPU, worker processes only take cores from the
    model, so images are decoded in the main process. An accelerator leaves the cores
    free, and then up to :data:`MAX_WORKERS` workers keep it fed.

    Parameters
    ----------
    configured : int or None
        ``evaluate.loader_workers``; used as it is when set.
    device : torch.device
        Where the model runs.
    """
    if configured is not None:
        return configured
    if device.type == "cpu":
        return 0
    return min(MAX_WORKERS, os.cpu_count() or 1)


def reads_ahead(device: torch.device, workers: int) -> bool:
    """Whether a thread of this process decodes ahead of the model (see :class:`BatchFeeder`).

    Parameters
    ----------
    device : torch.device
        Where the model runs.
    workers : int
        Decoding processes (with any, they decode ahead and no thread does).

    Returns
    -------
    bool
        False also beside a CPU model where a thread's priority cannot be lowered: there
        the images are decoded between the forward passes.
    """
    return workers == 0 and (device.type != "cpu" or CAN_LOWER_THREAD_PRIORITY)


def _worker_init(_: int) -> None:
    # The workers are the parallelism: one torch thread each.
    torch.set_num_threads(1)


def collate_items(items: Sequence[tuple[int, int, torch.Tensor, str, bool]]) -> tuple[
        torch.Tensor, torch.Tensor, torch.Tensor, list[str], torch.Tensor]:
    """One batch of :class:`ImageDataset` items: tags, rows, N×H×W×3 images, errors, machine.

    The images are copied into the batch by numpy in this thread: a batch is a few
    megabytes, and ``torch.stack`` would hand so small a copy to torch's thread pool,
    which on a CPU busy with the model's forward pass costs a hundred times the copy.
    In a worker process the batch is made in shared memory, as the DataLoader's own
    collation does, so that it reaches the model's process without another copy.
    """
    tags, rows, images, errors, machine = zip(*items, strict=True)
    batch = torch.empty((len(images), *images[0].shape), dtype=torch.uint8)
    if torch.utils.data.get_worker_info() is not None:
        batch.share_memory_()
    np.stack([image.numpy() for image in images], out=batch.numpy())
    return (torch.tensor(tags, dtype=torch.int64), torch.tensor(rows, dtype=torch.int64), batch,
            list(errors), torch.tensor(machine, dtype=torch.bool))


class Batch(NamedTuple):
    """Decoded images of one batch.

    Attributes
    ----------
    rows : numpy.ndarray
        The dataset rows whose images were decoded (int64).
    images : torch.Tensor
        Their N×H×W×3 uint8 images (pinned on CUDA), or what the feeder's ``prepare``
        made of them.
    bad : list of (int, str)
        ``(row, reason)`` for the rows that could not be decoded.
    """

    rows: np.ndarray
    images: torch.Tensor
    bad: list[tuple[int, str]]


class _PlanSampler(torch.utils.data.Sampler):
    """Yields the planned batches from a cursor the feeder may move forward."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.next = 0

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        while self.next < len(self.batches):
            index = self.next
            self.next += 1
            yield [(index, row) for row in self.batches[index]]

    def __len__(self) -> int:
        return len(self.batches)


def _as_batch(collated: tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[str],
                             torch.Tensor],
              prepare: Callable[[torch.Tensor], torch.Tensor] | None) -> tuple[int, Batch]:
    """A collated batch as ``(tag, Batch)``: bad rows set aside, the images prepared.

    Raises
    ------
    MachineError
        The machine failed a read (not an image's fault).
    """
    tags, rows, images, errors, machine = collated
    machine_errors = [e for e, m in zip(errors, machine.tolist(), strict=True) if m]
    if machine_errors:
        raise MachineError(f"reading images failed: {machine_errors[0]}")
    rows_np = rows.numpy()
    bad = [(int(r), e) for r, e in zip(rows_np, errors, strict=True) if e]
    if bad:
        keep = np.array([not e for e in errors])
        rows_np, images = rows_np[keep], images[torch.from_numpy(keep)]
    if prepare is not None and len(rows_np):
        images = prepare(images)
    return int(tags[0]), Batch(rows_np, images, bad)


class BatchFeeder:
    """One DataLoader (and its persistent workers) serving shard after shard.

    Call :meth:`plan` with every shard of a pass, in the order they will be asked
    for, then :meth:`batches` for each shard that is actually needed. Workers decode
    ahead across shard boundaries, so the device does not wait at each one; without
    worker processes, a thread of this process decodes ahead
    (:data:`THREAD_PREFETCH_BATCHES` batches) while the model runs. Beside a model on
    the CPU, whose forward pass keeps every core busy with torch's thread pool, that
    thread runs at the lowest priority (:data:`IDLE_NICE`): at the usual one it would
    displace a thread of the pool, and every operation of the pass would wait for it;
    at the lowest it decodes in the moments the pass leaves a core idle (between its
    operations, in the interpreter's share of the work), which on two cores hides the
    decoding almost entirely. Where a thread's priority cannot be lowered (not Linux),
    the images are decoded between the forward passes, in this thread.

    Parameters
    ----------
    dataset : ImageDataset
        The images, by row.
    workers : int
        Decoding processes (0: none, see ``thread``).
    device : torch.device
        The model's device (batches are pinned for CUDA).
    persistent : bool
        Keep the workers alive between passes (one pass per model).
    thread : bool, optional
        Without worker processes, decode ahead in a thread of this process; default:
        :func:`reads_ahead`.
    prepare : callable, optional
        Applied to each batch's uint8 images before it is handed over (by the decoding
        thread where there is one): the model's input made ahead, e.g. :func:`normalise
        <localglobal.models.preprocessing.normalise>` of the images as an array.
    """

    def __init__(self, dataset: ImageDataset, *, workers: int, device: torch.device,
                 persistent: bool = True, thread: bool | None = None,
                 prepare: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self._prepare = prepare
        self._sampler = _PlanSampler()
        options: dict[str, Any] = {}
        if workers > 0:
            options = {"worker_init_fn": _worker_init, "persistent_workers": persistent,
                       "prefetch_factor": PREFETCH_BATCHES}
        self._loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=self._sampler, num_workers=workers,
            collate_fn=collate_items, pin_memory=device.type == "cuda", **options)
        self._threaded = reads_ahead(device, workers) if thread is None \
            else workers == 0 and thread
        self._nice = IDLE_NICE if device.type == "cpu" else 0
        self._starts: dict[int, tuple[int, list[int]]] = {}
        self._stream: Iterator[Any] | None = None
        self._pending: tuple[int, Batch] | None = None
        self._batch_size = 1

    def plan(self, shards: Sequence[Sequence[int]], batch_size: int) -> None:
        """Announce a pass: its shards (lists of rows) in the order they will be asked for.

        Parameters
        ----------
        shards : sequence of sequence of int
            Dataset rows, shard by shard.
        batch_size : int
            Images per batch; a batch never spans two shards.
        """
        batches: list[list[int]] = []
        self._starts = {}
        for shard in shards:
            rows = [int(r) for r in shard]
            if rows:
                self._starts[rows[0]] = (len(batches), rows)
                batches += [rows[i:i + batch_size] for i in range(0, len(rows), batch_size)]
        self._stop_stream()
        self._sampler.batches = batches
        self._sampler.next = 0
        self._pending = None
        self._batch_size = batch_size

    def start(self) -> None:
        """Start decoding the planned batches now, ahead of the first :meth:`batches`."""
        if self._stream is None:
            self._stream = self._open()

    def batches(self, rows: Sequence[int]) -> Iterator[Batch]:
        """The batches of one planned shard, in order.

        Raises
        ------
        MachineError
            The machine failed a read (not an image's fault).
        """
        rows = [int(r) for r in rows]
        if not rows:
            return
        planned = self._starts.get(rows[0])
        if planned is None or planned[1] != rows:
            self.plan([rows], self._batch_size)  # a shard that was not announced
            planned = self._starts[rows[0]]
        first = planned[0]
        count = -(-len(rows) // self._batch_size)
        # Nothing of this shard dispatched yet: skip the shards in between.
        self._sampler.next = max(self._sampler.next, first)
        for index in range(first, first + count):
            yield self._take(index)

    def _take(self, index: int) -> Batch:
        """Batch ``index`` of the plan, dropping batches of shards that were skipped."""
        restarted = False
        while True:
            if self._pending is None:
                try:
                    self._pending = self._pull()
                except StopIteration:
                    if restarted:
                        raise RuntimeError(f"batch {index} of the plan never arrived") from None
                    self._restart(index)
                    restarted = True
                    continue
            tag, batch = self._pending
            if tag == index:
                self._pending = None
                return batch
            if tag < index:  # decoded ahead for a shard that was not needed
                self._pending = None
                continue
            self._restart(index)  # asked for a batch the stream has gone past
            restarted = True

    def _restart(self, index: int) -> None:
        self._stop_stream()  # before the cursor moves: a decoding thread reads it
        self._sampler.next = index
        self._stream, self._pending = self._open(), None

    def _open(self) -> Iterator[tuple[int, Batch]]:
        stream = map(functools.partial(_as_batch, prepare=self._prepare), iter(self._loader))
        if not self._threaded:
            return stream
        return ReadAhead(stream, THREAD_PREFETCH_BATCHES, self._nice)

    def _stop_stream(self) -> None:
        if isinstance(self._stream, ReadAhead):
            self._stream.close()
        self._stream = None

    def _pull(self) -> tuple[int, Batch]:
        if self._stream is None:
            self._stream = self._open()
        return next(self._stream)

    def close(self) -> None:
        """Stop the workers now (they also stop when the feeder is garbage-collected)."""
        self._stop_stream()
        self._pending = None
        iterator = getattr(self._loader, "_iterator", None)  # the persistent workers' one
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        self._loader._iterator = None


__all__ = ["Batch", "BatchFeeder", "ImageDataset", "collate_items", "fit_image",
           "loader_worker_count", "reads_ahead"]
