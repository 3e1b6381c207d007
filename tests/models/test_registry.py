"""The model registry: thesis models, open forms, config entries, user files, loading."""

from __future__ import annotations

import dataclasses
import hashlib
import textwrap

import pytest
import torch
import torchvision
from torch import nn

from localglobal.config import config_from_dict
from localglobal.models.registry import (
    CANONIZERS,
    TOY_ARCH,
    ModelLoadError,
    ModelSpec,
    UnknownModelError,
    describe_models,
    list_models,
    load_model,
    register_model,
    resolve_model,
)
from localglobal.models.weights import (
    CheckpointMismatchError,
    WeightsUnavailableError,
    hub_hash_prefix,
)

THESIS = ["resnet50", "sin-resnet50", "se-resnet50", "resnext50", "se-resnext50", "vgg16"]


@pytest.fixture(autouse=True)
def _cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALGLOBAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")


def test_thesis_models_are_registered_with_their_canonizers():
    assert set(THESIS) <= set(list_models())
    expected = {"resnet50": "resnet", "sin-resnet50": "resnet", "resnext50": "resnet",
                "se-resnet50": "seresnet", "se-resnext50": "seresnet", "vgg16": "vgg"}
    for name, canonizer in expected.items():
        spec = resolve_model(name)
        assert spec.canonizer == canonizer and spec.label_space == "imagenet-1k"
        assert (spec.resize, spec.crop) == (256, 224)
    assert resolve_model("resnet50").weights == "torchvision:IMAGENET1K_V1"
    assert resolve_model("resnet50-v2").weights == "torchvision:IMAGENET1K_V2"
    assert resolve_model("se-resnet50").weights == "timm:legacy_seresnet50.in1k"


@pytest.mark.parametrize("name", ["sin-resnet50", "sin-in-resnet50", "sin-in-ft-resnet50"])
def test_sin_checksums_are_the_hub_prefix_of_their_file_names(name):
    spec = resolve_model(name)
    assert spec.weights.startswith("https://bitbucket.org/robert_geirhos/")
    assert spec.sha256 == hub_hash_prefix(spec.weights.rsplit("/", 1)[1])
    assert "first 8 hex digits" in spec.description
    assert spec.checkpoint_format == "dataparallel"


def test_an_unknown_name_lists_the_closest_names():
    with pytest.raises(UnknownModelError) as error:
        resolve_model("resnet5")
    assert "closest: resnet50" in str(error.value)
    with pytest.raises(UnknownModelError, match="timm:legacy_seresnet50"):
        resolve_model("timm:legacy_seresnet5")
    with pytest.raises(UnknownModelError, match="torchvision:resnet50"):
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


def test_a_checkpoint_that_does_not_fit_names_the_keys(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), path)
    config = config_from_dict({"models": {"wrong": {
        "arch": "torchvision:resnet34", "weights": str(path), "label_space": "imagenette"}}})
    with pytest.raises(CheckpointMismatchError) as error:
        load_model(resolve_model("wrong", config))
    assert str(path) in str(error.value) and "missing keys" in str(error.value)
    assert "layer1.2.conv1.weight" in str(error.value)


def test_a_python_file_registers_models(tmp_path):
    module = tmp_path / "my_models.py"
    module.write_text(textwrap.dedent("""
        from localglobal.models.registry import ModelSpec, register_model

        register_model(ModelSpec("lab-net", "torchvision:resnet18", "random",
                                 label_space="imagenette", canonizer="resnet",
                                 checkpoint_format="random"), overwrite=True)
    """))
    config = config_from_dict({"models": {"lab-net": {"module": str(module)}}})
    spec = resolve_model("lab-net", config)
    assert spec.arch == "torchvision:resnet18" and spec.label_space == "imagenette"
    assert "lab-net" in [row["name"] for row in describe_models(config)]


def test_register_model_refuses_to_replace_silently():
    spec = ModelSpec("registry-test-net", "torchvision:resnet18", "random",
                     checkpoint_format="random")
    register_model(spec, overwrite=True)
    register_model(spec)  # the same spec again is harmless
    with pytest.raises(ValueError, match="already registered"):
        register_model(dataclasses.replace(spec, crop=128))


def test_spec_validation_names_the_problem():
    with pytest.raises(ValueError, match="canonizer"):
        ModelSpec("x", "torchvision:resnet18", canonizer="densenet")
    with pytest.raises(ValueError, match="sha256"):
        ModelSpec("x", "torchvision:resnet18", sha256="not-hex")
    assert set(CANONIZERS) == {"resnet", "vgg", "seresnet"}


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
    with pytest.raises(WeightsUnavailableError, match="LOCALGLOBAL_OFFLINE") as error:
        load_model(resolve_model("resnet50"))
    url = "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    path = tmp_path / "torch" / "hub" / "checkpoints" / "resnet50-0676ba61.pth"
    assert url in str(error.value) and str(path) in str(error.value)


def test_describe_models_rows():
    rows = describe_models(config_from_dict({}))
    assert list(rows[0]) == ["name", "architecture", "weights", "cached", "label space", "LRP"]
    by_name = {row["name"]: row for row in rows}
    assert by_name["sin-resnet50"]["cached"] == "no"
    assert by_name["se-resnet50"]["LRP"] == "seresnet"
    assert by_name["sin-vgg16"]["weights"].startswith("(none")
