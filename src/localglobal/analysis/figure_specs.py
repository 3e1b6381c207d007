"""The analysis's figures: what each shows and where in the report, drawn one by one.

:func:`figure_specs` lists every figure of a run with its report section, title and
caption, and a function that builds it from :class:`FigureInputs`. :func:`draw_figures`
draws and saves them; a figure whose input is absent, or that breaks, is recorded as
skipped with the reason, and never costs the rest of the analysis. Every figure takes
its model colours and markers from one mapping (:meth:`FigureInputs.styles`), built
from the configuration's model order (:meth:`FigureInputs.configured_order`), so a model
looks the same in every figure and in every run that lists it in the same place.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from localglobal.analysis import figures as fig
from localglobal.analysis.benchmark import rankings
from localglobal.analysis.densities import (
    box_density,
    edge_density,
    edge_masks_from_npz,
    relevance_densities,
)
from localglobal.analysis.gallery import heatmap_images
from localglobal.analysis.record import AnalysisRecord
from localglobal.config import RunConfig
from localglobal.console import progress_bar
from localglobal.errors import FigureError, is_machine_error
from localglobal.pipeline.rundir import RunDir
from localglobal.probes.catalog import by_section, described_probes, section_title
from localglobal.probes.registry import Probe

_INTERVAL = "shaded: 95 % t-interval over images"
CONTACT_CAPTION = "The original, every probe at every level, the edge mask and the box."


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


@dataclass
class FigureSpec:
    """A figure to make: where it goes in the report and how to build it.

    A figure that breaks while drawing fails the analysis, unless it is ``optional``:
    then it is skipped, and the report says it is missing and why.
    """

    name: str
    section: str
    title: str
    caption: str
    build: Callable[[], Any]
    optional: bool = False


def table_models(table: pd.DataFrame | None) -> list[str]:
    """The models a run's table holds: figures draw these, never whatever files lie about."""
    if table is None or "model" not in table:
        return []
    return [str(m) for m in pd.unique(table["model"].astype(str))]


def density_panels(inputs: FigureInputs) -> dict[str, np.ndarray]:
    """The panels of the density figure: each model's positive relevance, edges, boxes."""
    panels: dict[str, np.ndarray] = {}
    if inputs.relevance is not None:
        for model, density in relevance_densities(
                inputs.relevance, attributions=inputs.attributions,
                models=table_models(inputs.attributions)).items():
            panels[f"{model}: positive relevance"] = density
    if inputs.edges_npz is not None and inputs.edges_npz.exists():
        with np.load(inputs.edges_npz, allow_pickle=False) as arrays:
            edges = edge_density(edge_masks_from_npz(arrays, inputs.crop))
        if edges is not None:
            panels["edges (Canny)"] = edges
    boxes = box_density(inputs.samples, inputs.crop)
    if boxes is not None:
        panels["object boxes"] = boxes
    return panels


def _gallery(inputs: FigureInputs) -> Any:
    if inputs.heatmaps is None:
        raise FigureError("no heat maps")
    found, ids, models = heatmap_images(inputs.heatmaps, inputs.gallery,
                                        table_models(inputs.attributions))
    return fig.heatmap_gallery_figure(found, ids, fig.in_style_order(
        models, fig.model_styles(models, order=inputs.model_order)))


def probe_sections(inputs: FigureInputs) -> dict[str, list[Probe]]:
    """The probes with rows in the summary (without one: the run's probes, else the
    default configuration's), grouped by report section, in run order."""
    probes = list(inputs.probes) or described_probes(RunConfig())
    if inputs.probe_summary is None:
        present = {p.name for p in probes}
    else:
        present = set(inputs.probe_summary["probe"].astype(str))
        known = {p.name for p in probes}
        probes += [p for p in described_probes(RunConfig(), sorted(present - known))
                   if p.name not in known]
    return by_section(p for p in probes if p.name in present)


