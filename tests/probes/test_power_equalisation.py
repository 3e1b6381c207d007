"""power-equalisation: the mean 2018 amplitude spectrum, the image's own phases."""

import numpy as np
import pytest

from localglobal.errors import ConfigError
from localglobal.probes import psychophysics as pp
from localglobal.probes.catalog import get_probe
from tests.probes.scenes import photo


def test_the_amplitude_becomes_the_mean_spectrum_and_the_phases_stay():
    probe = get_probe("power-equalisation")
    image = photo(224)
    out, record = probe.apply(image, probe.level("pow"), np.random.default_rng(0))
    assert record == {"equalised": True}
    grey = pp.greyscale(pp.to_unit(image))
    spectrum = np.fft.fftshift(np.fft.fft2(out[..., 0] / 255))
    target = pp.mean_amplitude_spectrum()
    strong = target > 5 * np.median(target)  # where rounding and clipping barely matter
    assert np.median(np.abs(np.abs(spectrum[strong]) / target[strong] - 1)) < 0.05
    own = np.fft.fftshift(np.fft.fft2(grey))
    turn = np.angle(spectrum[strong] / own[strong])
    assert np.median(np.abs(turn)) < 0.1  # radians


def test_0_is_the_grey_image_and_another_frame_is_refused():
    probe = get_probe("power-equalisation")
    image = photo(224)
    grey, record = probe.apply(image, probe.level("0"), np.random.default_rng(0))
    assert record == {"equalised": False}
    assert np.array_equal(grey, pp.to_uint8(pp.greyscale(pp.to_unit(image))))
    with pytest.raises(ConfigError, match="224"):
        get_probe("power-equalisation", crop=192).check()
    get_probe("power-equalisation", {"levels": ["0"]}, crop=192).check()
