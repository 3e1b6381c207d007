"""The quickstart notebook runs from top to bottom, so that it never rots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


def test_the_quickstart_runs(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed "
                                   "(pip install -e '.[test]')")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed "
                                   "(pip install -e '.[test]')")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed")
    monkeypatch.setenv("LOCALGLOBAL_QUICKSTART_DIR", str(tmp_path))
    monkeypatch.setenv("LOCALGLOBAL_NO_PROGRESS", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the probes, two figures (and the contact sheet)
    assert (tmp_path / "run" / "predictions.parquet").exists()
    assert os.environ["LOCALGLOBAL_QUICKSTART_DIR"] == str(tmp_path)