def _curve_caption(probes: list[Probe], measure: str) -> str:
    what = probes[0].axis_label if len(probes) == 1 else "image"
    groups = [title for p in probes for title in p.group_titles().values() if title]
    panels = f"; panels: {', '.join(groups)}" if groups else ""
    return (f"Mean {measure} against {what}, the original first; each image is first "
            f"averaged over its variants{panels}; {_INTERVAL}.")


def category_caption(table: pd.DataFrame | None) -> str:
    """The per-category shape-bias caption, naming only what the figure draws.

    Parameters
    ----------
    table : pandas.DataFrame, optional
        ``shape_bias_by_category.parquet``.

    Returns
    -------
    str
        The caption; the humans' diamonds and the observers' range bars are described
        only when the table has them.
    """
    text = ("Fraction of shape decisions on the cue-conflict stimuli of each shape "
            "category: one marker per model")
    if table is None or "model" not in table:
        return text + "."
    if (table["model"] == fig.HUMANS).any():
        text += "; diamonds: the human observers' mean"
    humans = table["kind"] == "human" if "kind" in table else pd.Series(False, table.index)
    if (humans & (table["model"] != fig.HUMANS)).any():
        text += "; grey bars: the range over the observers"
    return text + "."


def _probe_specs(t: FigureInputs) -> list[FigureSpec]:
    styles = functools.cache(t.styles)  # drawn lazily: a bad table costs one figure
    summary = t.probe_summary
    subset = (summary is not None and "measure" in summary and len(summary)
              and str(summary["measure"].iloc[0]) == "subset_true_prob")
    measure = ("true-class probability within the run's classes (the dataset's label space)"
               if subset else "true-class probability")
    specs = []
    for key, probes in probe_sections(t).items():
        heading = section_title(probes)
        specs.append(FigureSpec(
            key.replace("_", "-"), key, heading, _curve_caption(probes, measure),
            functools.partial(_level_curve, t, probes, styles)))
        if key == "patch":
            specs += _interaction_specs(t, styles)
    return specs


def _level_curve(t: FigureInputs, probes: list[Probe],
                 styles: Callable[[], dict[str, tuple[str, str]]]) -> Any:
    return fig.level_curve_figure(t.probe_summary, probes, styles=styles())


def _interaction_specs(t: FigureInputs, styles: Callable[[], dict[str, tuple[str, str]]]
                       ) -> list[FigureSpec]:
    return [
        FigureSpec("interaction-r", "patch", "Patch interaction by patch side",
                   "Left: Pearson correlation over images of S (sum of single-patch drops) and "
                   "A (all-patches drop); right: the median over images of A/S (1: the drops "
                   "add up; images with S = 0 left out). Whiskers: 95 % bootstrap intervals "
                   "over images.",
                   lambda: fig.interaction_r_figure(t.interaction, styles=styles())),
        FigureSpec("interaction-scatter", "patch", "Single against all-patches drops",
                   f"Drops of {t.interaction_measure}, one point per image; lines: least "
                   "squares per model; dashed: A = S.",
                   lambda: fig.interaction_scatter_figure(t.interaction_images,
                                                            styles=styles())),
    ]


