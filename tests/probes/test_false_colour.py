"""false-colour: True keeps the colours; False swaps the opponent colours at equal
luminance, through the 2018 monitor's gamma."""

import numpy as np

from localglobal.probes import psychophysics as pp
from localglobal.probes.catalog import get_probe


def by_hand(pixel: tuple[int, int, int]) -> np.ndarray:
    """One pixel's opponent colour, step by step as the 2018 method describes it."""
    table = pp.gamma_table()
    linear = table[list(pixel)]
    cones = pp.CONE_FROM_RGB @ linear - pp.CONE_WHITE
    opponent = pp.OPPONENT_FROM_CONE @ cones
    opponent[1:] *= -1  # red–green and blue–yellow swap; luminance stays
    cones = np.linalg.solve(pp.OPPONENT_FROM_CONE, opponent) + pp.CONE_WHITE
    rgb = np.clip(np.linalg.solve(pp.CONE_FROM_RGB, cones), 0, 1)
    return np.array([np.abs(table - v).argmin() for v in rgb])


def test_opponent_colours_by_hand_on_a_few_pixels():
    probe = get_probe("false-colour")
    pixels = [(200, 40, 40), (40, 160, 60), (60, 80, 200), (128, 128, 128), (230, 210, 40)]
    image = np.array([pixels], np.uint8)
    out, record = probe.apply(image, probe.level("False"), np.random.default_rng(0))
    assert record == {"opponent": True}
    for k, pixel in enumerate(pixels):
        assert out[0, k].tolist() == by_hand(pixel).tolist()
    assert out[0, 0, 1] > out[0, 0, 0]  # red became green


def test_swapping_twice_gives_the_colours_back_and_true_keeps_them():
    probe = get_probe("false-colour")
    # Muted colours, whose opponents are inside the monitor's gamut (nothing is clipped).
    image = np.random.default_rng(0).integers(100, 160, (16, 16, 3), dtype=np.uint8)
    level = probe.level("False")
    twice = probe.apply(probe.apply(image, level, np.random.default_rng(0))[0], level,
                        np.random.default_rng(0))[0]
    assert np.abs(twice.astype(int) - image.astype(int)).max() <= 1
    same, record = probe.apply(image, probe.level("True"), np.random.default_rng(0))
    assert record == {"opponent": False} and np.array_equal(same, image)
