"""high-pass: greyscale minus its Gaussian blur, centred on the mean grey, clipped."""

import numpy as np

from localglobal.probes.catalog import get_probe
from localglobal.probes.psychophysics import BACKGROUND_GREY


def reference(grey: np.ndarray, sigma: float) -> np.ndarray:
    """The high-pass by its definition, with loops: pad with the mean grey, sum the
    Gaussian's weights over the window, subtract, move the mean to the mean grey."""
    radius = int(4 * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    k = np.exp(-x**2 / (2 * sigma**2))
    k /= k.sum()
    padded = np.pad(grey, radius, constant_values=BACKGROUND_GREY)
    blur = np.zeros_like(grey)
    for i in range(grey.shape[0]):
        for j in range(grey.shape[1]):
            window = padded[i:i + 2 * radius + 1, j:j + 2 * radius + 1]
            blur[i, j] = k @ window @ k
    detail = grey - blur
    return np.clip(detail + BACKGROUND_GREY - detail.mean(), 0, 1)


def test_a_small_image_equals_the_definition_by_hand():
    probe = get_probe("high-pass")
    image = np.random.default_rng(0).integers(0, 256, (9, 9, 3), dtype=np.uint8)
    grey = (0.2125 * image[..., 0] + 0.7154 * image[..., 1] + 0.0721 * image[..., 2]) / 255
    for label, sigma in [("3.0", 3.0), ("1.0", 1.0), ("0.4", 0.4)]:
        out, record = probe.apply(image, probe.level(label), np.random.default_rng(0))
        assert record == {"sigma": sigma}
        assert np.abs(out[..., 0] - 255 * reference(grey, sigma)).max() <= 0.5 + 1e-9


def test_inf_is_the_grey_image_and_a_flat_image_loses_all_but_its_border():
    probe = get_probe("high-pass")
    flat = np.full((40, 40, 3), 170, np.uint8)
    grey, record = probe.apply(flat, probe.level("inf"), np.random.default_rng(0))
    assert record == {"sigma": None} and np.array_equal(grey, flat)
    out, _ = probe.apply(flat, probe.level("1.5"), np.random.default_rng(0))
    inside = out[10:30, 10:30, 0].astype(int)
    assert np.ptp(inside) == 0  # no detail: one level everywhere inside
    assert abs(out[..., 0].mean() - 255 * BACKGROUND_GREY) < 1
