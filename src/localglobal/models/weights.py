"""Model weights: where a checkpoint comes from, and loading it safely.

A weights file named by a URL or a path is fetched by :mod:`localglobal.io.download`
into the cache folder's ``weights/`` (``$LOCALGLOBAL_CACHE/weights``, else e.g.
``~/.cache/localglobal/weights``) and verified against the configured SHA-256 (a full
digest, or the torch hub convention of a leading prefix carried in the file name,
``resnet50_train_60_epochs-c8e5653e.pth.tar``). torchvision's and timm's own weights
live in torch hub's cache (:func:`hub_dir`); :func:`hub_unavailable` says where to put
them by hand.

Checkpoints are read with ``torch.load(weights_only=True)``, so a file can hold
tensors and plain containers but never code. Training checkpoints are unwrapped:
a ``state_dict`` or ``model`` entry is taken, and ``torch.nn.DataParallel``
prefixes (``module.``, ``features.module.``) are removed.

>>> path = fetch_weights("https://example.org/model-0123abcd.pth",  # doctest: +SKIP
...                      sha256="0123abcd")
>>> state = load_checkpoint(path)                                  # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import sys
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from localglobal.errors import DownloadUnavailableError, ModelLoadError
from localglobal.io import download as _download

FOLDER = "weights"
"""The cache folder's sub-folder for downloaded weights."""

_HINT = ("(the cache folder is set by LOCALGLOBAL_CACHE), or point the model's "
         "`weights` at a local copy in the configuration.")
_HUB_HINT = ("(torch hub's cache, set by TORCH_HOME), or point the model's `weights` at "
             "a local copy in the configuration.")


def fetch_weights(source: str, sha256: str | None = None, *, progress: bool = True) -> Path:
    """The local path of a weights file, downloading it into the cache if needed.

    :func:`localglobal.io.download.fetch` into the cache's ``weights/``, with the
    weights' advice.

    Parameters
    ----------
    source : str
        A URL (downloaded once into the cache), or a local path, used where it is.
    sha256 : str, optional
        Expected checksum (full digest or prefix), checked on download and before use.
    progress : bool
        Show a progress bar while downloading.

    Returns
    -------
    Path
        The file.

    Raises
    ------
    MissingInputError
        A local path that does not exist.
    DownloadUnavailableError
        A URL not cached, and no network (the message names the URL and the exact
        path to put the file at).
    ChecksumError
        The download or the file does not match ``sha256``.
    """
    return _download.fetch(source, sha256, folder=FOLDER, what="weights file", hint=_HINT,
                           progress=progress)


def weights_fingerprint(source: str | None) -> dict[str, Any]:
    """What identifies a weights file's content for caching results made with it
    (its size and modification time: a file replaced at the same path invalidates them)."""
    return _download.file_fingerprint(source, FOLDER)


def hub_dir() -> Path:
    """torch hub's folder (``$TORCH_HOME/hub``, else ``$XDG_CACHE_HOME/torch/hub``, else
    ``~/.cache/torch/hub``), found without importing torch when it is not loaded yet."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "hub"):
        return Path(torch.hub.get_dir())  # honours torch.hub.set_dir
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))
    return Path(os.path.expanduser(home)) / "hub"


def hub_checkpoint_path(url: str) -> Path:
    """Where torch hub (used by torchvision and timm) caches the file at ``url``."""
    name = Path(urllib.parse.urlparse(url).path).name
    return hub_dir() / "checkpoints" / name


def hub_unavailable(url: str, reason: BaseException | str) -> DownloadUnavailableError:
    """The error for torch-hub-managed weights (torchvision, timm) that cannot be had."""
    return _download.unavailable(url, hub_checkpoint_path(url), reason, _HUB_HINT)


# --------------------------------------------------------------------------- checkpoints


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint file into a plain state dict (tensors on the CPU).

    Accepted layouts: a bare state dict; a dict holding it under ``state_dict``
    or ``model`` (training checkpoints, with optimiser state and epoch beside it);
    keys prefixed by ``torch.nn.DataParallel`` (``module.``, or ``features.module.``
    where only the ``features`` part was wrapped, as in the Stylized-ImageNet VGG-16
    and AlexNet). The file is read with ``weights_only=True``.

    Raises
    ------
    ModelLoadError
        The file is not a tensor checkpoint (naming the file).
    """
    import pickle

    import torch

    path = Path(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise ModelLoadError(_unloadable_message(path, str(error))) from None
    state = unwrap_state_dict(loaded)
    if not state:
        raise ModelLoadError(f"{path}: the checkpoint holds no tensors")
    bad = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise ModelLoadError(f"{path}: entries that are not tensors: {', '.join(bad[:5])}")
    return state


def _unloadable_message(path: Path, error: str) -> str:
    """One line for a file ``torch.load(weights_only=True)`` refused.

    Torch's own text runs to a dozen lines and suggests ``weights_only=False``, which
    would run whatever code the file names; a pickled class (a whole model saved with
    ``torch.save(model)``) gets the fix that keeps loading safe instead.
    """
    pickled = re.search(r"Unsupported global: GLOBAL ([\w.]+)", error)
    if pickled:
        return (f"{path}: holds a pickled {pickled.group(1)} (a whole model saved with "
                "torch.save(model)?), not a state dict, and pickled code is not loaded "
                "(weights_only=True): "
                "save model.state_dict() instead (torch.save(model.state_dict(), PATH))")
    first = re.sub(r"\x1b\[[0-9;]*m", "", error).strip().splitlines()
    return (f"{path}: not a loadable tensor checkpoint (read with weights_only=True): "
            f"{first[0] if first else 'unreadable'}")


def unwrap_state_dict(loaded: Any) -> dict[str, Any]:
    """Find the state dict in a loaded checkpoint and strip ``DataParallel`` prefixes."""
    state = loaded
    for _ in range(3):
        if isinstance(state, Mapping) and not _is_tensor_dict(state):
            for key in ("state_dict", "model", "model_state_dict", "net"):
                if isinstance(state.get(key), Mapping):
                    state = state[key]
                    break
            else:
                break
    if not isinstance(state, Mapping):
        raise ModelLoadError(f"checkpoint is a {type(loaded).__name__}, not a state dict")
    state = {str(key): value for key, value in state.items()}
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module."):]: value for key, value in state.items()}
    return {key.replace("features.module.", "features."): value for key, value in state.items()}


def _is_tensor_dict(mapping: Mapping) -> bool:
    import torch

    return bool(mapping) and all(isinstance(v, torch.Tensor) for v in mapping.values())


def _listing(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_state_dict_strict(model: Any, state: Mapping[str, Any], source: str) -> None:
    """Load ``state`` into ``model``, requiring every key and shape to fit.

    Raises
    ------
    ModelLoadError
        Naming the missing keys, the unexpected keys and the keys whose shapes
        differ, with ``source`` (the file or URL).
    """
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    shapes = [
        f"{key} {tuple(state[key].shape)} vs {tuple(expected[key].shape)}"
        for key in expected
        if key in state and tuple(state[key].shape) != tuple(expected[key].shape)
    ]
    if missing or unexpected or shapes:
        parts = [f"{source}: the checkpoint does not fit {type(model).__name__}"]
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_listing(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches (checkpoint vs model): {_listing(shapes)}")
        raise ModelLoadError("\n  ".join(parts))
    model.load_state_dict(state, strict=True)
