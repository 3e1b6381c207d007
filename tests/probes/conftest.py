"""Images and configurations for the probe tests (pure: no run directory)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from localglobal.config import config_from_dict

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

TINY_PROBES = {
    "scramble": {"blocks": [56, 112], "variants": 3},
    "patch": {"sizes": [70], "fill": "black"},
    "smooth": {"iterations": 2},
}


def textured_scene(rng: np.random.Generator, width: int = 300, height: int = 240,
                   ) -> np.ndarray:
    """A noisy striped background with a textured rectangle, H×W×3 uint8."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.float64)
    image[:] = rng.integers(40, 120, 3)
    image += 25 * np.sin(xx / 7.0)[..., None]
    inside = (xx >= width // 4) & (xx < 3 * width // 4) & (yy >= height // 4) \
        & (yy < 3 * height // 4)
    checker = ((xx // 4 + yy // 4) % 2) * 40.0
    image[inside] = rng.integers(150, 230, 3) + checker[inside][:, None]
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def tiny_config(probes: dict | None = None, **sections):
    """A configuration with the tiny probe set (or ``probes``)."""
    return config_from_dict({"probes": probes or TINY_PROBES, **sections})


@pytest.fixture(scope="session")
def scene() -> np.ndarray:
    return textured_scene(np.random.default_rng(0))
