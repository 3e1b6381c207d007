"""contrast: greyscale, then (1 − c)/2 + c·grey on [0, 1]."""

import numpy as np
import pytest

from localglobal.probes.catalog import get_probe


@pytest.mark.parametrize(("label", "c"), [("c100", 1.0), ("c50", 0.5), ("c10", 0.1),
                                          ("c01", 0.01)])
def test_each_condition_is_the_formula_on_hand_picked_greys(label, c):
    probe = get_probe("contrast")
    greys = np.array([0, 255, 100, 180], np.uint8)
    image = np.repeat(greys[None, :, None], 3, axis=2)  # 1×4 grey pixels
    out, record = probe.apply(image, probe.level(label), np.random.default_rng(0))
    expected = np.rint(255 * ((1 - c) / 2 + c * greys / 255))  # c50: [64, 191, 114, 154]
    assert record == {"contrast": c}
    assert np.array_equal(out[0, :, 0], expected) and np.array_equal(out[..., 0], out[..., 2])


def test_lower_contrast_narrows_the_range_around_mid_grey():
    probe = get_probe("contrast")
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    spreads = [np.ptp(probe.apply(image, level, np.random.default_rng(0))[0].astype(int))
               for level in probe.levels()]
    assert spreads == sorted(spreads, reverse=True) and spreads[-1] <= 3
