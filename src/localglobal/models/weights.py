"""Model weights: download into a cache, verify, and load checkpoints safely.

Weights named by URL are downloaded once into the cache folder
(``$LOCALGLOBAL_CACHE/weights``, else the platform's user cache folder, e.g.
``~/.cache/localglobal/weights``), through a temporary file that is renamed into
place only after its SHA-256 checks out, so the cache never holds a partial or
corrupt file. A cached file is used without touching the network, after its
checksum is verified against the configured one; a file's SHA-256 is remembered by
its size and modification time (``weights-sha256.json`` in the cache folder), so the
check costs one hash per new or changed file, not one per use. Setting
``LOCALGLOBAL_OFFLINE=1`` forbids downloads altogether.

Checksums follow two conventions: a full 64-digit SHA-256, or the torch hub
convention of a leading prefix (``resnet50_train_60_epochs-c8e5653e.pth.tar``
carries the first 8 hex digits of its SHA-256 in its name).

Checkpoints are read with ``torch.load(weights_only=True)``, so a file can hold
tensors and plain containers but never code. Training checkpoints are unwrapped:
a ``state_dict`` or ``model`` entry is taken, and ``torch.nn.DataParallel``
prefixes (``module.``, ``features.module.``) are removed.

>>> path = fetch_weights("https://example.org/model-0123abcd.pth",  # doctest: +SKIP
...                      sha256="0123abcd")
>>> state = load_checkpoint(path)                                  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import sys
import urllib.error
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from localglobal.errors import LocalglobalError
from localglobal.io import download as _download
from localglobal.io.atomic import read_json, write_json
from localglobal.io.download import (  # re-exported: the generic pieces live in io.download
    CHUNK_BYTES,
    cache_dir,
    normalise_sha256,
    offline,
    sha256_file,
    sha256_matches,
)

__all__ = [
    "CHUNK_BYTES",
    "CheckpointMismatchError",
    "ChecksumError",
    "WeightsError",
    "WeightsNotFoundError",
    "WeightsUnavailableError",
    "cache_dir",
    "cached_path",
    "download",
    "fetch_weights",
    "hub_checkpoint_path",
    "hub_dir",
    "hub_hash_prefix",
    "hub_unavailable",
    "is_cached",
    "is_network_error",
    "is_url",
    "known_sha256",
    "load_checkpoint",
    "load_state_dict_strict",
    "normalise_sha256",
    "offline",
    "sha256_file",
    "sha256_matches",
    "unwrap_state_dict",
    "verify_cached",
    "verify_file",
    "weights_fingerprint",
]

# torch hub file names end in "-<sha256 prefix>.<ext>"
_HUB_HASH = re.compile(r"-([0-9a-f]{8,64})\.")


HASHES_FILE = "weights-sha256.json"
"""The cache folder's record of weights files' SHA-256 by path, size and mtime."""


class WeightsError(LocalglobalError, RuntimeError):
    """Weights could not be provided; the message says what to do."""


class WeightsNotFoundError(LocalglobalError, FileNotFoundError):
    """A weights file named by a path does not exist."""


class WeightsUnavailableError(WeightsError, _download.DownloadUnavailableError):
    """Weights are not cached and cannot be downloaded (offline, or the server refused)."""


class ChecksumError(WeightsError, _download.ChecksumError):
    """A file's SHA-256 does not match the expected value."""


class CheckpointMismatchError(WeightsError):
    """A checkpoint's keys or shapes do not fit the architecture."""


# --------------------------------------------------------------------------- cache


def is_url(source: str) -> bool:
    """Whether a weights source is a URL (``scheme://…``) rather than a local path."""
    return "://" in source


def cached_path(url: str) -> Path:
    """Where the file downloaded from ``url`` lives in the cache.

    The file keeps its name; a name without a hash part (``-0123abcd.``) is prefixed
    with a digest of the URL so two URLs ending in ``model.pth`` cannot collide.
    """
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name or "weights"
    if not _HUB_HASH.search(name):
        name = f"{hashlib.sha256(url.encode()).hexdigest()[:8]}-{name}"
    return cache_dir() / "weights" / name


