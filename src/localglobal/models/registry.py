"""The model registry: named model specs, resolved from names, config entries and files.

A :class:`ModelSpec` says everything needed to run a model the way it was trained:
the architecture builder, the weights source, the preprocessing (mean/std, resize,
crop, interpolation), the label space of its outputs, and the LRP canonizer.

Names resolve, in order, from: a ``[models.NAME]`` entry of the run configuration
(which may point a registered name at a local copy of its weights, or declare a
new model), the registered models (the thesis's, the toy world's, and any a
Python file registers), and the open forms ``timm:NAME`` and
``torchvision:NAME[:WEIGHTS]``.

Architectures (``arch``):
    ``torchvision:NAME``  a torchvision classification builder (``resnet50``);
    ``timm:NAME``         a timm model (``legacy_seresnet50``);
    ``package.module:function``  any importable builder; it is called with
        ``num_classes`` (the size of the label space) when it takes that argument.

Weights sources (``weights``):
    ``torchvision:ENUM``  torchvision's weights (``IMAGENET1K_V1``, ``DEFAULT``);
    ``timm:NAME.TAG``     timm's pretrained weights (``legacy_seresnet50.in1k``);
    a URL                 downloaded into the cache and verified against ``sha256``;
    a path                a local checkpoint, used where it is;
    ``random``            random initialisation, seeded (reproducible);
    none                  no known source: the configuration must give one.

>>> spec = resolve_model("sin-resnet50")
>>> spec.arch, spec.canonizer, spec.sha256
('torchvision:resnet50', 'resnet', 'c8e5653e')
>>> resolve_model("torchvision:resnet18").weights
'torchvision:DEFAULT'
>>> model = load_model(resolve_model("resnet50"), pretrained=False)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib
import importlib.util
import inspect
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localglobal.models import weights as _weights

if TYPE_CHECKING:
    import torch

    from localglobal.config import ModelEntry, RunConfig

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

CANONIZERS = ("resnet", "vgg", "seresnet")
CHECKPOINT_FORMATS = ("torchvision", "timm", "state_dict", "dataparallel", "random", "none")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
RANDOM = "random"

TOY_ARCH = "localglobal.toyworld.model:toy_resnet"
TOY_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "toyworld" / "weights"

GEIRHOS_URL = "https://bitbucket.org/robert_geirhos/texture-vs-shape-pretrained-models/raw/"


class UnknownModelError(KeyError):
    """A model name that resolves to nothing; the message lists the closest names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ModelLoadError(RuntimeError):
    """A model could not be built or given its weights; the message says why."""


