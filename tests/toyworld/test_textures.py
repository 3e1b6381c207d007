"""The toy world's texture families: each a texture, each its own."""

import numpy as np
import pytest

from localglobal.toyworld.textures import TEXTURES, texture_pattern


def test_texture_families_have_their_own_local_statistics():
    """A family's pattern varies (it is a texture) and is different from the others'."""
    y, x = np.mgrid[0:64, 0:64].astype(np.float32)
    spectra = []
    for family in TEXTURES:
        pattern = texture_pattern(np.random.default_rng(1), family, x, y)
        assert pattern.shape == (64, 64) and 0 <= pattern.min() < pattern.max() <= 1
        assert pattern.std() > 0.1, family
        spectra.append(np.abs(np.fft.fft2(pattern - pattern.mean())).ravel())
    assert len({tuple(np.round(s[:50], 3)) for s in spectra}) == len(TEXTURES)


def test_an_unknown_family_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown texture family 'paisley'"):
        texture_pattern(np.random.default_rng(0), "paisley", np.zeros(3), np.zeros(3))