def hub_hash_prefix(filename: str) -> str | None:
    """The SHA-256 prefix a torch-hub-style file name carries, if any."""
    match = _HUB_HASH.search(filename)
    return match.group(1) if match else None


# --------------------------------------------------------------------------- checksums


def verify_file(path: str | os.PathLike[str], expected: str | None) -> str:
    """Check a file's SHA-256 against ``expected``; return the full digest.

    Raises
    ------
    ChecksumError
        Naming the file, the expected and the actual value.
    """
    try:
        return _download.verify_file(path, expected)
    except _download.ChecksumError as error:
        raise ChecksumError(str(error)) from None


def _hashes_path() -> Path:
    return cache_dir() / HASHES_FILE


def known_sha256(path: str | os.PathLike[str]) -> str:
    """A file's full SHA-256, hashed only when the file is new or changed.

    Digests are remembered in :data:`HASHES_FILE` in the cache folder under the
    file's absolute path, with its size and modification time; a file whose size or
    mtime changed is hashed again. The record is a convenience: when it cannot be
    read it is rebuilt, when it cannot be written the digest is still returned.

    Parameters
    ----------
    path : path-like
        An existing file.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    target = Path(path).expanduser().resolve()
    stat = target.stat()
    record = _hashes_path()
    try:
        known = read_json(record) if record.is_file() else {}
    except (LocalglobalError, OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    entry = known.get(str(target))
    if isinstance(entry, dict) and entry.get("size") == stat.st_size \
            and entry.get("mtime_ns") == stat.st_mtime_ns and entry.get("sha256"):
        return str(entry["sha256"])
    digest = sha256_file(target)
    known[str(target)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    # best effort: a read-only cache only costs the next use one more hash
    with contextlib.suppress(OSError, LocalglobalError):
        write_json(record, known)
    return digest


def verify_cached(path: str | os.PathLike[str], expected: str | None) -> Path:
    """Check a file on disk against ``expected`` before it is used.

    Parameters
    ----------
    path : path-like
        A cached download or a local checkpoint.
    expected : str or None
        A full SHA-256 or a leading prefix; ``None`` checks nothing.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ChecksumError
        The file's digest does not match (naming the file, both values and the fix).
    """
    target = Path(path)
    if normalise_sha256(expected) is None:
        return target
    actual = known_sha256(target)
    if not sha256_matches(actual, expected):
        kind = "full hash" if len(normalise_sha256(expected) or "") == 64 else "prefix"
        raise ChecksumError(
            f"{target}: SHA-256 is {actual}, expected {kind} {normalise_sha256(expected)}; "
            "the file is damaged or not the one configured: delete a cached download to "
            "fetch it again, or correct the model's sha256")
    return target


# --------------------------------------------------------------------------- download


_WEIGHTS_HINT = ("(the cache folder is set by LOCALGLOBAL_CACHE), or point the model's "
                 "`weights` at a local copy in the configuration.")


def download(url: str, destination: str | os.PathLike[str], sha256: str | None = None,
             *, timeout: float = 30.0, progress: bool = True) -> Path:
    """Download ``url`` to ``destination``, verifying its SHA-256 before it appears there.

    :func:`localglobal.io.download.download`, with the weights' errors and advice.

    Raises
    ------
    ChecksumError
        The downloaded file does not match; it has been deleted.
    WeightsUnavailableError
        Offline, or the server could not be reached.
    """
    try:
        return _download.download(url, destination, sha256, timeout=timeout,
                                  progress=progress, hint=_WEIGHTS_HINT)
    except _download.ChecksumError as error:
        raise ChecksumError(str(error)) from error.__cause__
    except _download.DownloadUnavailableError as error:
        raise WeightsUnavailableError(str(error), error.url, error.path,
                                      error.reason) from error.__cause__


def _reason(error: BaseException) -> str:
    return _download.network_reason(error)


def _unavailable_message(url: str, path: Path, reason: str) -> str:
    return _download.unavailable_message(url, path, reason, _WEIGHTS_HINT)


def fetch_weights(source: str, sha256: str | None = None, *, progress: bool = True) -> Path:
    """The local path of a weights file, downloading it into the cache if needed.

    Parameters
    ----------
    source : str
        A URL (downloaded once into :func:`cache_dir`), or a local path, used where
        it is (``~`` is expanded).
    sha256 : str, optional
        Expected checksum (full digest or prefix). A download is checked as it
        arrives; a file already in the cache, and a local path, are checked before
        use when a checksum is given (:func:`verify_cached`).
    progress : bool
        Show a progress bar while downloading.

    Returns
    -------
    Path
        The file.

    Raises
    ------
    WeightsNotFoundError
        A local path that does not exist.
    WeightsUnavailableError
        A URL not cached, and no network (the message names the URL and the exact
        path to put the file at).
    ChecksumError
        The download or the file does not match ``sha256``.
    """
    if is_url(source):
        path = cached_path(source)
        if path.is_file():
            return verify_cached(path, sha256)
        return download(source, path, sha256, progress=progress)
    path = Path(source).expanduser()
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file {path} does not exist")
    return verify_cached(path, sha256)


def is_cached(source: str) -> bool:
    """Whether a URL's file is in the cache, or a local path exists."""
    if is_url(source):
        return cached_path(source).is_file()
    return Path(source).expanduser().is_file()