@dataclass(frozen=True)
class ModelSpec:
    """How to build, load and feed one model.

    Attributes:
        name: registry name (``"sin-resnet50"``).
        arch: architecture builder: ``torchvision:NAME``, ``timm:NAME`` or
            ``package.module:function``.
        weights: weights source (see the module docstring); ``None`` when none is
            known and the configuration has to give one.
        sha256: expected SHA-256 of a downloaded or local weights file: a full
            64-digit digest or a leading prefix (the torch hub convention).
        label_space: name of the label space of the model's outputs.
        mean, std: per-channel normalisation of [0, 1] RGB inputs.
        resize: shorter side before the centre crop, pixels.
        crop: side of the square input, pixels.
        interpolation: ``bilinear``, ``bicubic`` or ``nearest``.
        canonizer: LRP canonizer for the architecture (``resnet``, ``vgg``,
            ``seresnet``), ``None`` where LRP is not supported.
        checkpoint_format: how the weights are stored: ``torchvision`` or ``timm``
            (the library's own), ``state_dict`` (a ``torch.save`` file),
            ``dataparallel`` (a training checkpoint of a ``DataParallel`` model:
            ``state_dict`` entry, ``module.`` or ``features.module.`` key prefixes),
            ``random``, or ``none``.
        description: one line for people (what the model is, published figures).
    """

    name: str
    arch: str
    weights: str | None = None
    sha256: str | None = None
    label_space: str = "imagenet-1k"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    canonizer: str | None = None
    checkpoint_format: str = "state_dict"
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f"model {self.name!r}: mean and std need three values each")
        if any(v <= 0 for v in self.std):
            raise ValueError(f"model {self.name!r}: std must be positive, got {self.std}")
        if self.canonizer is not None and self.canonizer not in CANONIZERS:
            raise ValueError(f"model {self.name!r}: unknown canonizer {self.canonizer!r}; "
                             f"known: {', '.join(CANONIZERS)} (or none)")
        if self.checkpoint_format not in CHECKPOINT_FORMATS:
            raise ValueError(f"model {self.name!r}: unknown checkpoint_format "
                             f"{self.checkpoint_format!r}; known: {', '.join(CHECKPOINT_FORMATS)}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"model {self.name!r}: interpolation must be one of "
                             f"{', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        if self.resize < 1 or self.crop < 1:
            raise ValueError(f"model {self.name!r}: resize and crop must be positive")
        _weights.normalise_sha256(self.sha256)

    @property
    def weights_kind(self) -> str:
        """``torchvision``, ``timm``, ``url``, ``path``, ``random`` or ``none``."""
        return weights_kind(self.weights)

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the model's outputs, for keying cached results."""
        record = dataclasses.asdict(self)
        record.pop("description")
        if self.weights_kind in {"url", "path"}:
            record["weights_file"] = _weights.weights_fingerprint(self.weights)
        return record


def weights_kind(source: str | None) -> str:
    """Classify a weights source (see the module docstring)."""
    if not source:
        return "none"
    if source == RANDOM:
        return "random"
    if source.startswith("torchvision:"):
        return "torchvision"
    if source.startswith("timm:"):
        return "timm"
    if _weights.is_url(source):
        return "url"
    return "path"


def _format_for(source: str | None, previous: str = "state_dict") -> str:
    kind = weights_kind(source)
    if kind in {"url", "path"}:
        return previous if previous in {"state_dict", "dataparallel"} else "state_dict"
    return {"none": "none"}.get(kind, kind)


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, ModelSpec] = {}
_LOADED_MODULES: dict[str, Any] = {}


