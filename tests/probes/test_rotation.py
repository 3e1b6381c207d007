"""rotation: greyscale turned counter-clockwise by 0, 90, 180 or 270 degrees."""

import numpy as np

from localglobal.probes.catalog import get_probe


def test_rotations_by_hand_on_a_two_by_three_image():
    probe = get_probe("rotation")
    grey = np.array([[0, 50, 100], [150, 200, 250]], np.uint8)
    image = np.repeat(grey[..., None], 3, axis=2)
    expected = {
        "0": [[0, 50, 100], [150, 200, 250]],
        "90": [[100, 250], [50, 200], [0, 150]],   # the right column goes on top
        "180": [[250, 200, 150], [100, 50, 0]],
        "270": [[150, 0], [200, 50], [250, 100]],
    }
    for label, want in expected.items():
        out, record = probe.apply(image, probe.level(label), np.random.default_rng(0))
        assert record == {"angle": int(label)}
        assert out[..., 0].tolist() == want and np.array_equal(out[..., 0], out[..., 1])


def test_four_quarter_turns_are_the_grey_image_and_upside_down_is_the_strongest():
    probe = get_probe("rotation")
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    quarter = probe.level("90")
    out = image
    for _ in range(4):
        out, _ = probe.apply(out, quarter, np.random.default_rng(0))
    grey, _ = probe.apply(image, probe.level("0"), np.random.default_rng(0))
    assert np.array_equal(out, grey)
    assert probe.strongest().label == "180"
