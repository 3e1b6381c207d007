"""Where the tests find the shared real data: ``$LOCALGLOBAL_SHARED`` or ``<repo>/../shared``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]


def shared_root() -> Path:
    """The shared folder: ``$LOCALGLOBAL_SHARED`` when set, else the repository's sibling
    ``shared``."""
    configured = os.environ.get("LOCALGLOBAL_SHARED")
    return Path(configured) if configured else REPOSITORY.parent / "shared"


def geirhos_sample() -> Path:
    """The shared sample of the Geirhos stimuli and human data (it may be absent)."""
    return shared_root() / "data" / "geirhos-sample"


def require_geirhos_sample(part: str = "") -> Path:
    """The shared Geirhos sample (or its ``part``); the test is skipped, saying where it
    looked, when it is not there."""
    folder = geirhos_sample() / part if part else geirhos_sample()
    if not folder.is_dir():
        pytest.skip(f"the shared Geirhos sample is not here ({folder}); set LOCALGLOBAL_SHARED")
    return geirhos_sample()


def model_vs_human_raw_data() -> Path:
    """Every human trial of model-vs-human's 17 experiments (it may be absent)."""
    return shared_root() / "data" / "model-vs-human-raw-data"


def require_model_vs_human_raw_data() -> Path:
    """model-vs-human's raw data; the test is skipped, saying where it looked, when it is
    not there."""
    folder = model_vs_human_raw_data()
    if not folder.is_dir():
        pytest.skip(f"model-vs-human's raw data is not at {folder}")
    return folder
