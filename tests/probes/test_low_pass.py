"""low-pass: greyscale blurred by a Gaussian, the outside counting as the mean grey."""

import numpy as np

from localglobal.probes.catalog import get_probe
from localglobal.probes.psychophysics import BACKGROUND_GREY


def test_a_point_spreads_into_the_gaussian_by_hand():
    probe = get_probe("low-pass")
    image = np.full((21, 21, 3), 60, np.uint8)
    image[10, 10] = 255
    out, record = probe.apply(image, probe.level("1"), np.random.default_rng(0))
    # Far from the border a blur of σ = 1 adds (1 − 60/255)·k(dy)·k(dx) to 60/255, with
    # the kernel k(x) = exp(−x²/2) over x = −4 … 4, normalised.
    x = np.arange(-4, 5)
    k = np.exp(-x**2 / 2) / np.exp(-x**2 / 2).sum()
    for dy, dx in [(0, 0), (0, 1), (1, 1), (2, 0), (3, 3)]:
        expected = 255 * (60 / 255 + (1 - 60 / 255) * k[4 + dy] * k[4 + dx])
        assert abs(int(out[10 + dy, 10 + dx, 0]) - expected) <= 0.5
    assert record == {"sigma": 1.0}


def test_the_border_fades_into_the_mean_grey_and_sigma_0_keeps_the_grey_image():
    probe = get_probe("low-pass")
    white = np.full((64, 64, 3), 255, np.uint8)
    blurred, _ = probe.apply(white, probe.level("10"), np.random.default_rng(0))
    # At the corner, the kernel's weight on the image is (k(0)/2 + ½)² in each direction
    # (with k over x = −40 … 40); the rest falls on the mean grey outside.
    x = np.arange(-40, 41)
    k = np.exp(-x**2 / 200) / np.exp(-x**2 / 200).sum()
    inside = k[40:].sum() ** 2
    expected = 255 * (inside + (1 - inside) * BACKGROUND_GREY)
    assert abs(int(blurred[0, 0, 0]) - expected) <= 0.5
    same, _ = probe.apply(white, probe.level("0"), np.random.default_rng(0))
    assert np.array_equal(same, white)


def test_blurring_removes_the_high_frequencies():
    probe = get_probe("low-pass")
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::2] = 255  # the highest horizontal frequency
    out, _ = probe.apply(stripes, probe.level("3"), np.random.default_rng(0))
    centre = out[24:40, 24:40, 0].astype(int)
    assert np.ptp(centre) <= 1 and abs(centre.mean() - 127.5) < 2
