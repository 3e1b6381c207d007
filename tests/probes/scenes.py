"""Small test images for the probe tests."""

from __future__ import annotations

import numpy as np


def photo(side: int, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with a bright square and pixel noise, side×side×3 uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side] / side
    image = np.stack([40 + 150 * xx, 60 + 120 * yy, 200 - 150 * xx * yy], axis=-1)
    image[side // 4: side // 2, side // 3: 2 * side // 3] = (230, 210, 40)
    image += rng.normal(0, 12, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
