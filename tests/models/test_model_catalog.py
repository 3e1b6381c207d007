"""The built-in catalog: the thesis's models, Geirhos's checksums, registering models."""

from __future__ import annotations

import dataclasses

import pytest

from localglobal.io.checksums import hashed_name_prefix
from localglobal.models.model_catalog import LIBRARY_WEIGHTS_URLS, list_models, register_model
from localglobal.models.resolve import resolve_model
from localglobal.models.spec import ModelSpec

THESIS = ["resnet50", "sin-resnet50", "se-resnet50", "resnext50", "se-resnext50", "vgg16"]


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
    assert spec.sha256 == hashed_name_prefix(spec.weights.rsplit("/", 1)[1])
    assert "first 8 hex digits" in spec.description
    assert spec.checkpoint_format == "dataparallel"


def test_register_model_refuses_to_replace_silently():
    spec = ModelSpec("registry-test-net", "torchvision:resnet18", "random",
                     checkpoint_format="random")
    register_model(spec, overwrite=True)
    register_model(spec)  # the same spec again is harmless
    with pytest.raises(ValueError, match="already registered"):
        register_model(dataclasses.replace(spec, crop=128))


def test_the_library_weights_table_agrees_with_torchvision_and_timm():
    import torchvision.models as tvm
    from timm.models import get_pretrained_cfg

    for (arch, weights), url in LIBRARY_WEIGHTS_URLS.items():
        library, _, name = arch.partition(":")
        source = weights.split(":", 1)[1]
        if library == "torchvision":
            assert tvm.get_model_weights(name)[source].url == url
        else:
            cfg = get_pretrained_cfg(source)
            assert cfg.url == url or cfg.hf_hub_id == f"timm/{source}"
    builtin = {(s.arch, s.weights) for s in map(resolve_model, list_models())
               if s.weights_kind in {"torchvision", "timm"}}
    assert builtin <= set(LIBRARY_WEIGHTS_URLS)
