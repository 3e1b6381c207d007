"""The shared steps of the 2018 manipulations: greyscale, contrast, filters, Fourier, gamma."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch
from scipy import ndimage

from localglobal.probes import psychophysics as pp


def test_greyscale_is_the_bt709_luminance_of_the_pixel():
    pixel = np.array([[[10, 200, 30]]], np.uint8)
    expected = round(0.2125 * 10 + 0.7154 * 200 + 0.0721 * 30)  # 147.368 -> 147
    assert pp.to_uint8(pp.greyscale(pp.to_unit(pixel))).tolist() == [[[expected] * 3]]
    assert sum(pp.GREY_WEIGHTS) == pytest.approx(1.0)


def test_contrast_moves_every_level_towards_mid_grey():
    grey = np.array([0.0, 1.0, 100 / 255])
    assert pp.adjust_contrast(grey, 0.5) == pytest.approx([0.25, 0.75, 0.25 + 50 / 255])
    assert pp.adjust_contrast(grey, 0.0) == pytest.approx([0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="contrast"):
        pp.adjust_contrast(grey, 1.2)


@pytest.mark.parametrize("sigma", [0.4, 1.0, 3.0, 40.0])
def test_the_gaussian_kernel_is_normalised_and_reaches_four_sigma(sigma):
    kernel = pp.gaussian_kernel(sigma)
    radius = int(4 * sigma + 0.5)
    assert kernel.shape == (2 * radius + 1,)
    assert kernel.sum() == pytest.approx(1.0)
    x = np.arange(-radius, radius + 1)
    assert kernel / kernel[radius] == pytest.approx(np.exp(-x**2 / (2 * sigma**2)))


@pytest.mark.parametrize("sigma", [0.55, 3.0, 15.0])
def test_the_batched_blur_is_the_array_blur_padded_with_the_mean_grey(sigma):
    grey = np.random.default_rng(0).random((2, 40, 40))
    expected = [ndimage.gaussian_filter(g, sigma, mode="constant", cval=pp.BACKGROUND_GREY)
                for g in grey]
    built = pp.low_pass_batch(torch.as_tensor(grey, dtype=torch.float32), [sigma, sigma])
    assert built.numpy() == pytest.approx(np.stack(expected), abs=1e-5)
    assert pp.low_pass(grey[0], sigma) == pytest.approx(expected[0], abs=1e-12)


@pytest.mark.parametrize("shape", [(8, 8), (9, 9), (8, 11)])
def test_phase_shifts_come_in_conjugate_pairs_so_the_image_stays_real(shape):
    shifts = pp.phase_shifts(shape, 180.0, seed=3)
    top, left = 1 - shape[0] % 2, 1 - shape[1] % 2
    block = shifts[top:, left:]
    assert np.array_equal(block, -block[::-1, ::-1])
    assert shifts[shape[0] // 2, shape[1] // 2] == 0.0  # the mean is kept
    assert np.abs(shifts).max() <= np.pi
    grey = np.random.default_rng(0).random(shape)
    spectrum = np.fft.ifftshift(np.fft.fftshift(np.fft.fft2(grey)) * np.exp(1j * shifts))
    assert np.abs(np.fft.ifft2(spectrum).imag).max() < 1e-12


def test_the_shipped_constants_load_and_carry_their_attribution():
    spectrum, table = pp.mean_amplitude_spectrum(), pp.gamma_table()
    assert spectrum.shape == (224, 224) and table.shape == (256,)
    assert table[0] == 0.0 and table[-1] == 1.0 and np.all(np.diff(table) > 0)
    # The mean spectrum of real images is that of real images: point-symmetric.
    assert spectrum[1:, 1:] == pytest.approx(spectrum[1:, 1:][::-1, ::-1], rel=1e-9)
    readme = (pp.DATA / "README.md").read_text(encoding="utf-8")
    assert "CC BY 4.0" in readme and "Geirhos" in readme


def test_the_opponent_transform_undone_by_itself_keeps_luminance():
    matrix, offset = pp.opponent_transform()
    rgb = np.random.default_rng(0).random((50, 3)) * 0.5 + 0.25
    swapped = rgb @ matrix.T + offset
    assert swapped @ matrix.T + offset == pytest.approx(rgb, abs=1e-9)
    cones = pp.CONE_FROM_RGB
    luminance = lambda x: (x @ cones.T - pp.CONE_WHITE) @ pp.OPPONENT_FROM_CONE[0]  # noqa: E731
    assert luminance(swapped) == pytest.approx(luminance(rgb), abs=1e-9)


def test_the_nearest_gamma_level_is_found_for_every_value():
    table = pp.gamma_table()
    values = np.random.default_rng(1).random(500)
    expected = np.abs(table[None, :] - values[:, None]).argmin(axis=1)
    assert np.array_equal(pp.nearest_level(values, table), expected)
    assert np.array_equal(pp.nearest_level(table, table), np.arange(256))


@pytest.mark.parametrize("module", ["psychophysics", "colour", "contrast", "high_pass",
                                    "low_pass", "phase_scrambling", "power_equalisation",
                                    "false_colour", "rotation", "uniform_noise"])
def test_the_examples_in_the_docstrings_run(module):
    imported = importlib.import_module(f"localglobal.probes.{module}")
    result = doctest.testmod(imported)
    assert result.attempted > 0 and result.failed == 0
