"""Resolving a model name to its :class:`~localglobal.models.spec.ModelSpec`.

Names resolve, in order, from: a ``[models.NAME]`` entry of the run configuration
(which may point a registered name at a local copy of its weights, or declare a
new model), the registered models (:mod:`localglobal.models.model_catalog`, and any a
Python file registers), and the open forms ``timm:NAME`` and
``torchvision:NAME[:WEIGHTS]`` (their preprocessing is read from the library's
weights metadata).

>>> spec = resolve_model("sin-resnet50")
>>> spec.arch, spec.canonizer, spec.sha256
('torchvision:resnet50', 'resnet', 'c8e5653e')
>>> resolve_model("torchvision:resnet18").weights       # doctest: +SKIP
'torchvision:DEFAULT'
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib.util
import sys
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localglobal.errors import ConfigError, UnknownNameError
from localglobal.io.download import is_url
from localglobal.models.model_catalog import list_models, registered
from localglobal.models.preprocessing import IMAGENET_MEAN, IMAGENET_STD, INTERPOLATIONS
from localglobal.models.spec import RANDOM, ModelSpec, format_for, weights_kind
from localglobal.trust import (
    arch_names_code,
    import_named_module,
    require_trusted,
    untrusted_message,
)

if TYPE_CHECKING:
    from localglobal.config import ModelEntry, RunConfig

_LOADED_MODULES: dict[str, Any] = {}


def _close_names(name: str, candidates: list[str]) -> list[str]:
    return difflib.get_close_matches(name, candidates, n=5, cutoff=0.5)


def _unknown(name: str, candidates: list[str], what: str = "model") -> UnknownNameError:
    close = _close_names(name, candidates)
    hint = f"; closest: {', '.join(close)}" if close else ""
    return UnknownNameError(
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
        raise UnknownNameError(
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
            raise UnknownNameError(f"{name!r}: expected torchvision:NAME or "
                                    "torchvision:NAME:WEIGHTS")
        return _torchvision_spec(name, parts[1], parts[2] if len(parts) == 3 else None)
    if name.startswith("timm:"):
        return _timm_spec(name, name[len("timm:"):])
    return None


def _load_user_module(source: str) -> Any:
    """Import a Python file (or a dotted module) that registers models, once.

    Raises
    ------
    ConfigError
        A ``.py`` path that does not exist or cannot be imported as a module.
    """
    if source in _LOADED_MODULES:
        return _LOADED_MODULES[source]
    path = Path(source).expanduser()
    if path.suffix == ".py" or path.exists():
        if not path.is_file():
            raise ConfigError(f"model module {path} does not exist (the `module` key of a "
                              "[models.NAME] table); fix the path")
        module_name = "localglobal_user_models_" + hashlib.sha256(
            str(path.resolve()).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"{path}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    else:
        module = import_named_module(source)
    _LOADED_MODULES[source] = module
    return module


def load_config_modules(config: RunConfig | None) -> None:
    """Import every Python file named by a ``module`` key of ``[models.*]`` entries."""
    if config is None:
        return
    for entry in config.models.values():
        if entry.module:
            _load_user_module(entry.module)


def _entry_base(name: str, entry: ModelEntry) -> ModelSpec:
    """The spec a ``[models.NAME]`` entry starts from: its ``arch``, else the name."""
    base: ModelSpec | None
    if entry.arch is not None:
        if registered(entry.arch) is not None:
            base = registered(entry.arch)
        elif entry.arch.startswith(("timm:", "torchvision:")):
            base = _open_form(entry.arch)
        elif ":" in entry.arch:
            base = ModelSpec(name, entry.arch, None, checkpoint_format="none",
                             description=f"{entry.arch}")
        else:
            raise _unknown(entry.arch, list_models(), f"architecture (in [models.{name}])")
    else:
        base = registered(name) or _open_form(name)
    if base is None:
        hint = " (its module did not register it)" if entry.module else ""
        raise UnknownNameError(
            f"[models.{name}] needs `arch` (timm:NAME, torchvision:NAME, a registered name, "
            f"or package.module:function) since {name!r} is not a registered model{hint}")
    return base


def _from_entry(name: str, entry: ModelEntry, trusted: bool = True) -> ModelSpec:
    """The spec a ``[models.NAME]`` entry describes: its base with the entry's fields."""
    for key, value in _code_of(name, entry).items():
        require_trusted(key, value, trusted)
    if entry.module:
        _load_user_module(entry.module)
    base = _entry_base(name, entry)
    changes: dict[str, Any] = {"name": name}
    if entry.weights is not None:
        changes["weights"] = entry.weights
        changes["checkpoint_format"] = format_for(entry.weights, base.checkpoint_format)
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


