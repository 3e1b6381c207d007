"""Where a hypothesis's values come from: one source object per kind, in one table.

A :class:`~localglobal.config.Hypothesis` names its ``source``; :data:`SOURCES` maps
that name to the object that knows, for its kind of hypothesis,

* ``problems``: what the hypothesis names that the run does not hold;
* ``pairs``: its paired values (:mod:`~localglobal.analysis.hypothesis_pairs`);
* ``statistics``: the test of those pairs, images as the unit (DESIGN.md, "Statistics");
* ``describe``: its direction in words and the columns only it fills.

The sources:

* ``predictions``: two models' prediction measure, paired by image, level and variant;
* ``attributions``: two models' relevance statistic, paired by image, control and item;
* ``interaction``: two models' patch interaction, paired by patch side (H2);
* ``probe-effect``: one model's drop from the original under a probe, against no
  change ("probe X lowers model m's measure").

A new kind of hypothesis is one class and one entry in :data:`SOURCES`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from localglobal.analysis.hypothesis_pairs import (
    PAIR_COLUMNS,
    Pairs,
    attribution_problems,
    attribution_values,
    interaction_problems,
    pair_values,
    prediction_problems,
    prediction_values,
    subset_images,
    subset_problems,
)
from localglobal.analysis.interaction import interaction_test, select_images, side_values
from localglobal.analysis.statistics import paired_test
from localglobal.config import Hypothesis

_SYMBOL = {"greater": ">", "less": "<", "two-sided": "≠"}


@dataclass(frozen=True)
class RunTables:
    """The run's tables a hypothesis may read.

    ``attributions`` is None when the attribute stage has not run;
    ``interaction_images`` (per-(model, size, image) S and A) is None unless a
    hypothesis of the ``interaction`` source needs it.
    """

    predictions: pd.DataFrame
    attributions: pd.DataFrame | None = None
    interaction_images: pd.DataFrame | None = None


@dataclass(frozen=True)
class StatisticalTestSettings:
    """How the hypotheses are tested (the ``analysis`` section's settings).

    Attributes
    ----------
    zero_method : str
        Zero differences in the Wilcoxon test (see
        :func:`~localglobal.analysis.statistics.paired_test`).
    n_resamples : int
        Bootstrap (and permutation) resamples.
    interaction_method : str
        ``"permutation"`` or ``"bootstrap"``: the p of the image-level H2 test.
    alpha : float
        Family-wise error rate of the verdicts.
    seed : int
        Seed of the resamples; each hypothesis draws from its own stream.
    """

    zero_method: str = "wilcox"
    n_resamples: int = 2000
    interaction_method: str = "permutation"
    alpha: float = 0.05
    seed: int = 1


def _paired_columns(h: Hypothesis, pairs: Pairs, settings: StatisticalTestSettings,
                    rng: np.random.Generator) -> tuple[dict[str, Any], list[str]]:
    """The statistics columns of pairs clustered by image (the image-level test)."""
    result = paired_test(pairs.table["value_a"].to_numpy(dtype=float),
                         pairs.table["value_b"].to_numpy(dtype=float), h.alternative,
                         zero_method=settings.zero_method, n_resamples=settings.n_resamples,
                         rng=rng, clusters=pairs.clusters)
    columns = {
        "n": result.n, "mean_diff": result.mean_diff, "ci_low": result.ci_low,
        "ci_high": result.ci_high, "shapiro_p": result.shapiro_p,
        "wilcoxon_stat": result.wilcoxon_stat, "wilcoxon_p": result.wilcoxon_p,
        "t_p": result.t_p, "effect_size": result.effect_size, "n_zero": result.n_zero,
        "p": result.p, "test": result.test, "n_pairs": result.n_pairs,
        "wilcoxon_p_pairs": result.wilcoxon_p_pairs, "t_p_pairs": result.t_p_pairs,
        "reverse_p": result.reverse_p,
    }
    return columns, list(result.notes)


def _drop_text(h: Hypothesis) -> str:
    """The compared measure in words: raw, drop, or relative drop."""
    if h.relative_to != "original":
        return h.measure
    return f"relative drop in {h.measure}" if h.normalize == "ratio" else f"drop in {h.measure}"


class HypothesisSource(ABC):
    """One kind of hypothesis: what it reads, how it pairs, tests and describes itself."""

    #: The ``source`` value that names it.
    name: ClassVar[str] = ""
    #: Whether its hypotheses need the per-image patch-interaction table.
    needs_interaction_images: ClassVar[bool] = False

    @abstractmethod
    def problems(self, h: Hypothesis, tables: RunTables) -> list[str]:
        """What ``h`` names that the run does not hold, one line each."""

    @abstractmethod
    def pairs(self, h: Hypothesis, tables: RunTables, images: set[str] | None) -> Pairs:
        """The paired values of ``h`` on ``images`` (None: every image)."""

    def statistics(self, h: Hypothesis, pairs: Pairs, tables: RunTables,
                   settings: StatisticalTestSettings, rng: np.random.Generator
                   ) -> tuple[dict[str, Any], list[str]]:
        """The test's columns of ``hypotheses.parquet`` and its notes (image level)."""
        return _paired_columns(h, pairs, settings, rng)

    def measure_text(self, h: Hypothesis) -> str:
        """What is compared, in words (e.g. ``drop in true_prob``)."""
        return _drop_text(h)

    def direction(self, h: Hypothesis) -> str:
        """The hypothesis's direction in words, e.g. ``drop in true_prob: sin > rn``."""
        measure = self.measure_text(h)
        if h.subset == "both-correct":
            measure += " (images both classify correctly)"
        return f"{measure}: {h.model_a} {_SYMBOL[h.alternative]} {h.model_b}"

    def describe(self, h: Hypothesis) -> tuple[dict[str, Any], list[str]]:
        """The columns only this source fills, and notes on what it ignored."""
        return {"proxy": ""}, []


class PredictionSource(HypothesisSource):
    """Two models' prediction measure, paired by image, level and variant."""

    name = "predictions"

    def problems(self, h: Hypothesis, tables: RunTables) -> list[str]:
        return prediction_problems(h, tables.predictions, [h.model_a, h.model_b])

    def pairs(self, h: Hypothesis, tables: RunTables, images: set[str] | None) -> Pairs:
        return pair_values(prediction_values(tables.predictions, h, h.model_a, images),
                           prediction_values(tables.predictions, h, h.model_b, images),
                           ["image_id", "level", "variant"], h, "predictions.parquet")


class AttributionSource(HypothesisSource):
    """Two models' relevance statistic, paired by image, control and explained item."""

    name = "attributions"

    def problems(self, h: Hypothesis, tables: RunTables) -> list[str]:
        # Without attributions the hypothesis is reported as not tested.
        if tables.attributions is None:
            return []
        return attribution_problems(h, tables.attributions)

    def pairs(self, h: Hypothesis, tables: RunTables, images: set[str] | None) -> Pairs:
        if tables.attributions is None:
            return Pairs(pd.DataFrame(columns=PAIR_COLUMNS[1:]),
                         notes=["not tested: attributions.parquet is missing (the attribute "
                                "stage has not run)"])
        return pair_values(attribution_values(tables.attributions, h, h.model_a, images),
                           attribution_values(tables.attributions, h, h.model_b, images),
                           ["image_id", "control", "item_id"], h, "attributions.parquet")

    def describe(self, h: Hypothesis) -> tuple[dict[str, Any], list[str]]:
        notes = ["levels do not apply to attributions and were ignored"] if h.levels else []
        return {"proxy": h.proxy}, notes


class InteractionSource(HypothesisSource):
    """Two models' patch interaction (H2), paired by patch side; tested over images."""

    name = "interaction"
    needs_interaction_images = True

    def problems(self, h: Hypothesis, tables: RunTables) -> list[str]:
        return interaction_problems(h, tables.predictions)

    def pairs(self, h: Hypothesis, tables: RunTables, images: set[str] | None) -> Pairs:
        if tables.interaction_images is None:
            raise ValueError(f"hypothesis {h.id}: the per-image patch-interaction table "
                             "is needed")
        sides = [int(v) for v in h.levels] if h.levels else None
        values = [side_values(tables.interaction_images, model, h.measure, sides, images)
                  for model in (h.model_a, h.model_b)]
        pairs = pair_values(*values, ["level"], h, "the patch-interaction table")
        pairs.notes.append("pairs are patch sides")
        return pairs

    def statistics(self, h: Hypothesis, pairs: Pairs, tables: RunTables,
                   settings: StatisticalTestSettings, rng: np.random.Generator
                   ) -> tuple[dict[str, Any], list[str]]:
        levels = [int(v) for v in h.levels] if h.levels else None
        test = interaction_test(select_images(tables.interaction_images, levels, pairs.images),
                                h.model_a, h.model_b, measure=h.measure,
                                alternative=h.alternative, method=settings.interaction_method,
                                n_resamples=settings.n_resamples, rng=rng)
        # The thesis's test: Wilcoxon across patch sides, one pair per side.
        sides = paired_test(pairs.table["value_a"].to_numpy(dtype=float),
                            pairs.table["value_b"].to_numpy(dtype=float), h.alternative,
                            zero_method=settings.zero_method,
                            n_resamples=settings.n_resamples, rng=rng)
        nan = float("nan")
        columns = {
            "n": test.n, "mean_diff": test.statistic, "ci_low": test.ci_low,
            "ci_high": test.ci_high, "shapiro_p": nan, "wilcoxon_stat": nan,
            "wilcoxon_p": nan, "t_p": nan, "effect_size": test.statistic, "n_zero": 0,
            "p": test.p, "test": test.test, "n_pairs": sides.n,
            "wilcoxon_p_pairs": sides.wilcoxon_p, "t_p_pairs": sides.t_p,
            "reverse_p": test.reverse_p,
        }
        return columns, [*test.notes, *(f"across patch sides: {note}" for note in sides.notes)]

    def measure_text(self, h: Hypothesis) -> str:
        return f"patch-interaction {h.measure}"


class ProbeEffectSource(HypothesisSource):
    """One model's drop from the original under a probe, against no change.

    Each (image, level, variant) gives ``value_a``, the drop (original − probed, or
    that divided by the original with ``normalize = "ratio"``) and ``value_b = 0``;
    the test runs on each image's mean drop, a one-sample test over images.
    """

    name = "probe-effect"

    def problems(self, h: Hypothesis, tables: RunTables) -> list[str]:
        return prediction_problems(h, tables.predictions, [h.model_a])

    def pairs(self, h: Hypothesis, tables: RunTables, images: set[str] | None) -> Pairs:
        drops = prediction_values(tables.predictions, h, h.model_a, images)
        unchanged = drops.assign(value=np.where(np.isfinite(drops["value"]), 0.0, np.nan))
        return pair_values(drops, unchanged, ["image_id", "level", "variant"], h,
                           "predictions.parquet")

    def direction(self, h: Hypothesis) -> str:
        measure = f"{_drop_text(h)} under {h.probe}"
        if h.subset == "both-correct":
            measure += " (images the model classifies correctly)"
        return f"{measure}: {h.model_a} {_SYMBOL[h.alternative]} 0"


#: Every kind of hypothesis, by its ``source`` name.
SOURCES: dict[str, HypothesisSource] = {
    source.name: source for source in (PredictionSource(), AttributionSource(),
                                       InteractionSource(), ProbeEffectSource())
}


def source_of(h: Hypothesis) -> HypothesisSource:
    """The source object of hypothesis ``h``."""
    return SOURCES[h.source]


def hypothesis_problems(h: Hypothesis, predictions: pd.DataFrame,
                        attributions: pd.DataFrame | None = None) -> list[str]:
    """What hypothesis ``h`` names that the run does not hold, one line each.

    Parameters
    ----------
    h : Hypothesis
        The hypothesis.
    predictions : pandas.DataFrame
        The cleaned predictions.
    attributions : pandas.DataFrame, optional
        The attributions; without them a hypothesis on attributions is not checked
        against them (it is reported as not tested).

    Returns
    -------
    list of str
        Empty when the run holds everything ``h`` names.
    """
    tables = RunTables(predictions, attributions)
    return source_of(h).problems(h, tables) + subset_problems(h, predictions)


def validate_hypotheses(
    hypotheses: Sequence[Hypothesis],
    predictions: pd.DataFrame,
    attributions: pd.DataFrame | None = None,
) -> None:
    """Check that every hypothesis names models, probes, levels and measures in the run.

    Hypotheses on attributions are checked only when ``attributions`` is given (the
    attribute stage is optional); they are then reported as not tested. A
    ``subset = "both-correct"`` needs the originals' predicted and true indices.

    Raises
    ------
    ValueError
        Listing every problem and, for each, what the run holds instead.
    """
    problems = [p for h in hypotheses for p in hypothesis_problems(h, predictions, attributions)]
    if problems:
        raise ValueError("analysis.hypotheses do not match the run:\n  " + "\n  ".join(problems)
                         + "\nevaluate the missing models, or edit or remove these "
                         "[[analysis.hypotheses]] in the run's config.toml")


def hypothesis_pairs(
    h: Hypothesis,
    predictions: pd.DataFrame,
    attributions: pd.DataFrame | None = None,
    interaction_images: pd.DataFrame | None = None,
) -> Pairs:
    """The paired values ``a`` and ``b`` of one hypothesis, on the images its subset keeps.

    Parameters
    ----------
    h : Hypothesis
        The hypothesis.
    predictions : pandas.DataFrame
        ``predictions.parquet`` (with image_id, probe, level, variant; pred_index and
        true_index for ``subset = "both-correct"``).
    attributions : pandas.DataFrame, optional
        ``attributions.parquet``; None when the attribute stage has not run.
    interaction_images : pandas.DataFrame, optional
        Per-(model, size, image) S and A from
        :func:`localglobal.analysis.interaction.interaction_images`.

    Returns
    -------
    Pairs
        The pairs, what could not be paired, and the images the subset keeps.
    """
    images, notes = subset_images(h, predictions)
    pairs = source_of(h).pairs(h, RunTables(predictions, attributions, interaction_images),
                               images)
    pairs.notes[:0] = notes
    pairs.images = images
    return pairs


def direction_text(h: Hypothesis) -> str:
    """The hypothesis's direction in words, e.g. ``drop in true_prob: sin > rn``."""
    return source_of(h).direction(h)


__all__ = ["SOURCES", "AttributionSource", "HypothesisSource", "InteractionSource",
           "PredictionSource", "ProbeEffectSource", "RunTables", "StatisticalTestSettings",
           "direction_text", "hypothesis_pairs", "hypothesis_problems", "source_of",
           "validate_hypotheses"]
