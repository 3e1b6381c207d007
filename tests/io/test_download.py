"""Downloads: verified before they appear, reported with the URL and the path when impossible."""

from __future__ import annotations

import hashlib
import re

import pytest

from localglobal.io.download import (
    ChecksumError,
    DownloadUnavailableError,
    cache_dir,
    download,
    sha256_matches,
    verify_file,
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
