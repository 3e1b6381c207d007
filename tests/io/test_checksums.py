"""Checksums: full digests or prefixes, digests remembered until a file changes, and
digests recorded at a first download that every later copy must match."""

from __future__ import annotations

import hashlib
import json

import pytest

from localglobal.errors import ChecksumError
from localglobal.io import checksums
from localglobal.io.checksums import (
    DigestRecord,
    describe_expected,
    hashed_name_prefix,
    known_sha256,
    normalise_sha256,
    verify_file,
)


def test_expected_values_are_full_digests_or_prefixes():
    digest = hashlib.sha256(b"x").hexdigest()
    assert normalise_sha256(f" {digest.upper()} ") == digest
    assert normalise_sha256("") is None and normalise_sha256(None) is None
    assert describe_expected(digest) == f"full hash {digest}"
    assert describe_expected("C8E5653E") == "prefix c8e5653e"
    with pytest.raises(ValueError, match="hex"):
        normalise_sha256("not-hex")
    assert hashed_name_prefix("resnet50_train_60_epochs-c8e5653e.pth.tar") == "c8e5653e"
    assert hashed_name_prefix("model.pth") is None


def test_a_file_is_hashed_once_until_it_changes(tmp_path, monkeypatch):
    path = tmp_path / "w.pth"
    path.write_bytes(b"tensors")
    memo = tmp_path / "cache" / "known.json"
    calls = []
    original = checksums.sha256_file
    monkeypatch.setattr(checksums, "sha256_file", lambda p: calls.append(p) or original(p))
    expected = hashlib.sha256(b"tensors").hexdigest()
    assert known_sha256(path, memo) == expected and known_sha256(path, memo) == expected
    assert verify_file(path, expected[:8], memo=memo) == expected
    assert len(calls) == 1  # remembered by size and mtime
    path.write_bytes(b"other tensors")
    assert known_sha256(path, memo) == hashlib.sha256(b"other tensors").hexdigest()
    assert len(calls) == 2
    memo.write_text("not json")  # a damaged memo is rebuilt, not an error
    assert known_sha256(path, memo) == hashlib.sha256(b"other tensors").hexdigest()
    with pytest.raises(ChecksumError, match="correct it") as error:
        verify_file(path, "ffffffff", memo=memo, advice="correct it")
    assert str(path) in str(error.value) and "prefix ffffffff" in str(error.value)


def test_a_digest_recorded_at_first_download_is_checked_ever_after(tmp_path):
    record = DigestRecord(tmp_path / "archives-sha256.json")
    archive = tmp_path / "contrast.tar.gz"
    archive.write_bytes(b"first bytes")
    first = hashlib.sha256(b"first bytes").hexdigest()
    assert record.sha256("contrast") is None
    assert record.check("contrast", archive, first) is False  # nothing recorded yet
    record.add("contrast", archive, first, "https://example.org/contrast.tar.gz")
    entry = json.loads(record.path.read_text())["contrast"]
    assert entry["sha256"] == first and entry["bytes"] == len(b"first bytes")
    assert record.check("contrast", archive, first) is True
    with pytest.raises(ChecksumError, match="first downloaded") as error:
        record.check("contrast", archive, "0" * 64)
    assert first in str(error.value) and str(archive) in str(error.value)
    record.path.write_text("{ torn")
    with pytest.raises(ChecksumError, match="delete it"):
        record.sha256("contrast")
