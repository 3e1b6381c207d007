"""What a run's figures are drawn from: its tables, folders and configuration, in one record.

:class:`FigureInputs` holds every table and folder a figure reads (absent ones are
None) and gives every figure its model colours and markers from one mapping
(:meth:`FigureInputs.styles`), built from the configuration's model order
(:meth:`FigureInputs.configured_order`), so a model looks the same in every figure and
in every run that lists it in the same place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from localglobal.analysis import figures as fig
from localglobal.config import RunConfig
from localglobal.pipeline.rundir import RunDir
from localglobal.probes.catalog import described_probes
from localglobal.probes.registry import Probe


@dataclass
class FigureInputs:
    """Everything the figures draw from; absent inputs are None.

    Attributes
    ----------
    probe_summary, interaction, interaction_images, hypotheses, pairs, lrp_summary,
    shape_bias, samples, attributions : pandas.DataFrame or None
        The analysis's tables and the run's samples and attributions.
    edges_npz : Path or None
        ``edges.npz``, when the edges stage has run.
    relevance : Path or None
        The ``relevance/`` folder, when the attribute stage wrote one.
    heatmaps : Path or None
        The ``heatmaps/`` folder, when the attribute stage wrote one.
    crop : int
        Side of the model-input frame.
    gallery : int
        Images in the heat-map gallery.
    interaction_measure : str
        The predictions column of the patch interaction.
    model_order : tuple of str
        The run's models in configuration order (:meth:`configured_order`):
        the order of the model styles, bars and gallery columns.
    probes : tuple of Probe
        The run's probes (:func:`~localglobal.probes.catalog.described_probes`): each
        report section's level curve is drawn from its probes' declarations.
    """

    probe_summary: pd.DataFrame | None = None
    interaction: pd.DataFrame | None = None
    interaction_images: pd.DataFrame | None = None
    hypotheses: pd.DataFrame | None = None
    pairs: pd.DataFrame | None = None
    lrp_summary: pd.DataFrame | None = None
    shape_bias: pd.DataFrame | None = None
    shape_bias_by_category: pd.DataFrame | None = None
    benchmark: pd.DataFrame | None = None
    benchmark_conditions: pd.DataFrame | None = None
    samples: pd.DataFrame | None = None
    attributions: pd.DataFrame | None = None
    edges_npz: Path | None = None
    relevance: Path | None = None
    heatmaps: Path | None = None
    crop: int = 224
    gallery: int = 6
    interaction_measure: str = "true_logit"
    model_order: tuple[str, ...] = ()
    probes: tuple[Probe, ...] = ()

    def styles(self) -> dict[str, tuple[str, str]]:
        """Model → (colour, marker) for every figure of the run.

        The models of :attr:`model_order` come first, in that order; any other model
        in the tables follows in sorted order (human observers other than the
        humans' mean get none: they are not drawn as models).

        Returns
        -------
        dict
            See :func:`localglobal.analysis.figures.model_styles`.
        """
        found: set[str] = set()
        for table in (self.probe_summary, self.interaction, self.interaction_images,
                      self.lrp_summary, self.shape_bias, self.shape_bias_by_category,
                      self.attributions):
            if table is None or "model" not in table:
                continue
            rows = table
            if "kind" in table:
                rows = table[(table["kind"] != "human") | (table["model"] == fig.HUMANS)]
            found.update(rows["model"].astype(str).unique())
        for table in (self.benchmark, self.benchmark_conditions):
            if table is not None and "observer" in table:
                found.update(table[table["kind"] == "model"]["observer"].astype(str).unique())
        return fig.model_styles(found, order=self.model_order)

    @classmethod
    def from_run(cls, run: RunDir, config: RunConfig, **tables: Any) -> FigureInputs:
        """The inputs of a run's figures: its tables and folders, and its configuration.

        Parameters
        ----------
        run : RunDir
            The run directory; every input it lacks is None.
        config : RunConfig
            Its configuration (frame, gallery, interaction measure, model order).
        **tables
            Inputs already in memory (the analyze stage's fresh tables), by field name;
            they are not read again.

        Returns
        -------
        FigureInputs
        """
        def read(name: str) -> Any:
            return run.read(name) if run.has(name) else None

        paths = {field: run.artifact_path(name) if run.has(name) else None
                 for field, name in _FOLDERS.items()}
        found = {field: tables[field] if field in tables else read(name)
                 for field, name in _TABLES.items()}
        summary = found.get("probe_summary")
        present = [] if summary is None else list(summary["probe"].astype(str).unique())
        return cls(**found, **paths, crop=config.frame.crop,
                   gallery=config.report.gallery_images,
                   interaction_measure=config.analysis.interaction_measure,
                   model_order=cls.configured_order(config),
                   probes=tuple(described_probes(config, present)))

    def method(self) -> str:
        """The attribution method, as the figures name it (``"LRP"``, ``"gradient ×
        input"``, …; :func:`~localglobal.analysis.figures.method_label`)."""
        if self.attributions is None or "method" not in self.attributions:
            return "relevance"
        return fig.method_label(self.attributions["method"])

    def has_boxes(self) -> bool:
        """Whether any sampled image has an object box (unknown samples: yes)."""
        if self.samples is None or "box_x0" not in self.samples:
            return True
        return bool(self.samples["box_x0"].notna().any())

    @staticmethod
    def configured_order(config: RunConfig) -> tuple[str, ...]:
        """The run's models in configuration order: ``evaluate.models``, then the
        ``attribute`` and ``geirhos`` models not listed yet.

        Parameters
        ----------
        config : RunConfig
            The run's configuration.

        Returns
        -------
        tuple of str
            Each model once (:meth:`RunConfig.model_order`): the :attr:`model_order`
            of the run's figures.
        """
        return config.model_order()


_TABLES = {"probe_summary": "probe_summary", "interaction": "interaction",
           "interaction_images": "interaction_images", "hypotheses": "hypotheses",
           "pairs": "hypothesis_pairs", "lrp_summary": "lrp_summary",
           "shape_bias": "shape_bias", "shape_bias_by_category": "shape_bias_by_category",
           "benchmark": "benchmark", "benchmark_conditions": "benchmark_conditions",
           "samples": "samples", "attributions": "attributions"}
"""Field of :class:`FigureInputs` → the run's table it holds."""

_FOLDERS = {"edges_npz": "edge_masks", "relevance": "relevance", "heatmaps": "heatmaps"}
"""Field of :class:`FigureInputs` → the run's file or folder it names."""
