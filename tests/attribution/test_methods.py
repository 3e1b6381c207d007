"""Methods by name on zennit's attributors: conservation, LRP-0 = gradient × input, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn
from zennit.composites import EpsilonAlpha2Beta1Flat, EpsilonGammaBox, EpsilonPlusFlat

from localglobal.attribution.explainer import explain
from localglobal.attribution.methods import (
    COMPOSITES,
    METHODS,
    Explanation,
    Settings,
    input_bounds,
    make_composite,
)
from localglobal.errors import UnknownNameError
from localglobal.toyworld.model import toy_resnet
from tests.attribution.lrp_nets import randomise_batch_norm, small_senet, snapshot


def without_biases(model: nn.Module) -> nn.Module:
    """Zero every bias, BatchNorm shifts and means included (so folded biases are zero too)."""
    for module in model.modules():
        if getattr(module, "bias", None) is not None:
            module.bias.data.zero_()
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.zero_()
    return model


def conservation_gap(result: Explanation) -> np.ndarray:
    """N relative gaps |Σ relevance − start logit| / |start logit|."""
    total = result.maps.reshape(len(result.maps), -1).sum(axis=1)
    return np.abs(total - result.logits) / np.abs(result.logits)


def test_composites_and_methods_by_name():
    assert isinstance(make_composite("epsilon-plus-flat"), EpsilonPlusFlat)
    assert isinstance(make_composite("epsilon-alpha2-beta1-flat"), EpsilonAlpha2Beta1Flat)
    assert isinstance(make_composite("epsilon-gamma-box"), EpsilonGammaBox)
    assert list(COMPOSITES) == ["epsilon-plus-flat", "epsilon-gamma-box",
                                "epsilon-alpha2-beta1-flat", "epsilon"]
    assert list(METHODS) == ["lrp", "gradient-x-input", "integrated-gradients", "smoothgrad"]
    with pytest.raises(UnknownNameError, match="epsilon-plus-flat"):
        make_composite("gradient-x-input")  # a method, not a composite


def test_box_bounds_are_black_and_white_after_normalisation():
    low, high = input_bounds((0.5, 0.25, 0.0), (0.5, 0.25, 2.0))
    torch.testing.assert_close(low.flatten(), torch.tensor([-1.0, -1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(high.flatten(), torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64))
    assert low.shape == (1, 3, 1, 1)


# Conservation: with biases zeroed, a small ε and conservative rules, the input relevance
# sums to the logit it starts from. Stated tolerance: 1e-3 of the logit (float32; the
# remaining gap comes from the 1e-6 stabilisers and ε).
CONSERVATION_RTOL = 1e-3


@pytest.mark.parametrize("composite", ["epsilon-plus-flat", "epsilon-alpha2-beta1-flat",
                                       "epsilon-gamma-box"])
def test_relevance_is_conserved_in_a_small_resnet(composite):
    torch.manual_seed(0)
    model = without_biases(randomise_batch_norm(toy_resnet())).eval()
    x = torch.randn(3, 3, 32, 32)
    result = explain(model, x, composite=composite, canonizer="resnet",
                     settings=Settings(epsilon=1e-9))
    assert (conservation_gap(result) < CONSERVATION_RTOL).all(), conservation_gap(result)


@pytest.mark.parametrize("block", ["bottleneck", "basic"])
def test_relevance_is_conserved_through_squeeze_and_excitation_blocks(block):
    torch.manual_seed(0)
    model = without_biases(randomise_batch_norm(small_senet(block))).eval()
    x = torch.randn(2, 3, 32, 32)
    result = explain(model, x, composite="epsilon-plus-flat", canonizer="seresnet",
                     settings=Settings(epsilon=1e-9))
    assert (conservation_gap(result) < CONSERVATION_RTOL).all(), conservation_gap(result)


def test_relevance_is_conserved_in_resnet50():
    torch.manual_seed(0)
    model = without_biases(randomise_batch_norm(torchvision.models.resnet50())).eval()
    x = torch.randn(1, 3, 64, 64)
    result = explain(model, x, [17], composite="epsilon-plus-flat",
                     settings=Settings(epsilon=1e-9))  # the canonizer guessed: resnet
    assert conservation_gap(result).item() < CONSERVATION_RTOL
    assert result.maps.sum() == pytest.approx(result.logits.item(), rel=CONSERVATION_RTOL)


def test_lrp0_equals_gradient_times_input_in_a_relu_resnet():
    torch.manual_seed(2)
    model = randomise_batch_norm(toy_resnet()).double().eval()  # biases kept
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    targets = [3, 7]
    # ε = 0 everywhere; the sum and pooling layers' stabiliser only guards 0/0.
    lrp0 = explain(model, x, targets, composite="epsilon", canonizer="resnet",
                   settings=Settings(epsilon=0.0, stabilizer=1e-300)).maps
    gradient_x_input = explain(model, x, targets, composite="gradient-x-input").maps
    x_grad = x.clone().requires_grad_()
    model(x_grad)[[0, 1], targets].sum().backward()
    np.testing.assert_allclose(gradient_x_input, (x_grad.grad * x).sum(1).numpy(), rtol=1e-12)
    scale = np.abs(gradient_x_input).max()
    np.testing.assert_allclose(lrp0, gradient_x_input, rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.parametrize("composite", ["epsilon-plus-flat", "epsilon-gamma-box"])
def test_a_batch_gives_the_same_maps_as_one_image_at_a_time(composite):
    torch.manual_seed(3)
    model = randomise_batch_norm(toy_resnet()).double().eval()
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    targets = torch.tensor([4, 0, 9])
    batch = explain(model, x, targets, composite=composite, canonizer="resnet")
    for i in range(3):
        single = explain(model, x[i:i + 1], targets[i:i + 1], composite=composite,
                         canonizer="resnet")
        np.testing.assert_allclose(batch.maps[i:i + 1], single.maps, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(batch.logits[i:i + 1], single.logits)


def test_se_network_batch_matches_single_images():
    torch.manual_seed(4)
    model = randomise_batch_norm(small_senet()).double().eval()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    batch = explain(model, x, [1, 2], composite="epsilon-plus-flat", canonizer="seresnet")
    for i, target in enumerate([1, 2]):
        single = explain(model, x[i:i + 1], [target], composite="epsilon-plus-flat",
                         canonizer="seresnet")
        np.testing.assert_allclose(batch.maps[i:i + 1], single.maps, rtol=1e-10, atol=1e-12)


def test_predicted_targets_start_from_the_top_logit_and_the_model_is_untouched():
    torch.manual_seed(5)
    model = randomise_batch_norm(toy_resnet()).eval()
    x = torch.randn(4, 3, 32, 32)
    before = snapshot(model)
    with torch.no_grad():
        logits = model(x)
    result = explain(model, x, composite="epsilon-plus-flat", canonizer="resnet")
    assert result.targets.tolist() == logits.argmax(1).tolist()
    np.testing.assert_allclose(result.logits, logits.max(1).values.numpy(), rtol=1e-4,
                               atol=1e-5)
    assert result.maps.shape == (4, 32, 32) and np.isfinite(result.maps).all()
    after = snapshot(model)
    assert after["modules"] == before["modules"]
    assert all(torch.equal(after["state"][k], v) for k, v in before["state"].items())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_bad_targets_are_errors():
    model = toy_resnet().eval()
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(ValueError, match="targets outside"):
        explain(model, x, [0, 10], canonizer="resnet")
    with pytest.raises(ValueError, match="1 targets for 2 inputs"):
        explain(model, x, [0], canonizer="resnet")
