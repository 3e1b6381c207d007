"""The attributor: batches on a device, out-of-memory halving, refusing misfit canonizers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from localglobal.attribution.attributor import (
    Attributor,
    ModelRefused,
    is_out_of_memory,
    refuse_without_canonizer,
)
from localglobal.attribution.canonizers import get_canonizers
from localglobal.attribution.lrp import explain
from localglobal.models import load_model, resolve_model
from localglobal.toyworld.model import toy_resnet

MEAN, STD = (0.5, 0.5, 0.5), (0.2, 0.2, 0.2)


def attributor(composite: str = "epsilon-plus-flat", canonizer: str | None = "resnet",
               batch_size: int = 2) -> Attributor:
    return Attributor(composite=composite, canonizer=canonizer, epsilon=0.1, mean=MEAN,
                      std=STD, device=torch.device("cpu"), batch_size=batch_size)


def images(n: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_batches_give_the_maps_of_one_direct_call():
    model = toy_resnet().eval()
    a = attributor(batch_size=2)
    with a.registered(model, "toy"):
        maps, targets, logits = a(model, images(5), None)
    x = a.normalise(images(5))
    direct = explain(model, x, None, "epsilon-plus-flat", get_canonizers("resnet"),
                     mean=MEAN, std=STD)
    assert maps.shape == (5, 32, 32) and maps.dtype == np.float32
    np.testing.assert_allclose(maps, direct.relevance.sum(1).numpy(), rtol=1e-4, atol=1e-6)
    assert targets.tolist() == direct.targets.tolist() and targets.dtype == np.int64
    np.testing.assert_allclose(logits, direct.target_logits.numpy(), rtol=1e-5)


def test_running_out_of_memory_halves_the_batch_and_other_errors_propagate(monkeypatch):
    model = toy_resnet().eval()
    a = attributor(batch_size=4)
    real = Attributor._once
    sizes = []

    def tight(self, model, x, targets):
        sizes.append(x.shape[0])
        if x.shape[0] > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real(self, model, x, targets)

    monkeypatch.setattr(Attributor, "_once", tight)
    with a.registered(model, "toy"):
        maps, _, _ = a(model, images(4), None)
    assert sizes[:3] == [4, 2, 1] and maps.shape[0] == 4
    assert a.batch_size == 1 and a.halvings == 2

    def broken(self, model, x, targets):
        raise RuntimeError("shapes do not match")

    monkeypatch.setattr(Attributor, "_once", broken)
    with pytest.raises(RuntimeError, match="shapes"):
        attributor()(model, images(2), None)


def test_is_out_of_memory():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("x"))
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory"))
    assert not is_out_of_memory(RuntimeError("size mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_an_lrp_composite_needs_a_canonizer_gradient_x_input_does_not():
    with pytest.raises(ModelRefused, match=r"set \[models.m\] canonizer"):
        refuse_without_canonizer("m", "timm:x", None, "epsilon-plus-flat")
    refuse_without_canonizer("m", "timm:x", None, "gradient-x-input")
    refuse_without_canonizer("m", "timm:x", "resnet", "epsilon")


def test_a_canonizer_that_leaves_batch_norms_unfolded_is_refused_on_an_unweighted_build():
    model = toy_resnet().eval()  # fresh BatchNorms: unit variance, eps > 0, so not identity
    with pytest.raises(ModelRefused, match="does not fit"):
        attributor(canonizer="seresnet").check_fit(model, "toy")
    attributor(canonizer="resnet").check_fit(model, "toy")
    attributor(composite="gradient-x-input", canonizer=None).check_fit(model, "toy")


def test_a_residual_canonizer_that_finds_no_block_is_refused():
    # timm's ResNet blocks are not torchvision's: the ResNet canonizer folds their
    # BatchNorms but finds no residual addition to split, so LRP would not conserve.
    import timm

    model = timm.create_model("resnet18", pretrained=False, num_classes=10).eval()
    with pytest.raises(ModelRefused, match="none of its residual blocks"), \
            attributor().registered(model, "timm-resnet"):
        pass
    # The registry does not hand such a model a canonizer in the first place.
    assert resolve_model("timm:resnet18").canonizer is None
    assert resolve_model("timm:legacy_seresnet50").canonizer == "seresnet"
    # A torchvision ResNet under the same canonizer is accepted.
    torchvision_model = load_model(resolve_model("torchvision:resnet18:random")).eval()
    with attributor().registered(torchvision_model, "resnet18"):
        pass