def weights_fingerprint(source: str | None) -> dict[str, Any] | None:
    """What identifies a weights file's content for caching results made with it.

    For a local file (or a cached download) its size and modification time, so
    that replacing the file at the same path invalidates results made with it.
    """
    if not source:
        return {"source": source}
    path = cached_path(source) if is_url(source) else Path(source).expanduser()
    if not path.is_file():
        return {"source": source}
    stat = path.stat()
    return {"source": source, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


# --------------------------------------------------------------------------- network errors


_NETWORK_ERROR_NAMES = {
    "LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectError", "ConnectTimeout",
    "ReadTimeout", "ConnectionError", "NameResolutionError", "MaxRetryError",
}


def is_network_error(error: BaseException) -> bool:
    """Whether an exception (or one it was raised from) means "could not reach the server"."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (urllib.error.URLError, ConnectionError, TimeoutError,
                                socket.gaierror, socket.timeout)):
            return True
        if type(current).__name__ in _NETWORK_ERROR_NAMES:
            return True
        current = current.__cause__ or current.__context__
    return False


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


def hub_unavailable(url: str, reason: BaseException | str) -> WeightsUnavailableError:
    """The error for torch-hub-managed weights (torchvision, timm) that cannot be had."""
    reason = reason if isinstance(reason, str) else _reason(reason)
    return WeightsUnavailableError(
        _unavailable_message(url, hub_checkpoint_path(url), reason).replace(
            "(the cache folder is set by LOCALGLOBAL_CACHE)", "(torch hub's cache, set by "
            "TORCH_HOME)"
        )
    )


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
    WeightsError
        The file is not a tensor checkpoint (naming the file).
    """
    import pickle

    import torch

    path = Path(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise WeightsError(_unloadable_message(path, str(error))) from None
    state = unwrap_state_dict(loaded)
    if not state:
        raise WeightsError(f"{path}: the checkpoint holds no tensors")
    bad = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise WeightsError(f"{path}: entries that are not tensors: {', '.join(bad[:5])}")
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
        raise WeightsError(f"checkpoint is a {type(loaded).__name__}, not a state dict")
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
    CheckpointMismatchError
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
        raise CheckpointMismatchError("\n  ".join(parts))
    model.load_state_dict(state, strict=True)
