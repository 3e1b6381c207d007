"""The probe plan: its checks, its items and their params, the images it makes."""

import json

import numpy as np
import pytest

from localglobal.errors import BadInputError, ConfigError
from localglobal.io.images import to_input_frame
from localglobal.probes.catalog import probe_names
from localglobal.probes.patch import patch_rects
from localglobal.probes.plan import ProbePlan, probe_images
from localglobal.probes.registry import Item, Level
from localglobal.probes.scramble import scramble_variants, unscramble
from localglobal.probes.smoothers import Smoother, l0_smooth
from tests.probes.conftest import TINY_PROBES, textured_scene, tiny_config


def items(plan, image, image_id="n00000000_1"):
    return [(_Key(item), image) for item, image in probe_images(plan, image, image_id)]


class _Key:
    """An item addressed by (probe, level code, variant), as the tests index them."""

    def __init__(self, item: Item):
        self.item = item
        self.probe, self.level, self.variant = item.probe, item.level.code, item.variant
        self.params = item.params

    def __eq__(self, other):
        return self.item == other.item


def test_the_plan_follows_the_configuration():
    plan = ProbePlan.from_config(tiny_config(run={"seed": 7}, frame={"crop": 224, "resize": 240}))
    scramble = plan.probe("scramble").params
    assert (plan.resize, plan.seed, scramble.blocks, scramble.variants) == (240, 7, [56, 112], 3)
    patch = plan.probe("patch").params
    assert patch.sizes == [70] and patch.fill == "black" and not scramble.derangement
    smooth = plan.probe("smooth")
    assert smooth.smoother.operator == "l0" and smooth.params.iterations == 2
    key = plan.key()
    assert json.loads(json.dumps(key)) == key
    assert key["probes"]["smooth"]["smoother"]["operator"] == "l0"
    assert key["format"] == plan.format


@pytest.mark.parametrize(("probes", "match"), [
    (dict(TINY_PROBES, scramble={"blocks": [30]}),
     r"probes.scramble.blocks: block side 30 does not divide the image side 224"),
    (dict(TINY_PROBES, scramble={"blocks": [224]}), "leaves a single block"),
    (dict(TINY_PROBES, patch={"sizes": [300]}), "probes.patch.sizes: patch side 300"),
    (dict(TINY_PROBES, smooth={"params": {"lzero": {"lam": 0.1}}}), "unknown operator"),
    (dict(TINY_PROBES, smooth={"operator": "no-such-smoother"}), "probes.smooth.operator"),
    (dict(TINY_PROBES, smooth={"params": {"l0": {"lamda": 0.1}}}), "lamda"),
])
def test_settings_that_cannot_work_are_refused_with_the_key(probes, match):
    with pytest.raises(ConfigError, match=match):
        ProbePlan.from_config(tiny_config(probes))


def test_probes_that_are_off_are_not_checked():
    plan = ProbePlan.from_config(tiny_config({"probes": ["patch"],
                                              "scramble": {"blocks": [30]}}))
    assert plan.probes == ("patch",)


def test_every_item_comes_in_order_with_its_params(scene):
    plan = ProbePlan.from_config(tiny_config())
    made = items(plan, scene)
    assert len(made) == plan.items_per_image() == 1 + 6 + 5 + 2 + 2
    probes = [item.probe for item, _ in made]
    assert probes == sorted(probes, key=probe_names().index)
    assert all(image.shape == (224, 224, 3) and image.dtype == np.uint8 for _, image in made)
    by_key = {(i.probe, i.level, i.variant): i for i, _ in made}
    assert by_key[("original", 0, "0")].params == {}
    scramble = by_key[("scramble", 56, "1")].params
    assert set(scramble) >= {"block", "permutation", "fixed_blocks"} and scramble["block"] == 56
    patch = by_key[("patch", 70, "all")].params
    assert set(patch) == {"size", "fill", "rects"}
    assert patch["rects"] == [list(r) for r in patch_rects(224, 70)]
    assert set(by_key[("patch", 70, "2")].params) == {"size", "fill", "rects"}
    smooth = by_key[("smooth", 2, "0")].params
    assert (smooth["operator"], smooth["iterations"]) == ("l0", 2)
    assert by_key[("smooth_diff", 1, "0")].params["frame"] == "input"


