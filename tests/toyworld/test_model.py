"""The toy models' architecture: small, a torchvision ResNet, and LRP-ready."""

from pathlib import Path

import pytest
import torch
from torchvision.models import ResNet
from torchvision.models.resnet import BasicBlock
from zennit.attribution import Gradient
from zennit.composites import EpsilonPlusFlat
from zennit.torchvision import ResNetCanonizer

from localglobal.toyworld.model import toy_resnet

WEIGHTS = Path(__file__).parents[2] / "src" / "localglobal" / "toyworld" / "weights"


def test_is_a_small_torchvision_resnet_of_basic_blocks():
    model = toy_resnet()
    assert isinstance(model, ResNet)
    assert all(isinstance(layer[0], BasicBlock) for layer in
               (model.layer1, model.layer2, model.layer3, model.layer4))
    stored = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    assert stored <= 5 * 1024 * 1024  # bytes of its weights as shipped
    assert model.fc.out_features == 10


def test_forward_shape():
    model = toy_resnet(num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 224, 224)).shape == (2, 7)
        assert model(torch.zeros(1, 3, 160, 192)).shape == (1, 7)


def test_canonizer_keeps_the_function_and_conserves_relevance():
    torch.manual_seed(0)
    model = toy_resnet().eval()
    # Non-trivial BatchNorm statistics, so that merging them into the convolutions matters.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = model(x)
    composite = EpsilonPlusFlat(epsilon=0.1, canonizers=[ResNetCanonizer()])
    target = torch.eye(10)[expected.argmax(1)]
    with Gradient(model=model, composite=composite) as attributor:
        output, relevance = attributor(x, target)
    torch.testing.assert_close(output, expected, rtol=1e-4, atol=1e-4)
    assert relevance.shape == x.shape
    assert torch.isfinite(relevance).all() and relevance.abs().sum() > 0
    # The canonizer is removed again: the model computes what it did before.
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize("name", ["toy-texture", "toy-shape"])
def test_shipped_weights_load_into_the_architecture(name):
    path = WEIGHTS / f"{name}.pt"
    if not path.exists():
        pytest.skip(f"{path} not trained yet (`localglobal toyworld train`)")
    assert path.stat().st_size <= 5 * 1024 * 1024
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = toy_resnet()
    model.load_state_dict(state)
    assert all(v.dtype in (torch.float32, torch.int64) for v in state.values())
    assert (WEIGHTS / f"{name}.json").exists()
