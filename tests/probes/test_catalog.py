"""The probe registry and catalog: every probe one declaration, found by name everywhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import Field

import localglobal as lg
from localglobal.analysis.summaries import probe_summary
from localglobal.errors import ConfigError
from localglobal.probes.catalog import (
    apply_probe,
    configured_probes,
    get_probe,
    probe_names,
)
from localglobal.probes.plan import ProbePlan, probe_images
from localglobal.probes.registry import PROBES, Level, Probe, ProbeParams, register_probe
from localglobal.report.accuracy import probe_accuracy
from tests.probes.conftest import tiny_config


class RotateParams(ProbeParams):
    levels: list[int] = Field(default_factory=lambda: [90, 180])


class RotateProbe(Probe):
    """A probe written as a researcher would: one class, one decorator."""

    name = "rotate-test"
    title = "Rotation (test)"
    description = "The image turned by the level, in degrees."
    axis_label = "angle (degrees)"
    Params = RotateParams

    def apply(self, image, level, rng):
        return np.ascontiguousarray(np.rot90(image, k=level.code // 90)), \
            {"angle": level.code}


@pytest.fixture
def rotate():
    register_probe(RotateProbe)
    yield RotateProbe
    del PROBES[RotateProbe.name]


def test_one_decorated_class_is_a_probe_the_whole_pipeline_finds(rotate):
    assert "rotate-test" in probe_names(selectable=True)
    plan = ProbePlan.from_config(tiny_config({"probes": ["rotate-test"]}))
    image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    made = list(probe_images(plan, image, "img"))
    assert [item.item_id("img") for item, _ in made] == [
        "img/original/0/0", "img/rotate-test/90/0", "img/rotate-test/180/0"]
    assert np.array_equal(made[2][1], made[0][1][::-1, ::-1])
    assert plan.items_per_image() == 3
    # ... and the summaries and the accuracy table take it like any other probe.
    predictions = pd.DataFrame({
        "model": "m", "image_id": "img", "probe": [i.probe for i, _ in made],
        "level": [i.level.code for i, _ in made], "variant": "0",
        "condition": [i.level.label for i, _ in made], "true_prob": [0.9, 0.5, 0.2],
        "correct": [True, True, False]})
    summary = probe_summary(predictions)
    assert list(summary.loc[summary["probe"] == "rotate-test", "condition"]) == ["90", "180"]
    accuracy = probe_accuracy(predictions, [get_probe("original"), plan.probe("rotate-test")])
    strongest = accuracy[accuracy["probe"] == "rotate-test"].iloc[0]
    assert (strongest["condition"], strongest["accuracy"]) == ("180", 0.0)


def test_a_probe_section_is_validated_against_the_declaration():
    with pytest.raises(ConfigError, match=r"probes\.scramble\.blocks\.1: "):
        configured_probes(tiny_config({"probes": ["scramble"],
                                       "scramble": {"blocks": [28, "x"]}}))
    with pytest.raises(ConfigError, match=r"probes\.scramble\.block: unknown key"):
        configured_probes(tiny_config({"probes": ["scramble"], "scramble": {"block": [28]}}))
    with pytest.raises(ConfigError, match=r"unknown probe 'rotat'; known probes: scramble"):
        configured_probes(tiny_config({"probes": ["rotat"]}))
    with pytest.raises(ConfigError, match=r"probes\.scrambel: no probe of that name"):
        configured_probes(tiny_config({"probes": ["scramble"], "scrambel": {}}))
    with pytest.raises(ConfigError, match="made by another probe"):
        configured_probes(tiny_config({"probes": ["smooth_diff"]}))


def test_a_plugin_is_code_and_needs_trust(tmp_path):
    (tmp_path / "mine.py").write_text("def f(image, level, rng):\n    return image\n")
    config = tiny_config({"probes": ["mine"], "plugins": {
        "mine": {"function": f"{tmp_path / 'mine.py'}:f", "levels": ["a", "b"]}}})
    with pytest.raises(ConfigError, match=r"probes\.plugins\.mine\.function"):
        configured_probes(config, trusted=False)
    probe = configured_probes(config).get("mine")
    assert [lv.label for lv in probe.levels()] == ["a", "b"]
    shadowing = tiny_config({"probes": ["scramble"], "plugins": {
        "scramble": {"function": f"{tmp_path / 'mine.py'}:f", "levels": [1]}}})
    with pytest.raises(ConfigError, match="a built-in probe has that name"):
        configured_probes(shadowing)


def test_any_probe_by_name_on_one_image_and_the_list_of_probes():
    image = np.random.default_rng(1).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    scrambled, record = apply_probe("scramble", image, 16, seed=2)  # not a default level
    assert record["block"] == 16 and len(record["permutation"]) == 14 * 14
    assert np.array_equal(np.sort(scrambled.reshape(-1)), np.sort(image.reshape(-1)))
    again, _ = lg.probe("scramble", image, 16, seed=2)
    assert np.array_equal(again, scrambled)
    with pytest.raises(ConfigError, match="has no level"):
        apply_probe("smooth_diff", image, 3)
    # The removed detail on its own: what one pass of the default smoother takes away.
    detail, record = apply_probe("smooth_diff", image, 1)
    inverted, _ = apply_probe("smooth_diff_inv", image, 1)
    assert record["iterations"] == 1 and np.array_equal(inverted, 255 - detail)
    table = lg.probes()
    assert {"scramble", "patch", "smooth"} <= set(table["name"])
    assert table.set_index("name").loc["scramble", "strongest"] == "28"
    assert bool(table.set_index("name").loc["patch", "on_the_fly"])
    assert not bool(table.set_index("name").loc["smooth", "on_the_fly"])


def test_levels_keep_their_labels_and_integer_levels_their_value():
    probe = get_probe("scramble", {"blocks": [56, 112]})
    assert probe.levels() == [Level(56, "56"), Level(112, "112")]
    assert probe.level("56") == probe.level(56) == Level(56, "56")
    with pytest.raises(KeyError, match="has no level"):
        probe.level(28)
