"""Eidolons: reach displaces, coherence keeps the coarse layout, a seed makes it again."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from localglobal.errors import ConfigError
from localglobal.probes.catalog import apply_probe, get_probe
from localglobal.probes.eidolon import (
    EIDOLON_I,
    EidolonLevel,
    eidolon,
    parse_level,
    to_grey,
    toolbox_size,
)
from localglobal.probes.plan import ProbePlan, probe_images
from tests.probes.conftest import textured_scene, tiny_config


@pytest.fixture(scope="module")
def scene():
    """A 224×224 scene with structure at every scale: stripes, a textured box, noise."""
    return textured_scene(np.random.default_rng(1), 224, 224)


@pytest.fixture(scope="module")
def made(scene):
    """Eidolons of the scene, one seed, by (reach, coherence)."""
    return {(reach, coherence): eidolon(scene, reach, coherence, 10, seed=0)
            for reach, coherence in [(1, 1.0), (8, 1.0), (64, 1.0), (64, 0.0)]}


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])


def test_an_eidolon_is_a_grey_uint8_image_of_the_input_size(made):
    image, record = made[(8, 1.0)]
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8
    assert np.array_equal(image[..., 0], image[..., 1])
    assert np.array_equal(image[..., 0], image[..., 2])
    assert record.params() == {"reach": 8, "coherence": 1.0, "grain": 10, "seed": 0,
                               "side": 256, "grey": "rgb2gray"}


def test_the_grey_is_the_2018_stimuli_rgb2gray_truncated():
    pixel = np.array([[[200, 100, 50]]], np.uint8)
    assert to_grey(pixel)[0, 0] == 117  # 0.2125·200 + 0.7154·100 + 0.0721·50 = 117.645


def test_the_toolbox_works_at_256_pixels_on_the_longer_side():
    assert toolbox_size(224, 224) == (256, 256)
    assert toolbox_size(150, 300) == (128, 256)
    assert toolbox_size(300, 100) == (256, 85)


def test_reach_one_at_full_coherence_changes_little(scene, made):
    grey = to_grey(scene)
    image, _ = made[(1, 1.0)]
    assert correlation(image[..., 0], grey) > 0.95
    assert np.abs(image[..., 0].astype(int) - grey).mean() < 10  # of 255 grey levels


def test_a_larger_reach_displaces_more(scene, made):
    grey = to_grey(scene)
    kept = [correlation(made[(reach, 1.0)][0][..., 0], grey) for reach in (1, 8, 64)]
    assert kept[0] > kept[1] + 0.02 > kept[2] + 0.1, kept


def test_full_coherence_keeps_the_coarse_layout_that_no_coherence_loses(scene, made):
    coarse = gaussian_filter(to_grey(scene).astype(float), 8)

    def kept(coherence: float) -> float:
        return correlation(gaussian_filter(made[(64, coherence)][0][..., 0].astype(float),
                                           8), coarse)

    assert kept(1.0) > 0.8 and kept(1.0) > kept(0.0) + 0.2


def test_one_seed_makes_one_image_and_another_seed_another(scene, made):
    again, _ = eidolon(scene, 8, 1.0, 10, seed=0)
    other, _ = eidolon(scene, 8, 1.0, 10, seed=1)
    assert np.array_equal(again, made[(8, 1.0)][0])
    assert np.abs(other.astype(int) - again).mean() > 2


def test_the_probe_records_the_seed_that_makes_its_image_again(scene):
    image, record = apply_probe("eidolon", scene, "4-3-10", seed=7)
    assert (record["reach"], record["coherence"], record["grain"]) == (4, 0.3, 10)
    again, _ = eidolon(scene, 4, 0.3, 10, seed=record["seed"])
    assert np.array_equal(image, again)


def test_the_default_levels_are_the_eidolon_i_series():
    probe = get_probe("eidolon")
    assert [level.label for level in probe.levels()] == EIDOLON_I == [
        "1-10-10", "2-10-10", "4-10-10", "8-10-10", "16-10-10", "32-10-10", "64-10-10",
        "128-10-10"]
    assert probe.strongest().label == "128-10-10"
    assert probe.dataset == "eidolonI" and not probe.on_the_fly


def test_the_dataset_depends_on_the_coherence():
    probe = get_probe("eidolon", {"levels": ["8-10-10", "8-3-10", "8-0-10", "8-3-5",
                                             "3-10-10"]})
    assert [probe.dataset_of(level) for level in probe.levels()] == [
        "eidolonI", "eidolonII", "eidolonIII", None, None]
    assert probe.dataset is None  # the levels span datasets: ask each level
    assert get_probe("eidolon", {"levels": ["2-0-10", "4-0-10"]}).dataset == "eidolonIII"


def test_the_strongest_level_is_the_largest_reach_then_the_least_coherence():
    probe = get_probe("eidolon", {"levels": ["64-0-10", "128-10-10", "128-3-10"]})
    assert probe.strongest().label == "128-3-10"


def test_a_label_is_reach_coherence_grain():
    assert parse_level("16-3-10") == EidolonLevel(reach=16, coherence_tenths=3, grain=10)
    assert parse_level("16-3-10").coherence == 0.3


@pytest.mark.parametrize("label, problem", [
    ("8-10", "not 'reach-coherence-grain'"),
    ("eight-10-10", "not 'reach-coherence-grain'"),
    ("0-10-10", "reach must be 1 to 128"),
    ("256-10-10", "reach must be 1 to 128"),
    ("8-11-10", "coherence must be 0 to 10"),
    ("8-10-0", "grain must be 1 to 128"),
    ("08-10-10", "write it '8-10-10'"),
])
def test_a_bad_label_is_an_error_naming_the_key(label, problem):
    with pytest.raises(ConfigError, match=rf"^probes\.eidolon\.levels\.1: .*{problem}"):
        get_probe("eidolon", {"levels": ["8-10-10", label]})


def test_repeated_levels_and_unknown_keys_are_errors_naming_the_key():
    with pytest.raises(ConfigError, match=r"^probes\.eidolon\.levels: levels repeat"):
        get_probe("eidolon", {"levels": ["8-10-10", "8-10-10"]}).check()
    with pytest.raises(ConfigError, match=r"^probes\.eidolon\.reach: unknown key"):
        get_probe("eidolon", {"reach": 8})


def test_a_run_makes_stored_eidolon_items_with_their_seeds(scene):
    plan = ProbePlan.from_config(tiny_config({
        "probes": ["eidolon"], "eidolon": {"levels": ["16-0-10"], "variants": 2}}))
    made = list(probe_images(plan, scene, "img"))
    assert [item.item_id("img") for item, _ in made] == [
        "img/original/0/0", "img/eidolon/16-0-10/0", "img/eidolon/16-0-10/1"]
    (_, frame), (first, image), (second, other) = made
    assert image.shape == (224, 224, 3) and first.params["seed"] != second.params["seed"]
    assert np.array_equal(image, eidolon(frame, 16, 0.0, 10, first.params["seed"])[0])
    assert not np.array_equal(image, other)