def register_model(spec: ModelSpec, *, overwrite: bool = False) -> ModelSpec:
    """Make a model available by ``spec.name``; returns the spec.

    Registering a different spec under a taken name is an error unless
    ``overwrite`` is set; registering the same spec again is harmless.
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
    for spec in builtins:
        register_model(spec, overwrite=True)


_register_builtins()


# --------------------------------------------------------------------------- resolving


def _close_names(name: str, candidates: list[str]) -> list[str]:
    return difflib.get_close_matches(name, candidates, n=5, cutoff=0.5)


def _unknown(name: str, candidates: list[str], what: str = "model") -> UnknownModelError:
    close = _close_names(name, candidates)
    hint = f"; closest: {', '.join(close)}" if close else ""
    return UnknownModelError(
        f"unknown {what} {name!r}{hint}. Registered: {', '.join(list_models())}; also "
        "timm:NAME, torchvision:NAME[:WEIGHTS], or a [models.NAME] table in the configuration"
    )


def _torchvision_spec(name: str, arch_name: str, weights_name: str | None) -> ModelSpec:
    import torchvision.models as tvm

    available = tvm.list_models(module=tvm)
    if arch_name not in available:
        raise _unknown(f"torchvision:{arch_name}", [f"torchvision:{n}" for n in available],
                       "torchvision model")
    enum = tvm.get_model_weights(arch_name)
    members = list(enum.__members__)
    if weights_name is None:
        weights_name = "DEFAULT"
    if weights_name != RANDOM and weights_name not in members:
        raise UnknownModelError(
            f"torchvision:{arch_name} has no weights {weights_name!r}; choose one of "
            f"{', '.join(members)}, or random")
    resize, crop, interpolation = 256, 224, "bilinear"
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    label_space = "imagenet-1k"
    if weights_name != RANDOM:
        member = enum[weights_name]
        preset = member.transforms()
        resize = int(_first(getattr(preset, "resize_size", resize)))
        crop = int(_first(getattr(preset, "crop_size", crop)))
        interpolation = getattr(preset, "interpolation", None)
        interpolation = getattr(interpolation, "value", "bilinear")
        mean = tuple(getattr(preset, "mean", mean))
        std = tuple(getattr(preset, "std", std))
        categories = member.meta.get("categories") or []
        if len(categories) != 1000:
            label_space = ""
    canonizer = _canonizer_for(arch_name)
    return ModelSpec(
        name, f"torchvision:{arch_name}",
        RANDOM if weights_name == RANDOM else f"torchvision:{weights_name}",
        label_space=label_space, mean=mean, std=std, resize=resize, crop=crop,
        interpolation=interpolation if interpolation in INTERPOLATIONS else "bilinear",
        canonizer=canonizer, checkpoint_format="random" if weights_name == RANDOM else
        "torchvision", description=f"torchvision {arch_name}, weights {weights_name}")


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) else value


def _canonizer_for(arch_name: str) -> str | None:
    if arch_name.startswith(("resnet", "resnext", "wide_resnet")):
        return "resnet"
    if arch_name.startswith(("vgg", "alexnet")):
        return "vgg"
    if arch_name.startswith(("legacy_seresnet", "legacy_seresnext")):
        return "seresnet"
    return None


def _timm_canonizer_for(arch_name: str) -> str | None:
    # timm's own ResNet and VGG blocks differ from torchvision's, which zennit's
    # canonizers are written for; only the legacy SE networks have one here.
    if arch_name.startswith(("legacy_seresnet", "legacy_seresnext")):
        return "seresnet"
    return None


def _timm_spec(name: str, full_name: str) -> ModelSpec:
    import timm
    from timm.models import get_pretrained_cfg, split_model_name_tag

    if not timm.is_model(full_name):
        base = split_model_name_tag(full_name)[0]
        candidates = timm.list_models() if not timm.is_model(base) else timm.list_pretrained(
            f"{base}.*")
        raise _unknown(f"timm:{full_name}", [f"timm:{c}" for c in candidates], "timm model")
    arch_name = split_model_name_tag(full_name)[0]
    cfg = get_pretrained_cfg(full_name)
    resize, crop, interpolation = 256, 224, "bilinear"
    mean, std, label_space = IMAGENET_MEAN, IMAGENET_STD, "imagenet-1k"
    weights = RANDOM
    if cfg is not None:
        crop = int(cfg.input_size[-1])
        resize = round(crop / (cfg.crop_pct or 0.875))
        interpolation = cfg.interpolation if cfg.interpolation in INTERPOLATIONS else "bicubic"
        mean, std = tuple(cfg.mean), tuple(cfg.std)
        label_space = "imagenet-1k" if cfg.num_classes == 1000 else ""
        weights = f"timm:{arch_name}.{cfg.tag}" if cfg.tag else f"timm:{arch_name}"
    return ModelSpec(
        name, f"timm:{arch_name}", weights, label_space=label_space, mean=mean, std=std,
        resize=resize, crop=crop, interpolation=interpolation,
        canonizer=_timm_canonizer_for(arch_name),
        checkpoint_format="timm" if weights != RANDOM else "random",
        description=f"timm {full_name}")


def _open_form(name: str) -> ModelSpec | None:
    """Specs of ``timm:NAME`` and ``torchvision:NAME[:WEIGHTS]``, else ``None``."""
    if name.startswith("torchvision:"):
        parts = name.split(":")
        if len(parts) not in (2, 3) or not parts[1]:
            raise UnknownModelError(f"{name!r}: expected torchvision:NAME or "
                                    "torchvision:NAME:WEIGHTS")
        return _torchvision_spec(name, parts[1], parts[2] if len(parts) == 3 else None)
    if name.startswith("timm:"):
        return _timm_spec(name, name[len("timm:"):])
    return None


def _load_user_module(source: str) -> Any:
    """Import a Python file (or a dotted module) that registers models, once."""
    if source in _LOADED_MODULES:
        return _LOADED_MODULES[source]
    path = Path(source).expanduser()
    if path.suffix == ".py" or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"model module {path} does not exist")
        module_name = "localglobal_user_models_" + hashlib.sha256(
            str(path.resolve()).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"{path}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(source)
    _LOADED_MODULES[source] = module
    return module


def load_config_modules(config: RunConfig | None) -> None:
    """Import every Python file named by a ``module`` key of ``[models.*]`` entries."""
    if config is None:
        return
    for entry in config.models.values():
        if entry.module:
            _load_user_module(entry.module)


def _from_entry(name: str, entry: ModelEntry) -> ModelSpec:
    """The spec a ``[models.NAME]`` entry describes."""
    if entry.module:
        _load_user_module(entry.module)
    base: ModelSpec | None = None
    if entry.arch is not None:
        if entry.arch in _REGISTRY:
            base = _REGISTRY[entry.arch]
        elif entry.arch.startswith(("timm:", "torchvision:")):
            base = _open_form(entry.arch)
        elif ":" in entry.arch:
            base = ModelSpec(name, entry.arch, None, checkpoint_format="none",
                             description=f"{entry.arch}")
        else:
            raise _unknown(entry.arch, list_models(), f"architecture (in [models.{name}])")
    elif name in _REGISTRY:
        base = _REGISTRY[name]
    else:
        base = _open_form(name)
    if base is None:
        hint = " (its module did not register it)" if entry.module else ""
        raise UnknownModelError(
            f"[models.{name}] needs `arch` (timm:NAME, torchvision:NAME, a registered name, "
            f"or package.module:function) since {name!r} is not a registered model{hint}")
    changes: dict[str, Any] = {"name": name}
    if entry.weights is not None:
        changes["weights"] = entry.weights
        changes["checkpoint_format"] = _format_for(entry.weights, base.checkpoint_format)
        # A local copy of the registered file (same file name) keeps its checksum.
        if entry.sha256 is None:
            changes["sha256"] = base.sha256 if _same_file_name(entry.weights, base.weights) \
                else None
    for key in ("sha256", "label_space", "resize", "crop", "interpolation"):
        value = getattr(entry, key)
        if value is not None:
            changes[key] = value
    if entry.mean is not None:
        changes["mean"] = tuple(entry.mean)
    if entry.std is not None:
        changes["std"] = tuple(entry.std)
    if "canonizer" in entry.model_fields_set:
        value = entry.canonizer
        changes["canonizer"] = None if value in (None, "", "none") else value
    return dataclasses.replace(base, **changes)


def _same_file_name(a: str | None, b: str | None) -> bool:
    if not a or not b or weights_kind(b) not in {"url", "path"}:
        return False

    def name(source: str) -> str:
        return Path(urllib.parse.urlparse(source).path if _weights.is_url(source)
                    else source).name

    return name(a) == name(b)


def resolve_model(name: str, config: RunConfig | None = None) -> ModelSpec:
    """The :class:`ModelSpec` a name stands for.

    Args:
        name: a registered name, ``timm:NAME``, ``torchvision:NAME[:WEIGHTS]``, or a
            name declared in ``config.models``.
        config: the run configuration; its ``[models.NAME]`` entry, if any, takes
            precedence and may override single fields of a registered spec.

    Raises:
        UnknownModelError: nothing by that name; the message lists the closest names.
    """
    spec: ModelSpec | None
    if config is not None and name in config.models:
        spec = _from_entry(name, config.models[name])
    else:
        load_config_modules(config)
        spec = _REGISTRY.get(name) or _open_form(name)
    if spec is None:
        candidates = list_models() + (list(config.models) if config is not None else [])
        raise _unknown(name, candidates)
    if not spec.label_space:
        raise UnknownModelError(
            f"model {name!r}: its outputs are not ImageNet-1k's 1000 classes; declare "
            f"[models.{name}] label_space = NAME or a label file")
    return spec


# --------------------------------------------------------------------------- loading


def _label_space_size(spec: ModelSpec) -> int:
    from localglobal.data.classes import get_label_space

    return len(get_label_space(spec.label_space))


def _build(spec: ModelSpec, num_classes: int) -> torch.nn.Module:
    """The architecture with freshly initialised weights."""
    prefix, _, target = spec.arch.partition(":")
    if prefix == "torchvision":
        import torchvision.models as tvm

        return tvm.get_model(target, weights=None, num_classes=num_classes)
    if prefix == "timm":
        import timm

        return timm.create_model(target, pretrained=False, num_classes=num_classes)
    if not target:
        raise ModelLoadError(f"model {spec.name!r}: arch {spec.arch!r} is not "
                             "torchvision:NAME, timm:NAME or package.module:function")
    try:
        builder = getattr(importlib.import_module(prefix), target)
    except (ImportError, AttributeError) as error:
        raise ModelLoadError(f"model {spec.name!r}: cannot import {spec.arch}: {error}") from None
    try:
        accepts = "num_classes" in inspect.signature(builder).parameters
    except (TypeError, ValueError):
        accepts = False
    return builder(num_classes=num_classes) if accepts else builder()


def _library_unavailable(spec: ModelSpec, reason: BaseException | str
                         ) -> _weights.WeightsUnavailableError:
    """The error for torchvision/timm weights that are neither cached nor downloadable,
    naming the URL and where the library looks for the file."""
    source = spec.weights.split(":", 1)[1]  # type: ignore[union-attr]
    if spec.weights_kind == "torchvision":
        import torchvision.models as tvm

        url = tvm.get_model_weights(spec.arch.partition(":")[2])[source].url
        return _weights.hub_unavailable(url, reason)
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(source)
    if cfg is not None and cfg.hf_hub_id:
        from huggingface_hub import constants

        text = str(reason).rstrip(".")
        return _weights.WeightsUnavailableError(
            f"cannot download timm weights {source} from https://huggingface.co/"
            f"{cfg.hf_hub_id} ({text}).\nDownload them on a machine with network access "
            f"(huggingface-cli download {cfg.hf_hub_id}) and copy that cache to "
            f"{constants.HF_HUB_CACHE} (set by HF_HOME), or save the state dict to a file "
            f"and point [models.{spec.name}] weights at it.")
    if cfg is not None and cfg.url:
        return _weights.hub_unavailable(cfg.url, reason)
    return _weights.WeightsUnavailableError(f"model {spec.name!r}: timm has no pretrained "
                                            f"weights {source!r} ({reason})")


def _pretrained_library_model(spec: ModelSpec) -> torch.nn.Module:
    """A torchvision or timm model with the library's own pretrained weights."""
    kind = spec.weights_kind
    source = spec.weights.split(":", 1)[1]  # type: ignore[union-attr]
    arch_prefix, _, arch_name = spec.arch.partition(":")
    if arch_prefix != kind:
        raise ModelLoadError(f"model {spec.name!r}: {kind} weights {spec.weights!r} need a "
                             f"{kind}:NAME arch, not {spec.arch!r}")
    if _weights.offline() and weights_cached(spec) == "no":
        raise _library_unavailable(spec, "offline mode (LOCALGLOBAL_OFFLINE=1)")
    try:
        if kind == "torchvision":
            import torchvision.models as tvm

            return tvm.get_model(arch_name, weights=source)
        import timm

        return timm.create_model(source, pretrained=True)
    except Exception as error:
        if _weights.is_network_error(error):
            raise _library_unavailable(spec, error) from error
        raise


