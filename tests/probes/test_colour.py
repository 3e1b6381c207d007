"""colour: cr keeps the image, bw keeps its luminance only."""

import numpy as np

from localglobal.probes.catalog import get_probe


def test_bw_is_the_luminance_of_each_pixel_in_three_equal_channels():
    probe = get_probe("colour")
    image = np.array([[[10, 200, 30], [255, 0, 0]], [[0, 0, 255], [90, 90, 90]]], np.uint8)
    grey, record = probe.apply(image, probe.level("bw"), np.random.default_rng(0))
    expected = np.rint(0.2125 * image[..., 0] + 0.7154 * image[..., 1]
                       + 0.0721 * image[..., 2])  # [[147, 54], [18, 90]]
    assert record == {"greyscale": True}
    assert np.array_equal(grey, np.repeat(expected[..., None], 3, axis=2).astype(np.uint8))


def test_cr_is_the_image_itself():
    probe = get_probe("colour")
    image = np.random.default_rng(0).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    same, record = probe.apply(image, probe.level("cr"), np.random.default_rng(0))
    assert record == {"greyscale": False} and np.array_equal(same, image)
