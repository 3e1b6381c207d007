"""Figures come from the tables: a model's leftover files never bring it back into a figure."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from localglobal.analysis.densities import relevance_densities
from localglobal.analysis.figure_inputs import FigureInputs
from localglobal.analysis.figure_specs import density_panels
from localglobal.analysis.gallery import heatmap_images
from localglobal.io.images import write_png
from localglobal.pipeline.rundir import RunDir


def _leave_files_of_a_removed_model(run: Path) -> None:
    """What a model dropped with --replace leaves: its maps and its overlays."""
    relevance = run / "relevance"
    shutil.copy(relevance / "toy-texture.npy", relevance / "toy-gone.npy")
    shutil.copy(relevance / "toy-texture.index.parquet", relevance / "toy-gone.index.parquet")
    overlay = np.zeros((8, 8, 3), np.uint8)
    for model in ("toy-texture", "toy-gone"):
        write_png(run / "heatmaps" / model / "img.png", overlay)


def test_a_removed_model_is_in_no_figure(run_copy: Path):
    _leave_files_of_a_removed_model(run_copy)
    run = RunDir(run_copy)
    attributions = run.read("attributions")
    assert set(attributions["model"]) == {"toy-texture"}
    densities = relevance_densities(run_copy / "relevance", attributions=attributions)
    assert set(densities) == {"toy-texture"}
    panels = density_panels(FigureInputs(attributions=attributions,
                                         relevance=run_copy / "relevance", crop=224))
    assert not [name for name in panels if "toy-gone" in name]
    _, _, models = heatmap_images(run_copy / "heatmaps", 4, ["toy-texture"])
    assert models == ["toy-texture"]
