"""Building models and loading their weights: checkpoints, missing files, offline."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import torch
import torchvision
from torch import nn

from localglobal.config import config_from_dict
from localglobal.errors import DownloadUnavailableError, ModelLoadError
from localglobal.models.loading import load_model
from localglobal.models.model_catalog import TOY_ARCH
from localglobal.models.resolve import resolve_model


@pytest.mark.slow
def test_sin_style_checkpoint_loads_and_gives_identical_outputs(tmp_path):
    """A DataParallel ResNet-50's state dict under ``state_dict``, as Geirhos saved it."""
    torch.manual_seed(1)
    original = torchvision.models.resnet50().eval()
    path = tmp_path / "resnet50_train_60_epochs-local.pth.tar"
    torch.save({"epoch": 60, "arch": "resnet50",
                "state_dict": nn.DataParallel(original).state_dict()}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    config = config_from_dict({"models": {"sin-resnet50": {"weights": str(path),
                                                           "sha256": digest[:8]}}})
    spec = resolve_model("sin-resnet50", config)
    assert spec.arch == "torchvision:resnet50" and spec.weights == str(path)
    model = load_model(spec)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), original(x))


def test_a_checkpoint_that_does_not_fit_names_the_keys(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), path)
    config = config_from_dict({"models": {"wrong": {
        "arch": "torchvision:resnet34", "weights": str(path), "label_space": "imagenette"}}})
    with pytest.raises(ModelLoadError) as error:
        load_model(resolve_model("wrong", config))
    assert str(path) in str(error.value) and "missing keys" in str(error.value)
    assert "layer1.2.conv1.weight" in str(error.value)


def test_missing_toy_weights_say_how_to_make_them(tmp_path):
    spec = resolve_model("toy-shape")
    assert (spec.arch, spec.label_space, spec.canonizer) == (TOY_ARCH, "toyworld", "resnet")
    moved = dataclasses.replace(spec, weights=str(tmp_path / "toy-shape.pt"))
    with pytest.raises(FileNotFoundError) as error:
        load_model(moved)
    assert str(tmp_path / "toy-shape.pt") in str(error.value)
    assert "localglobal toyworld train" in str(error.value)


def test_manual_download_models_say_where_to_set_the_weights():
    with pytest.raises(ModelLoadError, match=r"\[models.sin-vgg16\] weights"):
        load_model(resolve_model("sin-vgg16"))


def test_library_weights_offline_name_the_url_and_the_path(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALGLOBAL_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(DownloadUnavailableError, match="LOCALGLOBAL_OFFLINE") as error:
        load_model(resolve_model("resnet50"))
    url = "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    path = tmp_path / "torch" / "hub" / "checkpoints" / "resnet50-0676ba61.pth"
    assert url in str(error.value) and str(path) in str(error.value)
