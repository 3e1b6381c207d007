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
