"""Every models test gets its own cache folder and no progress bars."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _cache(monkeypatch, tmp_path):
    monkeypatch.setenv("LOCALGLOBAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
