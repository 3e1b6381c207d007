"""The ``localglobal models`` table: its rows, and that it answers without torch."""

from __future__ import annotations

import subprocess
import sys

from localglobal.config import config_from_dict
from localglobal.models.describe import COLUMNS, describe_models


def test_describe_models_rows():
    rows = describe_models(config_from_dict({}))
    assert list(rows[0]) == ["name", "architecture", "weights", "cached", "label space", "LRP"]
    assert tuple(rows[0]) == COLUMNS
    by_name = {row["name"]: row for row in rows}
    assert by_name["sin-resnet50"]["cached"] == "no"
    assert by_name["se-resnet50"]["LRP"] == "seresnet"
    assert by_name["sin-vgg16"]["weights"].startswith("(none")
    assert by_name["toy-shape"]["cached"] == "yes"


def test_a_model_that_does_not_resolve_is_a_row_not_an_error():
    config = config_from_dict({"models": {"odd": {"arch": "nonsense"}}})
    row = {r["name"]: r for r in describe_models(config)}["odd"]
    assert row["architecture"].startswith("error: unknown architecture")


def test_a_cached_library_file_is_seen(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "resnet50-0676ba61.pth").write_bytes(b"x")
    by_name = {r["name"]: r for r in describe_models(config_from_dict({}))}
    assert by_name["resnet50"]["cached"] == "yes" and by_name["vgg16"]["cached"] == "no"


def test_the_registry_table_imports_neither_torch_nor_timm():
    code = ("import sys; from localglobal.models.describe import describe_models; "
            "describe_models(); "
            "print(sorted(m for m in ('torch', 'torchvision', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