def _result_specs(t: FigureInputs) -> list[FigureSpec]:
    styles = functools.cache(t.styles)  # drawn lazily: a bad table costs one figure
    method, boxes = t.method(), t.has_boxes()
    where = "inside the box" if boxes else "(of the whole image: the images have no box)"
    return [
        FigureSpec("shape-bias", "shape_bias", "Shape bias",
                   "Share of shape decisions among shape and texture decisions on cue-conflict "
                   "stimuli (Geirhos et al. 2019); whiskers: 95 % interval; n: the shape and "
                   "texture decisions the bias is computed from.",
                   lambda: fig.shape_bias_figure(t.shape_bias, styles=styles())),
        FigureSpec("shape-bias-categories", "shape_bias", "Shape bias per category",
                   category_caption(t.shape_bias_by_category),
                   lambda: fig.shape_bias_category_figure(t.shape_bias_by_category,
                                                                  styles=styles())),
        FigureSpec("lrp-regions", "lrp", f"{method} regions and edges",
                   f"{method}: size of the positive (R > mean of R > 0) and negative regions "
                   f"and their share on Canny edges {where}, per model, with the controls "
                   "(randomised weights, shuffled edges) beside them.",
                   lambda: fig.lrp_regions_figure(t.lrp_summary, styles=styles(),
                                                  method=method)),
        FigureSpec("density", "lrp", "Where relevance, edges and objects lie",
                   f"Share of images whose positive {method} region, Canny edges"
                   f"{' or object box' if boxes else ''} covers each pixel of the "
                   "model-input frame.",
                   lambda: fig.density_figure(density_panels(t))),
        FigureSpec("heatmaps", "lrp", f"{method} heat maps",
                   f"{method} overlays for a few images (rows) and models (columns): red for "
                   "the class, blue against, scaled per image by its 99th percentile of |R| "
                   "(colour bar); thin dark lines: Canny edges"
                   f"{'; green: the object box' if boxes else ''}.",
                   lambda: _gallery(t), optional=True),
        FigureSpec("qq", "hypotheses", "Q-Q plots of the tested differences",
                   "Normal quantile plots of what each test runs on: every image's mean "
                   "difference a − b over its levels and variants (n = images); departures "
                   "from the line argue for the Wilcoxon test over the t-test. The patch "
                   "interaction, tested by resampling images, has no panel.",
                   lambda: fig.qq_figure(t.pairs, t.hypotheses)),
    ]


def _benchmark_specs(t: FigureInputs) -> list[FigureSpec]:
    styles = functools.cache(t.styles)
    excluded = ("grey bands: conditions model-vs-human leaves out of its averages (the "
                "control, and where humans are near chance)")
    return [
        FigureSpec("benchmark-accuracy", "benchmark", "Accuracy against condition",
                   "16-class accuracy of each model per condition of each parametric dataset "
                   "(psychometric curves); diamonds: the human observers' pooled accuracy, "
                   f"grey area: the range of the observers; dotted: chance (1/16); {excluded}.",
                   lambda: fig.condition_curves_figure(t.benchmark_conditions, "accuracy",
                                                       styles=styles())),
        FigureSpec("benchmark-error-consistency", "benchmark",
                   "Error consistency against condition",
                   "Cohen's kappa of trial-by-trial errors with each human observer, averaged "
                   "over the observers, per condition; diamonds: the mean over pairs of human "
                   f"observers (the ceiling), grey area: the range of the observers; {excluded}.",
                   lambda: fig.condition_curves_figure(t.benchmark_conditions,
                                                       "error_consistency", styles=styles())),
        FigureSpec("benchmark-rankings", "benchmark", "model-vs-human's rankings",
                   "Each metric averaged over the datasets (benchmark conditions only); "
                   "dashed: the humans' value. \"Most human-like\" orders the models by the "
                   "mean of their ranks in accuracy difference, observed and error "
                   "consistency; \"OOD robustness\" by accuracy.",
                   lambda: fig.ranking_bars_figure(_rankings(t.benchmark), styles=styles())),
        FigureSpec("benchmark-own-images", "benchmark",
                   "Your images next to the humans'",
                   "Each model on the run's own images at model-vs-human's conditions (the "
                   "probes that share a dataset's name; solid, shaded: 95 % t-interval over "
                   "images) beside the humans' 16-class accuracy on model-vs-human's "
                   "stimuli (diamonds; grey: the range of the observers) and, where the "
                   "geirhos stage ran the model on those stimuli, its accuracy there "
                   "(dashed).",
                   lambda: fig.own_images_figure(t.probe_summary, t.benchmark_conditions,
                                                 styles=styles())),
    ]


def _rankings(benchmark: pd.DataFrame | None) -> pd.DataFrame | None:
    return None if benchmark is None else rankings(benchmark)


def figure_specs(inputs: FigureInputs) -> list[FigureSpec]:
    """Every figure of the analysis, in report order.

    Parameters
    ----------
    inputs : FigureInputs
        What the figures draw from.

    Returns
    -------
    list of FigureSpec
        Each builds its figure only when called.
    """
    return [*_probe_specs(inputs), *_result_specs(inputs), *_benchmark_specs(inputs)]


