"""The explainer: batches on a device, out-of-memory halving, refusals, and ``explain``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from localglobal.attribution import explainer as explainer_module
from localglobal.attribution.explainer import (
    Explainer,
    ModelRefused,
    explain,
    is_out_of_memory,
)
from localglobal.attribution.methods import Settings
from localglobal.models import load_model, resolve_model
from localglobal.models.preprocessing import normalise
from localglobal.toyworld.model import toy_resnet

MEAN, STD = (0.5, 0.5, 0.5), (0.2, 0.2, 0.2)


def explainer(method: str = "epsilon-plus-flat", canonizer: str | None = "resnet",
              batch_size: int = 2) -> Explainer:
    return Explainer(method, canonizer, torch.device("cpu"), batch_size,
                     Settings(mean=MEAN, std=STD))


def images(n: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_batches_give_the_maps_of_one_call_on_all_images():
    model = toy_resnet().eval()
    small = explainer(batch_size=2)
    with small.attach(model, "toy") as run:
        result = run(images(5), None)
    whole = explain(model, normalise(images(5), MEAN, STD), composite="epsilon-plus-flat",
                    canonizer="resnet", settings=Settings(mean=MEAN, std=STD))
    assert result.maps.shape == (5, 32, 32) and result.maps.dtype == np.float32
    np.testing.assert_allclose(result.maps, whole.maps, rtol=1e-4, atol=1e-6)
    assert result.targets.tolist() == whole.targets.tolist() and result.targets.dtype == np.int64
    np.testing.assert_allclose(result.logits, whole.logits, rtol=1e-5)
    assert result.method == "lrp-epsilon-plus-flat"
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_running_out_of_memory_halves_the_batch_and_other_errors_propagate(monkeypatch):
    model = toy_resnet().eval()
    tight_explainer = explainer(batch_size=4)
    real = explainer_module.attribute_batch
    sizes = []

    def tight(attributor, method, x, targets, name):
        sizes.append(x.shape[0])
        if x.shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real(attributor, method, x, targets, name)

    monkeypatch.setattr(explainer_module, "attribute_batch", tight)
    with tight_explainer.attach(model, "toy") as run:
        result = run(images(4), None)
    assert sizes[:3] == [4, 2, 1] and result.maps.shape[0] == 4
    assert tight_explainer.batch_size == 1 and tight_explainer.halvings == 2

    def broken(attributor, method, x, targets, name):
        raise RuntimeError("shapes do not match")

    monkeypatch.setattr(explainer_module, "attribute_batch", broken)
    with pytest.raises(RuntimeError, match="shapes"), explainer().attach(model, "toy") as run:
        run(images(2), None)


def test_is_out_of_memory():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("x"))
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory"))
    assert not is_out_of_memory(RuntimeError("size mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_an_lrp_composite_needs_a_canonizer_gradient_x_input_does_not():
    model = toy_resnet().eval()
    with pytest.raises(ModelRefused, match=r"set \[models.m\] canonizer"):
        explainer(canonizer=None).check_fit(model, "m")
    explainer("gradient-x-input", canonizer=None).check_fit(model, "m")
    explainer("epsilon", canonizer="resnet").check_fit(model, "m")


def test_a_canonizer_that_leaves_batch_norms_unfolded_is_refused_on_an_unweighted_build():
    model = toy_resnet().eval()  # fresh BatchNorms: unit variance, eps > 0, so not identity
    with pytest.raises(ModelRefused, match="does not fit"):
        explainer(canonizer="seresnet").check_fit(model, "toy")
    explainer(canonizer="resnet").check_fit(model, "toy")
    explainer(method="gradient-x-input", canonizer=None).check_fit(model, "toy")


def test_a_residual_canonizer_that_finds_no_block_is_refused():
    # timm's ResNet blocks are not torchvision's: the ResNet canonizer folds their
    # BatchNorms but finds no residual addition to split, so LRP would not conserve.
    import timm

    model = timm.create_model("resnet18", pretrained=False, num_classes=10).eval()
    with pytest.raises(ModelRefused, match="none of its residual blocks"):
        explainer().check_fit(model, "timm-resnet")
    # The registry does not hand such a model a canonizer in the first place.
    assert resolve_model("timm:resnet18").canonizer is None
    assert resolve_model("timm:legacy_seresnet50").canonizer == "seresnet"
    # A torchvision ResNet under the same canonizer is accepted.
    explainer().check_fit(load_model(resolve_model("torchvision:resnet18:random")).eval(),
                          "resnet18")


def test_auto_runs_the_method_it_chose():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 2 * 2, 3)).eval()
    x = torch.randn(2, 3, 2, 2)
    chosen, plain = explainer("auto", None), explainer("gradient-x-input", None)
    assert chosen.method == "gradient-x-input" and not chosen.lrp
    with chosen.attach(net, "n") as a, plain.attach(net, "n") as b:
        np.testing.assert_array_equal(a(x, None).maps, b(x, None).maps)


def test_gradient_x_input_is_the_definition():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Tanh(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 5)).eval()
    x = torch.randn(3, 3, 8, 8)
    result = explain(net, x, composite="gradient-x-input")
    expected = []
    for image in x:
        leaf = image[None].clone().requires_grad_(True)
        logits = net(leaf)
        logits[0, logits[0].argmax()].backward()
        expected.append((leaf.grad * leaf).sum(dim=1)[0].detach().numpy())
    np.testing.assert_allclose(result.maps, np.stack(expected), rtol=1e-4, atol=1e-6)


def test_integrated_gradients_are_complete_and_smoothgrad_is_seeded():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 4)).eval()
    x = torch.randn(2, 3, 4, 4)
    result = explain(net, x, [1, 2], composite="integrated-gradients",
                     settings=Settings(steps=8))
    gap = (net(x) - net(torch.zeros_like(x))).detach().numpy()
    totals = result.maps.reshape(2, -1).sum(axis=1)
    np.testing.assert_allclose(totals, gap[[0, 1], [1, 2]], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.logits, net(x).detach().numpy()[[0, 1], [1, 2]],
                               rtol=1e-6)
    before = torch.random.get_rng_state()
    smooth = explain(net, x, composite="smoothgrad", settings=Settings(samples=4))
    assert torch.equal(torch.random.get_rng_state(), before)  # the global seed untouched
    again = explain(net, x, composite="smoothgrad", settings=Settings(samples=4))
    np.testing.assert_array_equal(smooth.maps, again.maps)
    assert smooth.targets.tolist() == net(x).argmax(1).tolist()


def test_modern_architectures_get_a_gradient_method_and_lrp_is_refused():
    timm = pytest.importorskip("timm")
    torchvision = pytest.importorskip("torchvision")
    models = [timm.create_model("vit_tiny_patch16_224", pretrained=False),
              torchvision.models.mobilenet_v3_small(weights=None)]
    pictures = np.random.default_rng(6).integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    for model in models:
        result = explain(model, pictures, composite="auto")
        assert result.method == "gradient-x-input" and result.maps.shape == (1, 224, 224)
        assert np.isfinite(result.maps).all()
        with pytest.raises(ModelRefused, match='composite = "auto"'):
            explain(model, pictures, composite="epsilon-plus-flat")


def test_a_resnet_gets_lrp_with_its_canonizer():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None)
    result = explain(model, torch.randn(1, 3, 64, 64))
    assert result.method == "lrp-epsilon-plus-flat" and np.isfinite(result.maps).all()
    with pytest.raises(ModelRefused, match="does not fit"):
        explain(model, torch.randn(1, 3, 64, 64), canonizer="seresnet")
