"""The Eidolon toolbox's machinery: scales, mirrored embedding, blur, layers, disarray."""

import numpy as np
import pytest

from localglobal.probes.disarray import (
    blur,
    dog_layers,
    embed,
    noise_plane,
    partially_coherent_disarray,
    scale_levels,
)


def test_the_scales_run_from_one_over_root_two_by_root_two_to_a_quarter_of_the_side():
    sigmas = scale_levels(256)
    assert len(sigmas) == 12  # ⌈2 log₂(256/4)⌉
    assert sigmas[0] == pytest.approx(2 ** -0.5) and sigmas[-1] == pytest.approx(32)
    assert np.allclose(sigmas[1:] / sigmas[:-1], 2 ** 0.5)


def test_the_image_is_embedded_mirrored_in_a_power_of_two_plane():
    plane = np.arange(12 * 12, dtype=np.uint8).reshape(12, 12)
    fat, (dh, dw) = embed(plane)
    assert fat.shape == (32, 32) and (dh, dw) == (10, 10)  # 1.5 × 12 = 18 → 32
    assert np.array_equal(fat[dh:dh + 12, dw:dw + 12], plane)
    assert np.array_equal(fat[dh:dh + 12, dw - 1], plane[:, 0])  # mirrored, edge repeated
    assert np.array_equal(fat[dh - 3, dw:dw + 12], plane[2])


def test_the_blur_is_the_circular_convolution_of_the_row_major_flattened_plane():
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(8, 8))
    sigma = 1.0
    offsets = np.array([0, 1, 2, 3, 4, -3, -2, -1])
    g = np.exp(-offsets ** 2 / (2 * sigma ** 2)) / (np.sqrt(2 * np.pi) * sigma)
    kernel = (g[:, None] * g[None, :]).ravel()
    flat = plane.ravel()
    expected = np.array([sum(flat[m] * kernel[(n - m) % 64] for m in range(64))
                         for n in range(64)]).reshape(8, 8)
    assert np.allclose(blur(plane, sigma), expected)


def test_the_layers_add_up_to_the_image_at_the_finest_scale():
    rng = np.random.default_rng(1)
    fat, _ = embed(rng.integers(0, 256, (64, 64)).astype(np.uint8))
    sigmas = scale_levels(64)
    layers = dog_layers(fat, sigmas)
    assert len(layers) == len(sigmas)
    assert np.allclose(np.sum(layers, axis=0), blur(fat, sigmas[0]))


def test_a_noise_plane_is_smooth_at_its_scale_and_peaks_below_127():
    rng = np.random.default_rng(2)
    fine, coarse = noise_plane(rng, (128, 128), 1.0), noise_plane(rng, (128, 128), 8.0)
    step = [np.abs(np.diff(p, axis=1)).mean() / p.std() for p in (fine, coarse)]
    assert step[1] < step[0] / 4  # neighbours differ far less at the coarser scale
    assert np.abs(fine).max() < 127


def test_the_same_source_makes_the_same_disarray_and_a_constant_image_stays_constant():
    rng = np.random.default_rng(3)
    plane = rng.integers(0, 256, (64, 64)).astype(np.uint8)
    args = dict(reach=8.0, coherence=0.3, grain=4.0, side=64)
    first = partially_coherent_disarray(plane, rng=np.random.default_rng(9), **args)
    again = partially_coherent_disarray(plane, rng=np.random.RandomState(9), **args)
    same = partially_coherent_disarray(plane, rng=np.random.default_rng(9), **args)
    assert np.array_equal(first, same) and not np.array_equal(first, again)
    flat = np.full((64, 64), 90, np.uint8)
    moved = partially_coherent_disarray(flat, rng=np.random.default_rng(9), **args)
    assert np.abs(moved.astype(int) - 90).max() <= 1


@pytest.mark.parametrize("coherence, reach, grain", [(1.5, 4.0, 10.0), (0.5, -1.0, 10.0),
                                                     (0.5, 4.0, 0.0)])
def test_out_of_range_parameters_are_refused(coherence, reach, grain):
    with pytest.raises(ValueError):
        partially_coherent_disarray(np.zeros((16, 16), np.uint8), reach, coherence, grain,
                                    np.random.default_rng(0), side=16)
