"""The quickstart notebook runs from top to bottom, so that it never rots; it uses only the
public API, and its toy run is a positive control that works."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

import localglobal as lg

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def _code(notebook_path: Path) -> str:
    cells = json.loads(notebook_path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_the_quickstart_uses_only_the_public_api():
    code = _code(NOTEBOOK)
    assert "import localglobal as lg" in code
    # No module of the package is reached into: only `lg.<name>` of the top level.
    assert not re.search(r"(from|import)\s+localglobal\.", code)
    used = set(re.findall(r"\blg\.([A-Za-z_]\w*)", code))
    assert used and used <= set(lg.__all__), used - set(lg.__all__)


def test_the_quickstart_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed "
                                   "(pip install -e '.[test]')")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed "
                                   "(pip install -e '.[test]')")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed")
    monkeypatch.setenv("LOCALGLOBAL_QUICKSTART_DIR", str(tmp_path))
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the probes, two figures (and the contact sheet)
    assert (tmp_path / "run" / "predictions.parquet").exists()
    # The positive control of the notebook's own run: both directional hypotheses hold.
    hypotheses = pd.read_parquet(tmp_path / "run" / "hypotheses.parquet").set_index("hypothesis")
    assert hypotheses.loc["scramble", "supported"] and hypotheses.loc["smooth", "supported"]
    assert (hypotheses.loc[["scramble", "smooth"], "p_holm"] < 0.05).all()
    assert os.environ["LOCALGLOBAL_QUICKSTART_DIR"] == str(tmp_path)
