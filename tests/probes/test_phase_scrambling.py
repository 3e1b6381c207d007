"""phase-scrambling: the phases move at random, the amplitude spectrum stays."""

import numpy as np
import pytest

from localglobal.probes.catalog import get_probe


def low_contrast_photo(side: int = 64) -> np.ndarray:
    """A grey scene between 90 and 170, so the scrambled image is not clipped."""
    yy, xx = np.mgrid[0:side, 0:side]
    grey = 130 + 25 * np.sin(xx / 5) * np.cos(yy / 9)
    grey[side // 4: side // 2, side // 4: 3 * side // 4] += 15
    grey += np.random.default_rng(0).normal(0, 4, grey.shape)
    return np.repeat(np.rint(grey).astype(np.uint8)[..., None], 3, axis=2)


def amplitude(image: np.ndarray) -> np.ndarray:
    return np.abs(np.fft.fft2(image[..., 0].astype(float) / 255))


@pytest.mark.parametrize("label", ["30", "90", "180"])
def test_the_amplitude_spectrum_is_kept_and_the_image_changes(label):
    probe = get_probe("phase-scrambling")
    image = low_contrast_photo()
    out, record = probe.apply(image, probe.level(label), np.random.default_rng(4))
    assert record["width"] == float(label) and isinstance(record["seed"], int)
    before, after = amplitude(image), amplitude(out)
    # Rounding to 8 bits moves each pixel by at most half a level: at most
    # 64·64·0.5/255 ≈ 8 in any frequency's amplitude, far less on average.
    assert np.abs(after - before).max() < 8 and np.abs(after - before).mean() < 0.5
    assert after[0, 0] == pytest.approx(before[0, 0], rel=1e-3)  # the mean grey
    assert not np.array_equal(out, image)


def test_wider_noise_loses_more_of_the_image():
    probe = get_probe("phase-scrambling")
    image = low_contrast_photo()
    grey = image[..., 0].astype(float)
    correlations = []
    for level in probe.levels():
        out, _ = probe.apply(image, level, np.random.default_rng(0))
        correlations.append(np.corrcoef(grey.ravel(), out[..., 0].ravel())[0, 1])
    assert correlations[0] > 0.99  # 0 degrees: the grey image
    assert correlations == sorted(correlations, reverse=True)
    assert abs(correlations[-1]) < 0.2  # 180 degrees: nothing in place


def test_the_recorded_seed_gives_the_noise():
    probe = get_probe("phase-scrambling")
    image = low_contrast_photo(32)
    first, record = probe.apply(image, probe.level("120"), np.random.default_rng(1))
    again = probe.render(image, record)
    other = probe.render(image, {**record, "seed": record["seed"] + 1})
    assert np.array_equal(first, again) and not np.array_equal(first, other)
