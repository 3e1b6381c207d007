"""Weights: fetched into the cache, verified, offline; checkpoints loaded safely."""

from __future__ import annotations

import hashlib
import re
import socket
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from localglobal.errors import (
    ChecksumError,
    DownloadUnavailableError,
    LocalglobalError,
    MissingInputError,
    ModelLoadError,
)
from localglobal.io import download
from localglobal.models.weights import (
    FOLDER,
    fetch_weights,
    hub_checkpoint_path,
    hub_dir,
    hub_unavailable,
    load_checkpoint,
    load_state_dict_strict,
)
from tests.http_server import serve_folder


@pytest.fixture(autouse=True)
def _cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALGLOBAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
    monkeypatch.delenv("LOCALGLOBAL_OFFLINE", raising=False)


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/served; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    with serve_folder(folder) as url:
        yield folder, url


def _serve_blob(folder, size: int = 300_000) -> tuple[str, bytes, str]:
    data = bytes(range(256)) * (size // 256)
    digest = hashlib.sha256(data).hexdigest()
    name = f"weights-{digest[:8]}.pth"
    (folder / name).write_bytes(data)
    return name, data, digest


def cached_path(url: str) -> Path:
    return download.cached_path(url, FOLDER)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_download_verifies_caches_and_then_works_offline(server, monkeypatch):
    folder, base = server
    name, data, digest = _serve_blob(folder)
    url = f"{base}/{name}"

    path = fetch_weights(url, sha256=digest[:8])  # hub-style prefix
    assert path == cached_path(url) and path.read_bytes() == data
    assert download.is_cached(url, FOLDER)
    (folder / name).unlink()  # the server no longer has it
    monkeypatch.setenv("LOCALGLOBAL_OFFLINE", "1")
    assert fetch_weights(url, sha256=digest) == path  # full digest, from the cache


def test_a_corrupt_download_is_deleted_and_reported(server):
    folder, base = server
    name, _, digest = _serve_blob(folder)
    url = f"{base}/{name}"
    wrong = ("0" if digest[0] != "0" else "1") + digest[1:8]
    with pytest.raises(ChecksumError, match="deleted") as error:
        fetch_weights(url, sha256=wrong)
    assert digest in str(error.value) and wrong in str(error.value)
    assert not cached_path(url).exists()
    assert list(cached_path(url).parent.iterdir()) == []  # no partial file either


def test_offline_without_the_file_names_the_url_and_the_path(monkeypatch):
    monkeypatch.setenv("LOCALGLOBAL_OFFLINE", "1")
    url = "https://example.org/models/resnet-0123abcd.pth"
    with pytest.raises(DownloadUnavailableError) as error:
        fetch_weights(url, sha256="0123abcd")
    assert url in str(error.value) and str(cached_path(url)) in str(error.value)


def test_an_unreachable_server_names_the_url_and_the_path():
    url = f"http://127.0.0.1:{_closed_port()}/model-0123abcd.pth"
    with pytest.raises(DownloadUnavailableError) as error:
        fetch_weights(url)
    assert url in str(error.value) and str(cached_path(url)) in str(error.value)


def test_missing_file_on_the_server_is_unavailable(server):
    _, base = server
    with pytest.raises(DownloadUnavailableError, match="HTTP 404"):
        fetch_weights(f"{base}/absent-0123abcd.pth")


def test_local_paths_are_used_where_they_are(tmp_path):
    path = tmp_path / "mine.pth"
    path.write_bytes(b"tensors")
    assert fetch_weights(str(path)) == path
    assert fetch_weights(str(path), sha256=hashlib.sha256(b"tensors").hexdigest()[:10]) == path
    with pytest.raises(ChecksumError, match=re.escape(str(path))):
        fetch_weights(str(path), sha256="ffffffff")
    with pytest.raises(FileNotFoundError, match=r"nowhere\.pth") as error:
        fetch_weights(str(tmp_path / "nowhere.pth"))
    assert isinstance(error.value, MissingInputError | LocalglobalError)
    assert "weights file" in str(error.value)


def test_a_cached_download_is_verified_before_use(server, monkeypatch):
    folder, base = server
    name, data, digest = _serve_blob(folder)
    url = f"{base}/{name}"
    path = fetch_weights(url, sha256=digest[:8])
    path.write_bytes(data[:-1] + b"!")  # damaged in the cache since
    with pytest.raises(ChecksumError, match="delete a cached download") as error:
        fetch_weights(url, sha256=digest[:8])
    assert str(path) in str(error.value) and digest[:8] in str(error.value)
    assert fetch_weights(url) == path  # without a configured checksum nothing is checked


def test_hub_dir_follows_torch_home(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert hub_dir() == tmp_path / "th" / "hub" == Path(torch.hub.get_dir())


def test_library_weights_that_cannot_be_had_say_where_torch_hub_looks(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    url = "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    error = hub_unavailable(url, "offline mode (LOCALGLOBAL_OFFLINE=1)")
    assert isinstance(error, DownloadUnavailableError) and error.url == url
    assert error.path == hub_checkpoint_path(url) == tmp_path / "th" / "hub" / "checkpoints" \
        / "resnet50-0676ba61.pth"
    assert str(error.path) in str(error) and "TORCH_HOME" in str(error)


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.classifier = nn.Linear(4, 2)


def test_training_checkpoints_of_dataparallel_models_are_unwrapped(tmp_path):
    model = _Tiny()
    wrapped = nn.DataParallel(model)
    assert all(key.startswith("module.") for key in wrapped.state_dict())
    path = tmp_path / "sin.pth.tar"
    torch.save({"epoch": 60, "arch": "tiny", "state_dict": wrapped.state_dict(),
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}, path)
    state = load_checkpoint(path)
    assert set(state) == set(model.state_dict())
    fresh = _Tiny()
    load_state_dict_strict(fresh, state, str(path))
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value)


def test_features_only_dataparallel_keys_are_unwrapped(tmp_path):
    """The SIN VGG-16 and AlexNet wrap only ``features``: keys ``features.module.N.*``."""
    model = _Tiny()
    model.features = nn.DataParallel(model.features)
    keys = list(model.state_dict())
    assert any(k.startswith("features.module.0.") for k in keys)
    path = tmp_path / "vgg_sin.pth.tar"
    torch.save({"state_dict": model.state_dict()}, path)
    assert set(load_checkpoint(path)) == set(_Tiny().state_dict())


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": OrderedDict(w=torch.zeros(1)), "obj": _Tiny()}, path)
    with pytest.raises(ModelLoadError, match="weights_only"):
        load_checkpoint(path)


def test_a_whole_saved_model_is_one_line_naming_the_file_and_the_fix(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(_Tiny(), path)  # the model object itself, not its state_dict()
    with pytest.raises(ModelLoadError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "\n" not in message and "\x1b" not in message
    assert message.startswith(f"{path}: ")
    assert "_Tiny" in message and "save model.state_dict() instead" in message
    # Its state dict, saved as the message says, loads.
    torch.save(_Tiny().state_dict(), path)
    assert set(load_checkpoint(path)) == set(_Tiny().state_dict())


def test_a_file_that_is_no_checkpoint_is_one_line(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"\x80\x02garbage" * 10)
    with pytest.raises(ModelLoadError) as error:
        load_checkpoint(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_a_checkpoint_that_does_not_fit_names_missing_and_unexpected_keys(tmp_path):
    state = _Tiny().state_dict()
    state["extra.weight"] = torch.zeros(1)
    del state["classifier.bias"]
    state["classifier.weight"] = torch.zeros(3, 4)
    with pytest.raises(ModelLoadError) as error:
        load_state_dict_strict(_Tiny(), state, "ckpt.pth")
    message = str(error.value)
    assert "ckpt.pth" in message
    assert "missing keys (1): classifier.bias" in message
    assert "unexpected keys (1): extra.weight" in message
    assert "classifier.weight (3, 4) vs (2, 4)" in message