def test_scramble_params_are_the_scramble_record(scene):
    plan = ProbePlan.from_config(tiny_config())
    frame = to_input_frame(scene)
    made = {(i.level, i.variant): i.params for i, _ in items(plan, scene, "img")
            if i.probe == "scramble"}
    for block in (56, 112):
        for variant, (_, record) in enumerate(scramble_variants(frame, block, 3, 1, "img")):
            assert made[(block, str(variant))] == record.params()


def test_the_images_are_what_the_params_say(scene):
    plan = ProbePlan.from_config(tiny_config())
    made = {(i.probe, i.level, i.variant): (i, image) for i, image in items(plan, scene)}
    original = made[("original", 0, "0")][1]
    assert np.array_equal(original, to_input_frame(scene))
    for (probe, level, _), (item, image) in made.items():
        if probe == "scramble":
            assert np.array_equal(unscramble(image, item.params["permutation"], level), original)
    patched = made[("patch", 70, "all")][1]
    for x0, y0, x1, y1 in made[("patch", 70, "all")][0].params["rects"]:
        assert (patched[y0:y1, x0:x1] == 0).all()
    # Smoothing runs at full resolution; each pass is then taken into the frame.
    first = l0_smooth(scene)
    assert np.array_equal(made[("smooth", 1, "0")][1], to_input_frame(first))
    assert np.array_equal(made[("smooth", 2, "0")][1], to_input_frame(l0_smooth(first)))
    detail = made[("smooth_diff", 1, "0")][1]
    smoothed = made[("smooth", 1, "0")][1]
    assert np.array_equal(detail.astype(int), np.abs(original.astype(int) - smoothed))
    assert np.array_equal(made[("smooth_diff_inv", 1, "0")][1], 255 - detail)


def test_the_same_plan_gives_the_same_images_and_the_image_id_seeds_them(scene):
    plan = ProbePlan.from_config(tiny_config())
    first, again, other = items(plan, scene, "a"), items(plan, scene, "a"), items(plan, scene, "b")
    for (item, image), (item_again, image_again) in zip(first, again, strict=True):
        assert item == item_again and np.array_equal(image, image_again)
    perms = [[i.params["permutation"] for i, _ in run if i.probe == "scramble"]
             for run in (first, other)]
    assert perms[0] != perms[1]


def test_derangements_leave_no_block_in_place(scene):
    plan = ProbePlan.from_config(tiny_config(dict(TINY_PROBES, scramble={
        "blocks": [112], "variants": 3, "derangement": True})))
    assert plan.key()["probes"]["scramble"]["derangement"]
    for item, _ in items(plan, scene):
        if item.probe == "scramble":
            assert item.params["fixed_blocks"] == 0


def test_an_item_names_its_row_and_its_file():
    item = Item("patch", Level(70, "70"), "all",
                {"size": 70, "fill": "black", "rects": [[7, 7, 77, 77]]})
    assert item.item_id("n01_3") == "n01_3/patch/70/all"
    assert item.path("n01", "n01_3") == "perturbations/patch/n01/n01_3_70_all.png"
    assert item.params_json == '{"size":70,"fill":"black","rects":[[7,7,77,77]]}'
    contrast = Item("contrast", Level(1, "c50"), "0", {})
    assert contrast.item_id("n01_3") == "n01_3/contrast/c50/0"


def test_a_torchscript_smoother_that_refuses_an_image_makes_it_bad_input(scene, monkeypatch):
    def refuse(self, image):
        raise RuntimeError("images this wide are not supported")

    monkeypatch.setattr(Smoother, "__call__", refuse)
    plan = ProbePlan.from_config(tiny_config(dict(TINY_PROBES, probes=["smooth"])))
    plan.probe("smooth").smoother = Smoother("/m.pt", {}, sha256="ab")
    with pytest.raises(BadInputError, match=r"TorchScript smoother /m\.pt failed on this image"):
        items(plan, scene)
    # A built-in operator failing is a bug: it is not blamed on the image.
    plan.probe("smooth").smoother = Smoother("l0", {})
    with pytest.raises(RuntimeError, match="not supported"):
        items(plan, scene)


def test_an_image_smaller_than_the_crop_has_every_item():
    plan = ProbePlan.from_config(tiny_config(dict(TINY_PROBES, probes=["scramble", "patch"])))
    small = textured_scene(np.random.default_rng(1), 150, 120)
    assert len(items(plan, small)) == plan.items_per_image() == 1 + 6 + 5
