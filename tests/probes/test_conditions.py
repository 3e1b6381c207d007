"""Model-vs-human's manipulations as probes: their conditions, records, on-the-fly builds.

Every one of the nine probes is declared the same way (a condition string per level,
a record that rebuilds the item); these tests hold each of them to that contract. The
defining property of each probe is tested in its own file.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from localglobal.errors import BadInputError, ConfigError
from localglobal.probes.batched import build_probes
from localglobal.probes.catalog import get_probe, probe_names
from localglobal.probes.registry import ImageContext, Level
from tests.probes.scenes import photo

CONDITIONS = {
    "colour": ["cr", "bw"],
    "contrast": ["c100", "c50", "c30", "c15", "c10", "c05", "c03", "c01"],
    "high-pass": ["inf", "3.0", "1.5", "1.0", "0.7", "0.55", "0.45", "0.4"],
    "low-pass": ["0", "1", "3", "5", "7", "10", "15", "40"],
    "phase-scrambling": ["0", "30", "60", "90", "120", "150", "180"],
    "power-equalisation": ["0", "pow"],
    "false-colour": ["True", "False"],
    "rotation": ["0", "90", "180", "270"],
    "uniform-noise": ["0.00", "0.03", "0.05", "0.10", "0.20", "0.35", "0.60", "0.90"],
}
"""model-vs-human's condition strings of each dataset, in its order."""

STRONGEST = {"colour": "bw", "contrast": "c01", "high-pass": "0.4", "low-pass": "40",
             "phase-scrambling": "180", "power-equalisation": "pow", "false-colour": "False",
             "rotation": "180", "uniform-noise": "0.90"}

RANDOM = {"phase-scrambling", "uniform-noise"}


def side_of(name: str) -> int:
    """The frame side a probe is tested on: small, except the 224-pixel mean spectrum."""
    return 224 if name == "power-equalisation" else 48


def as_batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]


def test_the_nine_probes_follow_the_thesis_probes_in_model_vs_human_order():
    names = probe_names()
    assert names[names.index("smooth_diff_inv") + 1:][:9] == list(CONDITIONS)


@pytest.mark.parametrize("name", CONDITIONS)
def test_levels_are_model_vs_human_condition_strings_and_name_its_dataset(name):
    probe = get_probe(name)
    assert [level.label for level in probe.levels()] == CONDITIONS[name]
    assert probe.strongest().label == STRONGEST[name]
    assert probe.dataset == name
    assert probe.description and probe.keeps and probe.destroys and probe.axis_label
    assert probe.on_the_fly


@pytest.mark.parametrize("name", CONDITIONS)
def test_every_level_built_on_the_fly_is_the_stored_image_within_one_grey_level(name):
    side = side_of(name)
    probe = get_probe(name, crop=side)
    image = photo(side)
    levels = probe.levels()
    stored, records = [], []
    for k, level in enumerate(levels):
        out, record = probe.apply(image, level, np.random.default_rng(k))
        assert out.shape == image.shape and out.dtype == np.uint8
        stored.append(out)
        records.append(json.dumps(record))  # as perturbations.parquet keeps it
    originals = as_batch(image).repeat(len(levels), 1, 1, 1)
    built = build_probes(originals, [name] * len(levels), records, levels)
    for level, expected, got in zip(levels, stored, built, strict=True):
        difference = np.abs(got.permute(1, 2, 0).numpy().astype(int) - expected.astype(int))
        assert difference.max() <= 1, f"{name} {level.label}"
        assert difference.mean() < 0.01, f"{name} {level.label}"


@pytest.mark.parametrize("name", CONDITIONS)
def test_the_record_holds_the_condition_value_and_rebuilds_the_item(name):
    probe = get_probe(name, crop=side_of(name))
    image = photo(side_of(name), seed=1)
    level = probe.strongest()
    out, record = probe.apply(image, level, np.random.default_rng(5))
    assert probe.record_key in record
    assert (record.get("seed") is not None) == (name in RANDOM)
    again = probe.render(image, json.loads(json.dumps(record)))
    assert np.array_equal(again, out)


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_a_random_probe_draws_its_noise_from_the_items_generator(name):
    probe = get_probe(name, crop=32)
    image = photo(32)
    context = ImageContext(full=image, frame=image, image_id="n01/img", run_seed=0,
                           to_frame=lambda x: x)
    first = [(item.params, out) for item, out in probe.items(context)]
    second = [(item.params, out) for item, out in probe.items(context)]
    assert all(a[0] == b[0] and np.array_equal(a[1], b[1])
               for a, b in zip(first, second, strict=True))
    seeds = [params["seed"] for params, _ in first]
    assert len(set(seeds)) == len(seeds)
    other = ImageContext(full=image, frame=image, image_id="n01/other", run_seed=0,
                         to_frame=lambda x: x)
    assert [item.params["seed"] for item, _ in probe.items(other)] != seeds


