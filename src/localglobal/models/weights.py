"""Model weights: download into a cache, verify, and load checkpoints safely.

Weights named by URL are downloaded once into the cache folder
(``$LOCALGLOBAL_CACHE/weights``, else the platform's user cache folder, e.g.
``~/.cache/localglobal/weights``), through a temporary file that is renamed into
place only after its SHA-256 checks out, so the cache never holds a partial or
corrupt file. A cached file is used without touching the network. Setting
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

import hashlib
import os
import re
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CHUNK_BYTES = 1 << 20
_HEX = re.compile(r"^[0-9a-fA-F]+$")
# torch hub file names end in "-<sha256 prefix>.<ext>"
_HUB_HASH = re.compile(r"-([0-9a-f]{8,64})\.")


class WeightsError(RuntimeError):
    """Weights could not be provided; the message says what to do."""


class WeightsUnavailableError(WeightsError):
    """Weights are not cached and cannot be downloaded (offline, or the server refused)."""


class ChecksumError(WeightsError):
    """A file's SHA-256 does not match the expected value."""


class CheckpointMismatchError(WeightsError):
    """A checkpoint's keys or shapes do not fit the architecture."""


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """The localglobal cache folder: ``$LOCALGLOBAL_CACHE``, else the user cache folder."""
    configured = os.environ.get("LOCALGLOBAL_CACHE")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("localglobal"))


def offline() -> bool:
    """Whether downloads are forbidden (``LOCALGLOBAL_OFFLINE=1``)."""
    return os.environ.get("LOCALGLOBAL_OFFLINE", "").lower() in {"1", "true", "yes"}


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


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def normalise_sha256(expected: str | None) -> str | None:
    """Lower-case an expected checksum; ``None``/empty means "not checked".

    Raises ``ValueError`` for something that is not hex or is longer than 64 digits.
    """
    if not expected:
        return None
    expected = expected.strip().lower()
    if not _HEX.match(expected) or len(expected) > 64:
        raise ValueError(f"sha256 {expected!r}: expected up to 64 hex digits")
    return expected


def sha256_matches(actual: str, expected: str | None) -> bool:
    """Whether a full hex digest matches ``expected`` (a full digest or a leading prefix)."""
    expected = normalise_sha256(expected)
    return expected is None or actual.lower().startswith(expected)


def verify_file(path: str | os.PathLike[str], expected: str | None) -> str:
    """Check a file's SHA-256 against ``expected``; return the full digest.

    Raises:
        ChecksumError: naming the file, the expected and the actual value.
    """
    actual = sha256_file(path)
    if not sha256_matches(actual, expected):
        kind = "full hash" if len(expected or "") == 64 else "prefix"
        raise ChecksumError(
            f"{path}: SHA-256 is {actual}, expected {kind} {normalise_sha256(expected)}"
        )
    return actual


# --------------------------------------------------------------------------- download


