"""Images for the model: decoding, fitting, normalising, and the feeder across shards."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
import torch

from localglobal.errors import MachineError
from localglobal.evaluation import loader
from localglobal.evaluation.loader import (
    BatchFeeder,
    ImageDataset,
    fit_image,
    loader_worker_count,
)
from localglobal.evaluation.read_ahead import CAN_LOWER_THREAD_PRIORITY, IDLE_NICE
from localglobal.io.images import write_png
from localglobal.models.preprocessing import normalise

SIZE = 16


@pytest.fixture
def images(tmp_path) -> tuple[list[str], list[np.ndarray]]:
    """Twenty-two small PNGs whose first pixel holds their row number."""
    rng = np.random.default_rng(0)
    paths, arrays = [], []
    for row in range(22):
        image = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        image[0, 0] = row
        path = tmp_path / f"{row:02d}.png"
        write_png(path, image)
        paths.append(str(path))
        arrays.append(image)
    return paths, arrays


def shards_of(n: int, size: int) -> list[list[int]]:
    rows = list(range(n))
    return [rows[i:i + size] for i in range(0, n, size)]


@pytest.mark.parametrize(("workers", "thread"), [(0, False), (0, True), (2, None)],
                         ids=["in-process", "decoding-thread", "worker-processes"])
def test_the_feeder_serves_the_shards_asked_for_and_skips_the_others(images, workers, thread):
    paths, arrays = images
    shards = shards_of(len(paths), 5)  # 5 shards: 5, 5, 5, 5, 2 rows
    feeder = BatchFeeder(ImageDataset(paths, SIZE), workers=workers,
                         device=torch.device("cpu"), thread=thread)
    try:
        for _ in range(2):  # a second pass (another model) on the same workers
            feeder.plan(shards, batch_size=2)
            for shard in (shards[0], shards[2], shards[3], shards[4]):  # shard 1 was done
                batches = list(feeder.batches(shard))
                assert [len(b.rows) for b in batches] == [2] * (len(shard) // 2) + \
                    [1] * (len(shard) % 2)
                rows = np.concatenate([b.rows for b in batches])
                assert rows.tolist() == shard
                for batch in batches:
                    for row, image in zip(batch.rows, batch.images, strict=True):
                        assert np.array_equal(image.numpy(), arrays[row])
        # asked for out of order, or for rows never announced: still right
        assert np.concatenate([b.rows for b in feeder.batches(shards[1])]).tolist() == \
            shards[1]
        assert np.concatenate([b.rows for b in feeder.batches([7, 8])]).tolist() == [7, 8]
    finally:
        feeder.close()


def test_an_undecodable_image_is_a_bad_row_not_an_error(images, tmp_path):
    paths, _ = images
    (tmp_path / "03.png").write_bytes(b"not a png")
    feeder = BatchFeeder(ImageDataset(paths, SIZE), workers=0, device=torch.device("cpu"))
    feeder.plan([[2, 3, 4]], batch_size=3)
    (batch,) = feeder.batches([2, 3, 4])
    assert batch.rows.tolist() == [2, 4] and len(batch.images) == 2
    assert [row for row, _ in batch.bad] == [3]
    assert "not a decodable image" in batch.bad[0][1]


def test_a_failing_disk_is_a_machine_error(images, monkeypatch):
    paths, _ = images

    def broken(path, **_):
        raise OSError(errno.EIO, "Input/output error", path)

    monkeypatch.setattr(loader, "decode_rgb", broken)
    feeder = BatchFeeder(ImageDataset(paths, SIZE), workers=0, device=torch.device("cpu"))
    feeder.plan([[0, 1]], batch_size=2)
    with pytest.raises(MachineError, match="Input/output error"):
        list(feeder.batches([0, 1]))


def test_fit_image_resamples_squares_whole_and_frames_raw_images():
    square = np.zeros((32, 32, 3), np.uint8)
    square[:, :16] = 255
    resized = fit_image(square, 16)
    assert resized.shape == (16, 16, 3) and resized[:, :7].min() == 255  # nothing cut
    raw = np.zeros((40, 20, 3), np.uint8)
    assert fit_image(raw, 16, mode="frame", resize=20).shape == (16, 16, 3)
    assert fit_image(square, 32) is square


def test_images_are_decoded_in_process_on_cpu_unless_configured():
    assert loader_worker_count(None, torch.device("cpu")) == 0
    assert 1 <= loader_worker_count(None, torch.device("cuda")) <= 4
    assert loader_worker_count(3, torch.device("cpu")) == 3


@pytest.mark.parametrize("thread", [False, True])
def test_prepared_batches_are_the_model_input_of_the_good_rows(images, tmp_path, thread):
    paths, arrays = images
    (tmp_path / "03.png").write_bytes(b"not a png")
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    feeder = BatchFeeder(ImageDataset(paths, SIZE), workers=0, device=torch.device("cpu"),
                         thread=thread,
                         prepare=lambda batch: normalise(batch.numpy(), mean, std))
    try:
        feeder.plan([[2, 3, 4, 5]], batch_size=4)
        feeder.start()
        (batch,) = feeder.batches([2, 3, 4, 5])
        assert batch.rows.tolist() == [2, 4, 5] and [row for row, _ in batch.bad] == [3]
        expected = normalise(torch.from_numpy(np.stack([arrays[r] for r in (2, 4, 5)])),
                             mean, std)
        assert torch.equal(batch.images, expected)  # as normalise makes it, to the bit
        assert batch.images.stride() == expected.stride()
    finally:
        feeder.close()


def test_a_feeder_abandoned_mid_pass_stops_its_thread(images):
    paths, _ = images
    feeder = BatchFeeder(ImageDataset(paths, SIZE), workers=0, device=torch.device("cpu"),
                         thread=True)
    feeder.plan(shards_of(len(paths), 2), batch_size=2)
    next(iter(feeder.batches([0, 1])))
    thread = feeder._stream._thread
    assert thread.is_alive()  # decoding ahead, blocked on the full queue
    feeder.close()
    assert not thread.is_alive()


@pytest.mark.skipif(not CAN_LOWER_THREAD_PRIORITY, reason="a thread's own nice is Linux's")
@pytest.mark.parametrize(("device", "nice"), [("cpu", IDLE_NICE), ("meta", 0)])
def test_beside_a_cpu_model_the_decoding_thread_runs_at_the_lowest_priority(images, device,
                                                                             nice):
    paths, _ = images
    feeder = BatchFeeder(ImageDataset(paths, SIZE), workers=0, device=torch.device(device))
    feeder.plan(shards_of(len(paths), 2), batch_size=2)
    try:
        next(iter(feeder.batches([0, 1])))  # the thread set its priority before this batch
        thread = feeder._stream._thread
        assert thread.is_alive()  # blocked on the full queue: its id is still its own
        own = os.getpriority(os.PRIO_PROCESS, os.getpid())
        assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == max(own, nice)
        assert os.getpriority(os.PRIO_PROCESS, os.getpid()) == own  # the process's stays
    finally:
        feeder.close()


def test_threads_decode_a_batch_in_order_with_its_bad_rows(images, tmp_path):
    paths, arrays = images
    (tmp_path / "05.png").write_bytes(b"not a png")
    rows = [(0, row) for row in range(12)]
    one, two = (ImageDataset(paths, SIZE, threads=n).__getitems__(rows) for n in (1, 2))
    assert [item[:2] for item in two] == [item[:2] for item in one] == rows
    for (_, row, image, error, machine), (*_, image_one, error_one, _) in zip(two, one,
                                                                              strict=True):
        assert torch.equal(image, image_one) and error == error_one and not machine
        assert bool(error) == (row == 5)
        if row != 5:
            assert np.array_equal(image.numpy(), arrays[row])
