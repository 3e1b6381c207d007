"""The controls: a seeded random-weights copy that leaves the model alone, and partners."""

from __future__ import annotations

import torch

from localglobal.attribution.controls import CONTROLS, derangement, randomize_weights
from localglobal.toyworld.model import toy_resnet


def test_randomize_weights_is_seeded_and_leaves_the_model_alone():
    model = toy_resnet().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randn(4, 3, 32, 32)
    a = randomize_weights(model, seed=5, calibration=images)
    b = randomize_weights(model, seed=5, calibration=images)
    c = randomize_weights(model, seed=6)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    assert not torch.equal(a.fc.weight, c.fc.weight)
    assert not torch.equal(a.conv1.weight, model.conv1.weight)
    # Calibrated BatchNorm normalises the random network's own activations.
    assert not torch.equal(a.bn1.running_var, torch.ones_like(a.bn1.running_var))
    assert torch.equal(c.bn1.running_var, torch.ones_like(c.bn1.running_var))
    assert not a.training and not c.training


def test_randomize_weights_leaves_the_global_random_state_alone():
    model = toy_resnet().eval()
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    randomize_weights(model, seed=2)
    assert torch.equal(torch.rand(3), expected)


def test_derangement_pairs_images_of_one_size_and_never_an_image_with_itself():
    ids = [f"i{k}" for k in range(7)]
    shapes = {i: (8, 8) for i in ids[:5]} | {"i5": (4, 4), "i6": (2, 2)}
    partner = derangement(ids, shapes, seed=3)
    assert sorted(partner) == sorted(partner.values()) == ids[:5]
    assert all(a != b for a, b in partner.items())
    # One cycle through the group: following partners visits every image.
    seen, current = [], "i0"
    while current not in seen:
        seen.append(current)
        current = partner[current]
    assert sorted(seen) == ids[:5]
    # Seeded, and the input order does not matter.
    assert derangement(list(reversed(ids)), shapes, seed=3) == partner
    assert derangement(ids, shapes, seed=4) != partner


def test_the_controls_are_named_as_in_the_contract():
    assert CONTROLS == ("none", "random-weights", "shuffled-edges")