def _progress_bar(enabled: bool):
    """A transient byte-count progress bar on stderr."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from localglobal.run import console

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not enabled or os.environ.get("LOCALGLOBAL_NO_PROGRESS") == "1",
    )


def download(url: str, destination: str | os.PathLike[str], sha256: str | None = None,
             *, timeout: float = 30.0, progress: bool = True) -> Path:
    """Download ``url`` to ``destination``, verifying its SHA-256 before it appears there.

    The bytes go to a temporary file in the destination folder, hashed as they
    arrive; only a file whose checksum matches is renamed to ``destination``.

    Args:
        url: ``http(s)://`` or ``file://`` address.
        destination: final path of the file.
        sha256: full hex digest or leading prefix; ``None`` skips the check.
        timeout: seconds to wait for the server to answer or send more data.
        progress: show a progress bar (bytes, speed, time left).

    Raises:
        ChecksumError: the downloaded file does not match; it has been deleted.
        WeightsUnavailableError: offline, or the server could not be reached.
    """
    destination = Path(destination)
    expected = normalise_sha256(sha256)
    if offline():
        raise WeightsUnavailableError(_unavailable_message(url, destination, "offline mode "
                                                           "(LOCALGLOBAL_OFFLINE=1)"))
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part",
                                    dir=destination.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "localglobal"})
                response = urllib.request.urlopen(request, timeout=timeout)
            except (urllib.error.URLError, OSError) as error:
                raise WeightsUnavailableError(
                    _unavailable_message(url, destination, _reason(error))
                ) from error
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                with _progress_bar(progress) as bar:
                    task = bar.add_task(f"downloading {destination.name}", total=total)
                    try:
                        while chunk := response.read(CHUNK_BYTES):
                            out.write(chunk)
                            digest.update(chunk)
                            bar.advance(task, len(chunk))
                    except (urllib.error.URLError, OSError) as error:
                        raise WeightsUnavailableError(_unavailable_message(
                            url, destination, f"the download broke off: {_reason(error)}"
                        )) from error
                if total is not None and tmp.stat().st_size != total:
                    raise WeightsUnavailableError(_unavailable_message(
                        url, destination,
                        f"the download ended after {tmp.stat().st_size} of {total} bytes"))
        actual = digest.hexdigest()
        if not sha256_matches(actual, expected):
            raise ChecksumError(
                f"{url}: the downloaded file's SHA-256 is {actual}, expected "
                f"{'full hash' if len(expected or '') == 64 else 'prefix'} {expected}; "
                f"the download was deleted and {destination} was not written"
            )
        os.replace(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)
    return destination


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return f"{type(error).__name__}: {error}"


def _unavailable_message(url: str, path: Path, reason: str) -> str:
    return (
        f"cannot download {url} ({reason}).\n"
        f"Download it on a machine with network access and put the file at:\n  {path}\n"
        f"(the cache folder is set by LOCALGLOBAL_CACHE), or point the model's "
        f"`weights` at a local copy in the configuration."
    )


def fetch_weights(source: str, sha256: str | None = None, *, progress: bool = True) -> Path:
    """The local path of a weights file, downloading it into the cache if needed.

    Args:
        source: a URL (downloaded once into :func:`cache_dir`), or a local path,
            used where it is (``~`` is expanded).
        sha256: expected checksum (full digest or prefix). A download is always
            checked; a local path is checked when a checksum is given; a file already
            in the cache was checked when it was downloaded and is used as is.
        progress: show a progress bar while downloading.

    Raises:
        FileNotFoundError: a local path that does not exist.
        WeightsUnavailableError: a URL not cached, and no network (the message names
            the URL and the exact path to put the file at).
        ChecksumError: the download or the local file does not match ``sha256``.
    """
    if is_url(source):
        path = cached_path(source)
        if path.is_file():
            return path
        return download(source, path, sha256, progress=progress)
    path = Path(source).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist")
    if sha256:
        verify_file(path, sha256)
    return path


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


def hub_checkpoint_path(url: str) -> Path:
    """Where torch hub (used by torchvision and timm) caches the file at ``url``."""
    import torch.hub

    name = Path(urllib.parse.urlparse(url).path).name
    return Path(torch.hub.get_dir()) / "checkpoints" / name


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

    Raises:
        WeightsError: the file is not a tensor checkpoint (naming the file).
    """
    import pickle

    import torch

    path = Path(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise WeightsError(
            f"{path}: not a loadable tensor checkpoint (read with weights_only=True, which "
            f"refuses pickled code): {error}"
        ) from None
    state = unwrap_state_dict(loaded)
    if not state:
        raise WeightsError(f"{path}: the checkpoint holds no tensors")
    bad = [key for key, value in state.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise WeightsError(f"{path}: entries that are not tensors: {', '.join(bad[:5])}")
    return state


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

    Raises:
        CheckpointMismatchError: naming the missing keys, the unexpected keys and
            the keys whose shapes differ, with ``source`` (the file or URL).
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
