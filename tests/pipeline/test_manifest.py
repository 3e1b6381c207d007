"""The manifest: read-modify-write, and a clear error for a file that is not one."""

from __future__ import annotations

from pathlib import Path

import pytest

from localglobal.errors import CorruptArtifactError
from localglobal.pipeline.manifest import Manifest


def test_updates_are_read_modify_write(tmp_path: Path):
    first, second = Manifest(tmp_path), Manifest(tmp_path)
    first.set_stage("a", status="done")
    second.set_stage("b", status="running")  # second was read before first saved
    assert set(Manifest(tmp_path).data["stages"]) == {"a", "b"}


@pytest.mark.parametrize("text, problem", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a localglobal manifest"),
    ('{"stages": {"a": 3}}', "not a localglobal manifest"),
])
def test_a_broken_manifest_is_named(tmp_path: Path, text: str, problem: str):
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(CorruptArtifactError, match=problem) as caught:
        Manifest(tmp_path)
    assert str(tmp_path / "manifest.json") in str(caught.value)
