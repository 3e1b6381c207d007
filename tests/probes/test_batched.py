"""Probes built on tensors are pixel for pixel the probes stored as PNG."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from localglobal.errors import BadInputError
from localglobal.probes.batched import build_probes
from localglobal.probes.patch import fill_colour, paint, patch_batch, patch_rects
from localglobal.probes.scramble import apply_permutation, scramble_batch

SIDE = 224


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)


def as_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None]


@pytest.mark.parametrize("block", [28, 32, 56, 112])
def test_scramble_equals_the_array_probe_at_every_thesis_side(image: np.ndarray, block: int):
    n_blocks = (SIDE // block) ** 2
    permutation = np.random.default_rng(block).permutation(n_blocks).tolist()
    expected = apply_permutation(image, permutation, block)
    built = scramble_batch(as_batch(image), [block], [permutation])[0].permute(1, 2, 0)
    assert np.array_equal(built.numpy(), expected)


@pytest.mark.parametrize("size", [10, 20, 30, 40, 50, 60, 70])
@pytest.mark.parametrize("fill", ["black", "grey", "mean", (10, 200, 30)])
def test_patches_equal_the_array_probe(image: np.ndarray, size: int, fill):
    rects = patch_rects(SIDE, size)
    colour = fill_colour(image, fill)
    expected = paint(image, rects[:1], colour)
    params = {"size": size, "fill": list(fill) if isinstance(fill, tuple) else fill,
              "rects": [list(rects[0])]}
    built = build_probes(as_batch(image), ["patch"], [json.dumps(params)])
    assert np.array_equal(built[0].permute(1, 2, 0).numpy(), expected)


def test_a_mixed_batch_keeps_originals_and_builds_each_item(image: np.ndarray):
    batch = as_batch(image).repeat(3, 1, 1, 1)
    permutation = list(range(4))[::-1]
    probes = ["original", "scramble", "patch"]
    params = [{}, {"block": 112, "permutation": permutation},
              {"size": 70, "fill": "black", "rects": [[7, 7, 77, 77]]}]
    built = build_probes(batch, probes, params)
    assert torch.equal(built[0], batch[0])
    assert np.array_equal(built[1].permute(1, 2, 0).numpy(),
                          apply_permutation(image, permutation, 112))
    assert int(built[2][:, 7:77, 7:77].max()) == 0
    assert torch.equal(built[2][:, 100:, 100:], batch[2][:, 100:, 100:])


def test_float_tensors_on_the_same_levels_give_the_same_pixels(image: np.ndarray):
    rects = [[0, 0, 10, 10]]
    as_float = patch_batch(as_batch(image).float(), [rects], [(1, 2, 3)])
    as_uint8 = patch_batch(as_batch(image), [rects], [(1, 2, 3)])
    assert torch.equal(as_float.to(torch.uint8), as_uint8)


def test_smoothing_cannot_be_built_on_the_fly(image: np.ndarray):
    with pytest.raises(BadInputError, match="store it"):
        build_probes(as_batch(image), ["smooth"], [{}])
