"""Resolving names: open forms, configuration entries, user modules, fingerprints."""

from __future__ import annotations

import textwrap

import pytest
import torch

from localglobal.config import config_from_dict
from localglobal.errors import ConfigError, UnknownNameError
from localglobal.models.describe import describe_models
from localglobal.models.loading import load_model
from localglobal.models.resolve import model_fingerprints, resolve_model


def test_an_unknown_name_lists_the_closest_names():
    with pytest.raises(UnknownNameError) as error:
        resolve_model("resnet5")
    assert "closest: resnet50" in str(error.value)
    with pytest.raises(UnknownNameError, match="timm:legacy_seresnet50"):
        resolve_model("timm:legacy_seresnet5")
    with pytest.raises(UnknownNameError, match="torchvision:resnet50"):
        resolve_model("torchvision:resnet51")


def test_open_forms_resolve_with_their_preprocessing():
    spec = resolve_model("torchvision:resnet50:IMAGENET1K_V2")
    assert (spec.arch, spec.weights, spec.resize, spec.crop) == (
        "torchvision:resnet50", "torchvision:IMAGENET1K_V2", 232, 224)
    assert resolve_model("torchvision:vgg11").canonizer == "vgg"
    assert resolve_model("torchvision:mobilenet_v3_small").canonizer is None
    timm_spec = resolve_model("timm:legacy_seresnext50_32x4d")
    assert timm_spec.canonizer == "seresnet" and timm_spec.checkpoint_format == "timm"


def test_a_config_entry_declares_a_random_init_model_of_any_label_space():
    config = config_from_dict({"models": {"tiny": {
        "arch": "torchvision:resnet18", "weights": "random", "label_space": "imagenette",
        "canonizer": "none", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "crop": 64}}})
    spec = resolve_model("tiny", config)
    assert spec.weights == "random" and spec.checkpoint_format == "random"
    assert spec.canonizer is None and spec.mean == (0.5, 0.5, 0.5) and spec.crop == 64
    first, second = load_model(spec), load_model(spec)
    assert not first.training
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 64)
        assert first(x).shape == (1, 10)  # Imagenette's ten classes
        assert torch.equal(first(x), second(x))  # seeded: reproducible


def test_a_local_copy_of_a_registered_file_keeps_its_checksum(tmp_path):
    copy = tmp_path / "resnet50_train_60_epochs-c8e5653e.pth.tar"
    config = config_from_dict({"models": {
        "sin-resnet50": {"weights": str(copy)},
        "mine": {"arch": "sin-resnet50", "weights": str(tmp_path / "finetuned.pth")},
    }})
    assert resolve_model("sin-resnet50", config).sha256 == "c8e5653e"
    mine = resolve_model("mine", config)
    assert mine.sha256 is None and mine.arch == "torchvision:resnet50"
    assert mine.canonizer == "resnet"


def test_a_python_file_registers_models(tmp_path):
    module = tmp_path / "my_models.py"
    module.write_text(textwrap.dedent("""
        from localglobal.models import ModelSpec, register_model

        register_model(ModelSpec("lab-net", "torchvision:resnet18", "random",
                                 label_space="imagenette", canonizer="resnet",
                                 checkpoint_format="random"), overwrite=True)
    """))
    config = config_from_dict({"models": {"lab-net": {"module": str(module)}}})
    spec = resolve_model("lab-net", config)
    assert spec.arch == "torchvision:resnet18" and spec.label_space == "imagenette"
    assert "lab-net" in [row["name"] for row in describe_models(config)]


def test_a_missing_model_module_names_the_file(tmp_path):
    config = config_from_dict({"models": {"x": {"module": str(tmp_path / "absent.py")}}})
    with pytest.raises(ConfigError, match=r"absent\.py does not exist"):
        resolve_model("x", config)


def test_fingerprints_follow_the_checkpoint_and_record_unresolved_names(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"one")
    config = config_from_dict({"models": {"mine": {"arch": "torchvision:resnet18",
                                                   "weights": str(path)}}})
    first = model_fingerprints(config, ["mine", "resnet5"])
    assert first["mine"]["entry"]["weights"] == str(path)
    assert "unresolved" in first["resnet5"]["spec"] and first["resnet5"]["entry"] is None
    path.write_bytes(b"changed")
    assert model_fingerprints(config, ["mine"])["mine"] != first["mine"]
