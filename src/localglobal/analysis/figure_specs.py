"""The analysis's figures: what each shows and where in the report.

:func:`figure_specs` lists every figure of a run with its report section, title and
caption, and a function that builds it from
:class:`~localglobal.analysis.figure_inputs.FigureInputs`;
:mod:`~localglobal.analysis.figure_drawing` draws and saves them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
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
from localglobal.analysis.figure_inputs import FigureInputs
from localglobal.analysis.gallery import heatmap_images
from localglobal.config import RunConfig
from localglobal.errors import FigureError
from localglobal.probes.catalog import by_section, described_probes, section_title
from localglobal.probes.registry import Probe

_INTERVAL = "shaded: 95 % t-interval over images"


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


