"""uniform-noise: greyscale at 30 % contrast plus noise within ± the width, clipped."""

import numpy as np
import pytest

from localglobal.probes.catalog import get_probe


def test_width_0_is_the_grey_image_at_30_percent_contrast_by_hand():
    probe = get_probe("uniform-noise")
    greys = np.array([0, 255, 100], np.uint8)
    image = np.repeat(greys[None, :, None], 3, axis=2)
    out, record = probe.apply(image, probe.level("0.00"), np.random.default_rng(0))
    assert record["width"] == 0.0 and record["contrast"] == 0.3
    assert out[0, :, 0].tolist() == [89, 166, 119]  # 255·(0.35 + 0.3·g/255), rounded


@pytest.mark.parametrize("label", ["0.03", "0.10", "0.35"])
def test_the_noise_stays_within_its_width_and_is_centred(label):
    probe = get_probe("uniform-noise")
    image = np.full((64, 64, 3), 128, np.uint8)  # 30 % contrast: 0.5 + 0.3·(128/255 − ½)
    base = 255 * (0.35 + 0.3 * 128 / 255)
    out, _ = probe.apply(image, probe.level(label), np.random.default_rng(2))
    noise = out[..., 0].astype(float) - base
    width = 255 * float(label)
    assert np.abs(noise).max() <= width + 0.5  # nothing clipped this close to mid-grey
    assert np.abs(noise).max() > 0.8 * width  # and the whole width is used
    assert abs(noise.mean()) < width / 20


def test_strong_noise_is_clipped_to_the_range_and_the_contrast_is_a_parameter():
    probe = get_probe("uniform-noise", {"contrast": 0.1})
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out, record = probe.apply(image, probe.level("0.90"), np.random.default_rng(0))
    assert record["contrast"] == 0.1
    assert out.min() == 0 and out.max() == 255
    assert get_probe("uniform-noise").strongest().label == "0.90"