def weights_path(spec: ModelSpec, *, progress: bool = True) -> Path:
    """The local file of a URL or path weights source, downloaded and verified if needed.

    Raises:
        ModelLoadError: the spec has no file weights (``torchvision:``, ``timm:``,
            ``random`` or none).
        FileNotFoundError: a local file that does not exist (for the toy models the
            message says how to make them).
    """
    kind = spec.weights_kind
    if kind not in {"url", "path"}:
        raise ModelLoadError(f"model {spec.name!r}: weights {spec.weights!r} are not a file")
    try:
        return _weights.fetch_weights(spec.weights, spec.sha256,  # type: ignore[arg-type]
                                      progress=progress)
    except FileNotFoundError:
        hint = ""
        if spec.arch == TOY_ARCH:
            hint = "; train the toy models with `localglobal toyworld train`"
        raise FileNotFoundError(
            f"model {spec.name!r}: weights file {Path(spec.weights).expanduser()} "  # type: ignore[arg-type]
            f"does not exist{hint}") from None


def load_model(spec: ModelSpec, *, pretrained: bool = True, device: str | torch.device = "cpu",
               seed: int = 0) -> torch.nn.Module:
    """Build a model and load its weights; returns it in eval mode on ``device``.

    Args:
        spec: the model, from :func:`resolve_model`.
        pretrained: load the spec's weights; ``False`` gives the architecture with
            random initialisation (as does ``weights = "random"``).
        device: where the model goes.
        seed: random initialisation is drawn under this seed (without disturbing
            the global random state), so random-weight models are reproducible.

    Raises:
        ModelLoadError: no weights source, or an unbuildable architecture.
        FileNotFoundError: a weights file that does not exist.
        WeightsUnavailableError: weights neither cached nor downloadable (the message
            names the URL and the path to put the file at).
        ChecksumError: a file that fails its checksum.
        CheckpointMismatchError: a checkpoint whose keys or shapes do not fit.
    """
    import torch

    kind = spec.weights_kind if pretrained else RANDOM
    if kind == "none":
        raise ModelLoadError(
            f"model {spec.name!r} has no weights source"
            + (f" ({spec.description})" if spec.description else "")
            + f"; set weights in [models.{spec.name}]: a URL, a local path, or \"random\"")
    path = weights_path(spec) if kind in {"url", "path"} else None
    if kind in {"torchvision", "timm"}:
        model = _pretrained_library_model(spec)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _build(spec, _label_space_size(spec))
        if path is not None:
            state = _weights.load_checkpoint(path)
            _weights.load_state_dict_strict(model, state, str(path))
    return model.eval().to(device)


