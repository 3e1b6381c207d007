"""Canonizers change how LRP sees a model, never what the model computes."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from torch import nn

from localglobal.attribution.canonizers import (
    ChannelGate,
    get_canonizers,
    unmerged_batch_norms,
)
from localglobal.toyworld.model import toy_resnet
from tests.attribution.lrp_nets import randomise_batch_norm, small_senet, snapshot


def apply(model: nn.Module, name: str) -> list:
    instances = []
    for canonizer in get_canonizers(name):
        instances += canonizer.apply(model)
    return instances


def assert_restored(model: nn.Module, before: dict) -> None:
    after = snapshot(model)
    assert after["modules"] == before["modules"]
    assert after["eps"] == before["eps"]
    assert after["forwards"] == before["forwards"] == 0
    assert after["state"].keys() == before["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(after["state"][key], value), key


MODELS = {
    "resnet50": (lambda: torchvision.models.resnet50(), "resnet"),
    "resnext50_32x4d": (lambda: torchvision.models.resnext50_32x4d(), "resnet"),
    "legacy_seresnet50": (lambda: timm.create_model("legacy_seresnet50"), "seresnet"),
    "legacy_seresnext50_32x4d": (lambda: timm.create_model("legacy_seresnext50_32x4d"),
                                 "seresnet"),
    "toy_resnet (BasicBlock)": (lambda: toy_resnet(), "resnet"),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_canonizer_keeps_outputs_and_restores_the_model(name):
    build, canonizer = MODELS[name]
    torch.manual_seed(0)
    model = randomise_batch_norm(build()).double().eval()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    before = snapshot(model)
    with torch.no_grad():
        reference = model(x)
        instances = apply(model, canonizer)
        assert unmerged_batch_norms(model) == []
        sums = [m for n, m in model.named_modules() if n.endswith("canonizer_sum")]
        assert sums, "residual additions became Sum modules"
        canonized = model(x)
        for instance in instances:
            instance.remove()
        restored = model(x)
    # float64: folding BatchNorm only reorders floating-point operations
    torch.testing.assert_close(canonized, reference, rtol=1e-9, atol=1e-9 * reference.abs().max())
    assert torch.equal(restored, reference)
    assert_restored(model, before)


def test_vgg16_canonizer_is_the_identity_without_batch_norm():
    torch.manual_seed(0)
    model = torchvision.models.vgg16(num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        reference = model(x)
        instances = apply(model, "vgg")
        assert instances == []
        assert torch.equal(model(x), reference)


def test_vgg_canonizer_folds_batch_norm_exactly():
    features = torchvision.models.vgg.make_layers([8, "M", 16, "M"], batch_norm=True)
    model = randomise_batch_norm(nn.Sequential(features, nn.Flatten(), nn.Linear(16 * 64, 5)))
    model = model.double().eval()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    before = snapshot(model)
    with torch.no_grad():
        reference = model(x)
        instances = apply(model, "vgg")
        assert len(instances) == 2 and unmerged_batch_norms(model) == []
        torch.testing.assert_close(model(x), reference, rtol=1e-12, atol=1e-12)
        for instance in instances:
            instance.remove()
    assert_restored(model, before)


@pytest.mark.parametrize("block", ["bottleneck", "basic"])
def test_se_canonizer_detaches_the_gate_and_restores(block):
    torch.manual_seed(1)
    model = randomise_batch_norm(small_senet(block)).double().eval()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64, requires_grad=True)
    before = snapshot(model)
    reference = model(x)
    instances = apply(model, "seresnet")
    gates = [m for m in model.modules() if isinstance(m, ChannelGate)]
    assert len(gates) == 4 and unmerged_batch_norms(model) == []
    # The gate's parameters belong to the blocks only once.
    assert len(list(model.parameters())) == len(set(map(id, model.parameters())))
    canonized = model(x)
    torch.testing.assert_close(canonized, reference, rtol=1e-9, atol=1e-12)
    canonized[:, 0].sum().backward()
    se = model.layer1[0].se_module
    assert se.fc1.weight.grad is None and se.fc2.weight.grad is None
    assert model.layer1[0].conv1.weight.grad is not None
    for instance in instances:
        instance.remove()
    model.zero_grad(set_to_none=True)
    assert_restored(model, before)


def test_get_canonizers_gives_fresh_instances_and_names_the_choices():
    first, second = get_canonizers("resnet"), get_canonizers("resnet")
    assert first[0] is not second[0]
    with pytest.raises(ValueError, match="resnet, vgg, seresnet"):
        get_canonizers("densenet")


def test_a_mismatched_canonizer_is_detected():
    model = randomise_batch_norm(toy_resnet()).eval()
    instances = apply(model, "seresnet")  # finds no SE blocks to fold
    assert instances == []
    assert "bn1" in unmerged_batch_norms(model)