TAMPERED = {
    "colour": [{"greyscale": 1}, {}],
    "contrast": [{"contrast": 1.5}, {"contrast": "c50"}, {"contrast": 0.3}],
    "high-pass": [{"sigma": -1.0}, {"sigma": 1e9}, {"sigma": "inf"}, {"sigma": 3.0}],
    "low-pass": [{"sigma": -1.0}, {"sigma": 1e9}, {"sigma": 3.0}],
    "phase-scrambling": [{"width": 90.0}, {"width": 400.0, "seed": 1},
                         {"width": 90.0, "seed": -3}, {"width": 90.0, "seed": True},
                         {"width": 30.0, "seed": 1}],
    "power-equalisation": [{"equalised": "yes"}, {"equalised": False}],
    "false-colour": [{"opponent": 0}, {"opponent": False}],
    "rotation": [{"angle": 45}, {"angle": 90.0}, {"angle": 90}],
    "uniform-noise": [{"width": 0.9, "seed": 1}, {"width": 0.9, "contrast": 2.0, "seed": 1},
                      {"width": 0.9, "contrast": 0.3, "seed": 2**40},
                      {"width": 0.1, "contrast": 0.3, "seed": 1}],
}
"""Records a tampered table could hold, each refused at the probe's strongest level."""


@pytest.mark.parametrize("name", CONDITIONS)
def test_a_tampered_record_is_refused_before_anything_is_built(name):
    side = side_of(name)
    probe = get_probe(name, crop=side)
    level = probe.strongest()
    _, good = probe.apply(photo(side), level, np.random.default_rng(0))
    probe.validate(good, level, side)
    for record in TAMPERED[name]:
        with pytest.raises(BadInputError, match=name):
            probe.validate(record, level, side)
    with pytest.raises(BadInputError):
        build_probes(as_batch(photo(side)), [name], [json.dumps(TAMPERED[name][0])], [level])


def test_a_level_of_another_probe_is_refused_against_the_row():
    probe = get_probe("contrast")
    with pytest.raises(BadInputError, match="c50"):
        probe.validate({"contrast": 0.1}, Level(1, "c50"), 224)


@pytest.mark.parametrize(("name", "levels", "message"), [
    ("contrast", ["c50", "c200"], "c200"),
    ("contrast", ["50"], "percentage"),
    ("high-pass", ["inf", "0"], "positive"),
    ("low-pass", ["1e400"], "standard deviation"),
    ("phase-scrambling", [270], "0, 180"),
    ("rotation", [45], "0, 90, 180, 270"),
    ("colour", ["grey"], "cr, bw"),
    ("false-colour", ["opponent"], "True, False"),
    ("uniform-noise", ["0.1", "0.10"], "repeat"),
    ("uniform-noise", [], "non-empty"),
])
def test_a_bad_configured_level_is_one_error_naming_the_key(name, levels, message):
    with pytest.raises(ConfigError, match=rf"probes\.{name}\.levels.*{message}"):
        get_probe(name, {"levels": levels})


def test_configured_levels_are_subsets_or_new_conditions_in_any_order():
    probe = get_probe("high-pass", {"levels": [0.4, "inf", 2.0]})
    assert [level.label for level in probe.levels()] == ["0.4", "inf", "2.0"]
    assert probe.strongest().label == "0.4"
    assert [level.label for level in probe.curve_levels()] == ["inf", "2.0", "0.4"]
    contrast = get_probe("contrast", {"levels": ["c20", "c100"]})
    assert contrast.value("c20") == 0.2 and contrast.strongest().label == "c20"


def test_a_filter_wider_than_the_frame_is_refused_on_that_frame():
    with pytest.raises(ConfigError, match=r"probes\.low-pass\.levels.*sigma 40"):
        get_probe("low-pass", crop=32).check()
    get_probe("low-pass", {"levels": [0, 10]}, crop=32).check()