# --------------------------------------------------------------------------- describing


def _short_source(source: str | None) -> str:
    kind = weights_kind(source)
    if kind == "none":
        return "(none: set weights)"
    if kind in {"torchvision", "timm"}:
        return source.replace(":", " ", 1)  # type: ignore[union-attr]
    if kind == "url":
        parsed = urllib.parse.urlparse(source)
        return f"{parsed.netloc}/…/{Path(parsed.path).name}"
    package_root = TOY_WEIGHTS_DIR.parent.parent
    path = Path(source).expanduser()  # type: ignore[arg-type]
    if path.is_relative_to(package_root):
        return f"{package_root.name}/{path.relative_to(package_root)}"
    return str(source)


def weights_cached(spec: ModelSpec) -> str:
    """``yes``/``no`` for whether the weights are on this machine; ``-`` where moot."""
    kind = spec.weights_kind
    if kind in {"random", "none"}:
        return "-"
    if kind in {"url", "path"}:
        return "yes" if _weights.is_cached(spec.weights) else "no"  # type: ignore[arg-type]
    source = spec.weights.split(":", 1)[1]  # type: ignore[union-attr]
    if kind == "torchvision":
        import torchvision.models as tvm

        arch_name = spec.arch.partition(":")[2]
        try:
            url = tvm.get_model_weights(arch_name)[source].url
        except (KeyError, ValueError):
            return "no"
        return "yes" if _weights.hub_checkpoint_path(url).is_file() else "no"
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(source)
    if cfg is None:
        return "no"
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "pytorch_model.bin"):
            if isinstance(try_to_load_from_cache(cfg.hf_hub_id, filename), str):
                return "yes"
    if cfg.url and _weights.hub_checkpoint_path(cfg.url).is_file():
        return "yes"
    return "no"