def draw_figure(spec: FigureSpec, folder: Path, root: Path, dpi: int, record: AnalysisRecord,
                log: Callable[[str], None]) -> None:
    """Draw one figure into ``folder`` as PNG and PDF and record it, or why it was skipped.

    Parameters
    ----------
    spec : FigureSpec
        The figure.
    folder : Path
        Where its files go (``figures/``).
    root : Path
        The run directory: recorded paths are relative to it.
    dpi : int
        PNG resolution.
    record : AnalysisRecord
        Receives the figure or the reason it is absent.
    log : callable
        Prints a warning for a figure that broke.
    """
    try:
        written = fig.save_figure(spec.build(), folder / spec.name, dpi=dpi)
    except FigureError as error:  # its input is missing or empty: skipped, saying why
        reason = str(error)
    except Exception as error:  # one broken figure must not cost the whole analysis
        if is_machine_error(error):  # a full disk is not the figure's fault
            raise
        reason = f"failed: {type(error).__name__}: {error}"
        if not spec.optional:
            raise FigureError(f"figure {spec.name} ({spec.title}) {reason}") from error
        log(f"figure {spec.name} {reason}; it is optional: the report says it is missing")
    else:
        record.figures.append({
            "name": spec.name, "section": spec.section, "title": spec.title,
            "caption": spec.caption,
            **{p.suffix.lstrip("."): str(p.relative_to(root)) for p in written},
        })
        return
    record.skipped(spec.name, spec.section, spec.title, reason)


def draw_figures(specs: Sequence[FigureSpec], folder: Path, root: Path, dpi: int,
                 record: AnalysisRecord, log: Callable[[str], None]) -> None:
    """Draw every figure (see :func:`draw_figure`) with a progress bar.

    Raises
    ------
    FigureError
        A figure that is not optional broke; the others were drawn first.
    """
    folder.mkdir(parents=True, exist_ok=True)
    broken: list[str] = []
    with progress_bar(transient=True) as bar:
        task = bar.add_task("figures", total=len(specs))
        for spec in specs:
            try:
                draw_figure(spec, folder, root, dpi, record, log)
            except FigureError as error:
                broken.append(str(error))
            bar.advance(task)
    if broken:
        raise FigureError("; ".join(broken))


def remove_stale_figures(folder: Path, specs: Sequence[FigureSpec],
                         record: AnalysisRecord) -> None:
    """Delete an earlier run's version of each figure that was not drawn this time.

    Only the analysis's own figure files go; contact sheets (which ``localglobal show``
    also writes) are left alone.
    """
    drawn = {entry["name"] for entry in record.figures}
    for spec in specs:
        if spec.name not in drawn:
            for suffix in (".png", ".pdf"):
                (folder / (spec.name + suffix)).unlink(missing_ok=True)


def contact_sheets(write: Callable[[str, Path], Path], image_ids: Sequence[str],
                   folder: Path, root: Path, record: AnalysisRecord) -> None:
    """Write a probe contact sheet per image and record each, or why it failed.

    Parameters
    ----------
    write : callable
        ``write(image_id, out) -> path`` (the run's
        :func:`localglobal.probes.contact.write_contact_sheet`).
    image_ids : sequence of str
        The images.
    folder : Path
        Where the sheets go (``figures/contact/``).
    root : Path
        The run directory: recorded paths are relative to it.
    record : AnalysisRecord
        Receives each sheet or the reason it is absent.
    """
    for image_id in image_ids:
        name = f"contact-{image_id}"
        try:
            path = Path(write(image_id, folder / f"{image_id}.png")).resolve()
        except Exception as error:  # a missing perturbation should not stop the analysis
            if is_machine_error(error):
                raise
            record.skipped(name, "probes", f"Contact sheet {image_id}",
                           f"failed: {type(error).__name__}: {error}")
            continue
        record.figures.append({
            "name": name, "section": "probes", "title": f"Probes of {image_id}",
            "caption": CONTACT_CAPTION,
            "png": str(path.relative_to(root) if path.is_relative_to(root) else path),
        })
