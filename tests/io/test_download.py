"""Downloads: verified before they appear, reported with the URL and the path when impossible."""

from __future__ import annotations

import hashlib
import re

import pytest

from localglobal.errors import ChecksumError, DownloadUnavailableError, MissingInputError
from localglobal.io.checksums import sha256_matches, verify_file
from localglobal.io.download import (
    OFFLINE_REASON,
    cache_dir,
    cached_path,
    download,
    fetch,
    is_cached,
    unavailable,
    unavailable_all,
)
from tests.http_server import serve_folder


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path):
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


def test_cache_dir_follows_the_environment(tmp_path):
    assert cache_dir() == tmp_path / "cache"


def test_a_download_is_verified_and_renamed_into_place(server, tmp_path):
    folder, base = server
    data = bytes(range(256)) * 1000
    (folder / "blob.bin").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    target = tmp_path / "out" / "blob.bin"
    assert download(f"{base}/blob.bin", target, digest) == target
    assert target.read_bytes() == data
    assert verify_file(target, digest[:12]) == digest
    assert sha256_matches(digest, digest.upper()[:8]) and not sha256_matches(digest, "00")


def test_a_mismatch_deletes_the_download(server, tmp_path):
    folder, base = server
    (folder / "blob.bin").write_bytes(b"not what was promised")
    target = tmp_path / "out" / "blob.bin"
    with pytest.raises(ChecksumError, match="deleted"):
        download(f"{base}/blob.bin", target, "ab" * 32)
    assert not target.exists() and list(target.parent.iterdir()) == []
    (folder / "x").write_bytes(b"x")
    with pytest.raises(ChecksumError, match=re.escape(str(folder / "x"))):
        verify_file(folder / "x", "ab" * 32)


def test_offline_and_missing_files_name_the_url_the_path_and_the_hint(server, tmp_path,
                                                                      monkeypatch):
    _, base = server
    target = tmp_path / "out" / "absent.bin"
    with pytest.raises(DownloadUnavailableError, match="HTTP 404") as error:
        download(f"{base}/absent.bin", target, hint="ask the librarian")
    assert str(target) in str(error.value) and "ask the librarian" in str(error.value)
    assert error.value.url == f"{base}/absent.bin" and error.value.path == target
    monkeypatch.setenv("LOCALGLOBAL_OFFLINE", "1")
    with pytest.raises(DownloadUnavailableError, match="offline") as error:
        download("https://example.org/file.bin", target)
    assert "https://example.org/file.bin" in str(error.value)
    assert error.value.reason.startswith("offline")


def test_a_source_is_fetched_into_the_cache_once_and_verified_before_use(server, tmp_path,
                                                                         monkeypatch):
    folder, base = server
    (folder / "model.pth").write_bytes(b"tensors")
    digest = hashlib.sha256(b"tensors").hexdigest()
    url = f"{base}/model.pth"
    path = fetch(url, digest[:8], folder="weights")
    assert path == cached_path(url, "weights") and path.read_bytes() == b"tensors"
    assert is_cached(url, "weights") and path.parent == tmp_path / "cache" / "weights"
    monkeypatch.setenv("LOCALGLOBAL_OFFLINE", "1")  # from now on only the cache
    assert fetch(url, digest, folder="weights") == path
    path.write_bytes(b"damaged")
    with pytest.raises(ChecksumError, match="delete a cached download"):
        fetch(url, digest, folder="weights")
    with pytest.raises(MissingInputError, match=r"checkpoint .*nowhere\.pth does not exist"):
        fetch(str(tmp_path / "nowhere.pth"), folder="weights", what="checkpoint")


def test_cache_names_keep_hashes_and_never_collide():
    assert cached_path("https://a.org/x/resnet50-0676ba61.pth", "weights").name \
        == "resnet50-0676ba61.pth"
    a = cached_path("https://a.org/1/model.pth", "weights")
    b = cached_path("https://a.org/2/model.pth", "weights")
    assert a != b and a.name.endswith("model.pth")


def test_several_unavailable_files_are_one_error_naming_each(tmp_path):
    missing = [unavailable(f"https://example.org/{n}.tar.gz", tmp_path / f"{n}.tar.gz",
                           OFFLINE_REASON) for n in ("a", "b")]
    error = unavailable_all("the data", missing, "Put them there.")
    text = str(error)
    assert text.startswith("cannot download the data:") and text.endswith("Put them there.")
    for item in missing:
        assert f"{item.url}\n    -> {item.path}   (offline mode" in text
    assert (error.url, error.path) == (missing[0].url, missing[0].path)