def describe_models(config: RunConfig | None = None) -> list[dict[str, str]]:
    """One row per model for ``localglobal models``.

    Rows cover the registered models and every ``[models.NAME]`` entry of the
    configuration, with keys ``name``, ``architecture``, ``weights``, ``cached``,
    ``label space`` and ``LRP`` (the canonizer, or ``no``).
    """
    load_config_modules(config)
    names = list_models()
    if config is not None:
        names += [n for n in config.models if n not in names]
        names += [n for n in config.evaluate.models + config.attribute.models
                  if n not in names and n.startswith(("timm:", "torchvision:"))]
    rows = []
    for name in names:
        try:
            spec = resolve_model(name, config)
        except (KeyError, ValueError, ImportError, OSError) as error:
            rows.append({"name": name, "architecture": f"error: {error}", "weights": "",
                         "cached": "", "label space": "", "LRP": ""})
            continue
        rows.append({
            "name": name,
            "architecture": spec.arch,
            "weights": _short_source(spec.weights),
            "cached": weights_cached(spec),
            "label space": spec.label_space,
            "LRP": spec.canonizer or "no",
        })
    return rows


__all__ = [
    "CANONIZERS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ModelLoadError",
    "ModelSpec",
    "UnknownModelError",
    "describe_models",
    "list_models",
    "load_model",
    "register_model",
    "resolve_model",
    "weights_path",
]