def _code_of(name: str, entry: ModelEntry) -> dict[str, str]:
    """``{key: value}`` of the code an entry names: its ``module``, a foreign ``arch``."""
    code: dict[str, str] = {}
    if entry.module:
        code[f"models.{name}.module"] = entry.module
    if entry.arch and arch_names_code(entry.arch):
        code[f"models.{name}.arch"] = entry.arch
    return code


def code_entries(config: RunConfig) -> dict[str, dict[str, str]]:
    """``{name: {key: value}}`` for every ``[models.NAME]`` entry that names code."""
    coded = {name: _code_of(name, entry) for name, entry in config.models.items()}
    return {name: code for name, code in coded.items() if code}


def refuse_untrusted(config: RunConfig, names: list[str], trusted: bool = False) -> None:
    """Refuse, before anything runs, models of ``names`` whose entries name code.

    Raises
    ------
    ConfigError
        The first such model, with what to do (unless ``trusted``).
    """
    for name in names:
        entry = config.models.get(name)
        if entry is not None:
            for key, value in _code_of(name, entry).items():
                require_trusted(key, value, trusted)


def _module_digest(source: str) -> str | None:
    """The SHA-256 of a model module's file, read without running it (``None``: no file)."""
    path = Path(source).expanduser()
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    except OSError:
        return None


def _same_file_name(a: str | None, b: str | None) -> bool:
    if not a or not b or weights_kind(b) not in {"url", "path"}:
        return False

    def name(source: str) -> str:
        return Path(urllib.parse.urlparse(source).path if is_url(source)
                    else source).name

    return name(a) == name(b)


def resolve_model(name: str, config: RunConfig | None = None, *,
                  trusted: bool = True) -> ModelSpec:
    """The :class:`ModelSpec` a name stands for.

    Parameters
    ----------
    name : str
        A registered name, ``timm:NAME``, ``torchvision:NAME[:WEIGHTS]``, or a name
        declared in ``config.models``.
    config : RunConfig, optional
        The run configuration; its ``[models.NAME]`` entry, if any, takes precedence
        and may override single fields of a registered spec.
    trusted : bool
        Whether the Python code the name's own ``[models.NAME]`` entry names
        (``module``) may be imported: the configuration came from the user. Only
        that entry's module is ever imported, never those of other models.

    Returns
    -------
    ModelSpec
        The model.

    Raises
    ------
    UnknownNameError
        Nothing by that name; the message lists the closest names.
    ConfigError
        The entry names Python code and ``trusted`` is false.
    """
    spec: ModelSpec | None
    if config is not None and name in config.models:
        spec = _from_entry(name, config.models[name], trusted)
    else:
        spec = registered(name) or _open_form(name)
    if spec is None:
        candidates = list_models() + (list(config.models) if config is not None else [])
        raise _unknown(name, candidates)
    if not spec.label_space:
        raise UnknownNameError(
            f"model {name!r}: its outputs are not ImageNet-1k's 1000 classes; declare "
            f"[models.{name}] label_space = NAME or a label file")
    return spec


def model_fingerprints(config: RunConfig, names: list[str]) -> dict[str, Any]:
    """Each model's configuration entry and spec fingerprint, for a stage's parameters.

    A retrained or replaced checkpoint at the same path changes the fingerprint, so
    results made with the old one are out of date. A model whose entry names a Python
    module is fingerprinted by the module file's digest: nothing is imported here.

    Parameters
    ----------
    config : RunConfig
        The run configuration.
    names : list of str
        The models a stage runs.

    Returns
    -------
    dict
        ``{name: {"entry": the [models.NAME] table or None, "spec": fingerprint}}``;
        a model that does not resolve is recorded with the reason (the stage itself
        reports it).
    """
    entries: dict[str, Any] = {}
    for name in names:
        entry = config.models.get(name)
        try:
            spec: Any = {"module": entry.module, "sha256": _module_digest(entry.module)} \
                if entry is not None and entry.module else \
                resolve_model(name, config, trusted=True).fingerprint()
        except Exception as error:  # reported by the stage, with its context
            spec = {"unresolved": f"{type(error).__name__}: {error}"}
        entries[name] = {"entry": entry.model_dump(mode="json") if entry is not None else None,
                         "spec": spec}
    return entries


__all__ = ["code_entries", "load_config_modules", "model_fingerprints",
           "refuse_untrusted", "resolve_model", "untrusted_message"]
