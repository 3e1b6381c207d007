"""Every model input is made by one conversion: uint8 RGB → normalised float."""

from __future__ import annotations

import numpy as np
import torch

from localglobal.models.preprocessing import normalise


def test_normalise_matches_the_textbook_formula_and_keeps_channels_last():
    batch = torch.randint(0, 256, (2, 8, 8, 3), dtype=torch.uint8)
    x = normalise(batch, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    expected = (batch.permute(0, 3, 1, 2).float() / 255 - torch.tensor([0.5, 0.4, 0.3]).view(
        1, 3, 1, 1)) / torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)
    assert torch.allclose(x, expected)
    assert x.is_contiguous(memory_format=torch.channels_last)
    flat = normalise(batch.numpy(), (0.5, 0.4, 0.3), (0.2, 0.25, 0.3), channels_last=False)
    assert torch.equal(flat, x) and flat.is_contiguous()
    assert normalise(np.zeros((0, 4, 4, 3), np.uint8), (0.5,) * 3, (0.5,) * 3).shape == (0, 3, 4, 4)


def test_an_array_on_the_cpu_is_normalised_to_the_bit_as_a_tensor_is():
    every_value = np.arange(256, dtype=np.uint8).repeat(3).reshape(1, 16, 16, 3)
    batch = np.concatenate([every_value, np.random.default_rng(0).integers(
        0, 256, (3, 16, 16, 3), dtype=np.uint8)])
    for mean, std in (((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                      ((0.5,) * 3, (0.5,) * 3), ((0.1, 0.9, 0.3), (1.7, 0.01, 2.5))):
        for channels_last in (True, False):
            from_array = normalise(batch, mean, std, channels_last=channels_last)
            from_tensor = normalise(torch.from_numpy(batch), mean, std,
                                    channels_last=channels_last)
            assert torch.equal(from_array, from_tensor)
            assert from_array.stride() == from_tensor.stride()
