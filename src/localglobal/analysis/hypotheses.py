"""Directional hypotheses, declared as data in the configuration, chosen and tested.

Each :class:`~localglobal.config.Hypothesis` names a measure, its models (two, or one
for a probe's effect) and a direction; its source
(:data:`~localglobal.analysis.hypothesis_sources.SOURCES`) checks, pairs and tests its
values with the image as the unit of inference (DESIGN.md, "Statistics"), and this
module chooses the family, runs it and gives the verdicts:

* predictions and attributions: each image's differences ``a − b`` are averaged over
  its levels and variants, and the one-sided Wilcoxon signed-rank test, Shapiro–Wilk,
  the paired t-test, the rank-biserial effect size and the bootstrap interval run on
  those per-image means (:func:`~localglobal.analysis.statistics.paired_test`); the
  thesis's test on every pair is kept as ``wilcoxon_p_pairs`` / ``t_p_pairs``;
* the patch interaction (H2): the mean over patch sides of Fisher-z(r_a) −
  Fisher-z(r_b), with a permutation (within images) or bootstrap (over images) p
  (:func:`~localglobal.analysis.interaction.interaction_test`); the thesis's Wilcoxon
  test across patch sides is kept as ``wilcoxon_p_pairs``;
* a probe's effect on one model: each image's drops from its original, averaged over
  levels and variants, against no change (the same one-sided Wilcoxon test on the
  per-image means).

Unset, the family is the thesis's hypotheses (``configs/thesis.toml``) whose models the
run has, else one probe-effect hypothesis per model and probe.

``p`` is the primary uncorrected p, ``test`` its name, ``n`` the images and
``n_pairs`` the pairs behind them.

Verdicts. Each hypothesis is tested one-sidedly in its stated direction (p) and in
the opposite direction (reverse_p). Holm's step-down correction runs over the
family's p (giving p_holm) and, as a second family, over the reverse p (giving
reverse_p_holm). A hypothesis is supported when p_holm < α/2 and its effect points
the stated way; it is marked "the opposite holds" when reverse_p_holm < α/2.
Spending α/2 on each direction keeps the family-wise error — the probability of any
false "supported" or false "the opposite holds" anywhere in the family — at or below
α. Two-sided hypotheses are tested at α/2 as well and have no opposite.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from localglobal.analysis.candidates import candidate_hypotheses, thesis_hypotheses
from localglobal.analysis.hypothesis_pairs import PAIR_COLUMNS, Pairs
from localglobal.analysis.hypothesis_sources import (
    RunTables,
    StatisticalTestSettings,
    direction_text,
    hypothesis_pairs,
    hypothesis_problems,
    source_of,
    validate_hypotheses,
)
from localglobal.analysis.interaction import interaction_images as _interaction_images
from localglobal.analysis.statistics import holm
from localglobal.config import Hypothesis

__all__ = ["CONTRACT_COLUMNS", "EXTRA_COLUMNS", "OPPOSITE", "VERDICT_RULE",
           "HypothesisResults", "StatisticalTestSettings", "candidate_hypotheses",
           "choose_hypotheses",
           "direction_text", "evaluate_hypotheses", "family_verdicts",
           "probe_effect_hypotheses", "thesis_hypotheses", "validate_hypotheses"]

#: The rule behind ``supported`` and the verdict, in words the report can quote.
VERDICT_RULE = (
    "Each hypothesis is tested one-sidedly in its stated direction (p) and in the "
    "opposite direction (reverse_p). Holm's step-down correction runs over the family's "
    "p (giving p_holm) and, as a second family, over the reverse p (giving "
    "reverse_p_holm). A hypothesis is supported when p_holm < α/2 and its effect points "
    "the stated way; it is marked \"the opposite holds\" when reverse_p_holm < α/2. "
    "Spending α/2 on each direction keeps the family-wise error — the probability of any "
    "false \"supported\" or false \"the opposite holds\" anywhere in the family — at or "
    "below α. Two-sided hypotheses are tested at α/2 as well and have no opposite."
)

#: The columns of ``hypotheses.parquet`` fixed by the design's contracts, in order.
CONTRACT_COLUMNS = [
    "hypothesis", "measure", "model_a", "model_b", "alternative", "n", "mean_diff",
    "ci_low", "ci_high", "shapiro_p", "wilcoxon_stat", "wilcoxon_p", "t_p", "effect_size",
    "p_holm", "supported",
]
#: Further columns, for the report and for readers of the table.
EXTRA_COLUMNS = [
    "description", "source", "probe", "levels", "relative_to", "control", "n_images",
    "n_zero", "n_missing_a", "n_missing_b", "n_missing", "zero_method", "alpha", "verdict",
    "direction", "note", "reverse_p_holm", "p", "test", "n_pairs", "wilcoxon_p_pairs",
    "t_p_pairs", "reverse_p", "normalize", "subset", "proxy",
]
#: The verdict of a one-sided hypothesis whose opposite direction is significant.
OPPOSITE = "not supported: the opposite holds"


def probe_effect_hypotheses(predictions: pd.DataFrame, measure: str = "true_prob"
                            ) -> list[Hypothesis]:
    """One hypothesis per model and probe of the run: the probe lowers the model's
    ``measure`` relative to the original.

    Parameters
    ----------
    predictions : pandas.DataFrame
        The cleaned predictions; every probe in them other than ``original`` counts,
        whatever its name and levels.
    measure : str
        The predictions column compared (the true-class probability in the run's label
        space).

    Returns
    -------
    list of Hypothesis
        Ids ``<probe>:<model>``, source ``probe-effect``, all levels, one-sided
        ("greater": the drop is positive); empty without originals.
    """
    if not {"model", "probe"} <= set(predictions) or measure not in predictions:
        return []
    probes = [str(p) for p in pd.unique(predictions["probe"].astype(str)) if p != "original"]
    if "original" not in set(predictions["probe"].astype(str)):
        return []
    models = [str(m) for m in pd.unique(predictions["model"].astype(str))]
    return [Hypothesis(id=f"{probe}:{model}", source="probe-effect", probe=probe,
                       measure=measure, model_a=model, alternative="greater",
                       description=f"{probe} lowers {model}'s {measure} relative to the "
                       "original (all levels)")
            for model in models for probe in probes]


def choose_hypotheses(configured: Sequence[Hypothesis] | None, predictions: pd.DataFrame,
                      attributions: pd.DataFrame | None = None, *,
                      measure: str = "true_prob") -> tuple[list[Hypothesis], list[str]]:
    """The hypotheses to test on this run, and a note on how they were chosen.

    Configured hypotheses are tested as given and must fit the run. Unset (None),
    the thesis hypotheses are the default, and only those whose models, probes,
    levels and measures the run holds are kept, so that a run of one's own models
    never fails on hypotheses it did not ask for. When none of them fits (one model,
    or one's own models), the default is one probe-effect hypothesis per model and
    probe (:func:`probe_effect_hypotheses`).

    Parameters
    ----------
    configured : sequence of Hypothesis or None
        ``analysis.hypotheses``.
    predictions : pandas.DataFrame
        The cleaned predictions.
    attributions : pandas.DataFrame, optional
        The attributions, when the attribute stage has run.
    measure : str
        The measure of the default probe-effect hypotheses (the true-class
        probability in the run's label space).

    Returns
    -------
    (list of Hypothesis, list of str)
        The hypotheses and the notes (empty for configured hypotheses).

    Raises
    ------
    ValueError
        A configured hypothesis names something the run does not hold.
    """
    if configured is not None:
        validate_hypotheses(configured, predictions, attributions)
        return list(configured), []
    models = sorted(set(predictions["model"].astype(str))) if "model" in predictions else []
    thesis = thesis_hypotheses()
    # Without attributions their hypotheses are not tested, but their models must
    # still be the run's: a default set never names a model the run lacks.
    chosen = [h for h in candidate_hypotheses(None, models)
              if not hypothesis_problems(h, predictions, attributions)]
    if not chosen:
        effects = probe_effect_hypotheses(predictions, measure)
        if not effects:
            return [], [f"no default hypothesis fits this run's models ({', '.join(models)}) "
                        "and it has no probed and original images to compare; set "
                        "analysis.hypotheses to test your own"]
        return effects, [f"analysis.hypotheses is unset and no thesis hypothesis fits this "
                         f"run's models ({', '.join(models)}): each probe's effect on each "
                         f"model is tested ({len(effects)} hypotheses: the probe lowers the "
                         f"model's {measure} relative to the original, over images)"]
    left_out = [h.id for h in thesis if h not in chosen]
    if not left_out:
        return chosen, [f"analysis.hypotheses is unset: the {len(chosen)} thesis hypotheses "
                        "are tested"]
    return chosen, [f"analysis.hypotheses is unset: the {len(chosen)} of {len(thesis)} "
                    "thesis hypotheses whose models, probes and levels are in the run are "
                    f"tested; left out: {', '.join(left_out)}"]


def _hypothesis_seed(seed: int, hypothesis_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(hypothesis_id.encode())])


@dataclass
class HypothesisResults:
    """``table``: one row per hypothesis (``hypotheses.parquet``); ``pairs``: every pair."""

    table: pd.DataFrame
    pairs: pd.DataFrame


def _describe(h: Hypothesis, pairs: Pairs, zero_method: str, alpha: float,
              notes: list[str]) -> dict[str, Any]:
    """The columns that describe a hypothesis and what could not be paired."""
    columns, ignored = source_of(h).describe(h)
    notes.extend(ignored)
    return {
        "hypothesis": h.id, "measure": h.measure, "model_a": h.model_a,
        "model_b": h.model_b or "", "alternative": h.alternative,
        "description": h.description, "source": h.source, "probe": h.probe or "",
        "levels": ",".join(map(str, h.levels)) if h.levels else "all",
        "relative_to": h.relative_to, "control": h.control, "normalize": h.normalize,
        "subset": h.subset, "n_missing_a": pairs.n_missing_a,
        "n_missing_b": pairs.n_missing_b, "n_missing": pairs.n_missing_a + pairs.n_missing_b,
        "zero_method": zero_method, "alpha": alpha, "direction": direction_text(h),
        "note": "; ".join(notes), **columns,
    }


def family_verdicts(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Holm-correct a family and give every hypothesis its verdict (:data:`VERDICT_RULE`).

    Parameters
    ----------
    table
        One row per hypothesis with ``p``, ``reverse_p``, ``effect_size`` and
        ``alternative``.
    alpha
        The family-wise error rate of "supported" and "the opposite holds" together.

    Returns
    -------
    A copy with ``p_holm``, ``reverse_p_holm``, ``supported`` and ``verdict``.
    """
    table = table.copy()
    level = alpha / 2  # one half of α for each direction
    table["p_holm"] = holm(table["p"].to_numpy(dtype=float))
    table["reverse_p_holm"] = holm(table["reverse_p"].to_numpy(dtype=float))
    effect = table["effect_size"].to_numpy(dtype=float)
    alternative = table["alternative"].to_numpy(dtype=object)
    points_the_way = np.where(alternative == "greater", effect > 0,
                              np.where(alternative == "less", effect < 0, True))
    p_holm = table["p_holm"].to_numpy(dtype=float)
    reverse = table["reverse_p_holm"].to_numpy(dtype=float)
    supported = np.isfinite(p_holm) & (p_holm < level) & points_the_way
    opposite = ~supported & np.isfinite(reverse) & (reverse < level)
    table["supported"] = supported.astype(bool)
    table["verdict"] = np.where(~np.isfinite(p_holm), "not tested",
                                np.where(supported, "supported",
                                         np.where(opposite, OPPOSITE, "not supported")))
    return table


def _interaction_inputs(interaction: pd.DataFrame | None,
                        images: pd.DataFrame | None, predictions: pd.DataFrame,
                        measure: str | None) -> pd.DataFrame:
    """The per-image interaction table, computed when not given.

    The measure is the one named, else the summary's ``measure`` column (so the
    images match the summary the analyze stage wrote), else the true-class logit.
    """
    if images is not None:
        return images
    if measure is None and interaction is not None and len(interaction) \
            and "measure" in interaction:
        measure = str(interaction["measure"].iloc[0])
    return _interaction_images(predictions, measure or "true_logit")


def _empty_pairs() -> pd.DataFrame:
    return pd.DataFrame(columns=PAIR_COLUMNS)


def _typed(table: pd.DataFrame, pair_tables: list[pd.DataFrame]) -> HypothesisResults:
    table = table[CONTRACT_COLUMNS + EXTRA_COLUMNS].reset_index(drop=True)
    for column in ("n", "n_pairs", "n_images", "n_zero"):
        table[column] = table[column].astype("int64")
    table["supported"] = table["supported"].astype(bool)
    pairs = pd.concat(pair_tables, ignore_index=True) if pair_tables else _empty_pairs()
    pairs["level"] = pd.to_numeric(pairs["level"], errors="coerce")
    for column in ("image_id", "variant", "control"):
        pairs[column] = pairs[column].astype("string")
    return HypothesisResults(table, pairs)


def evaluate_hypotheses(
    hypotheses: Sequence[Hypothesis],
    predictions: pd.DataFrame,
    attributions: pd.DataFrame | None = None,
    interaction: pd.DataFrame | None = None,
    *,
    interaction_images: pd.DataFrame | None = None,
    interaction_measure: str | None = None,
    settings: StatisticalTestSettings = StatisticalTestSettings(),
) -> HypothesisResults:
    """Test every hypothesis on the image level and give the family its verdicts.

    Parameters
    ----------
    hypotheses
        Usually ``config.analysis.hypotheses``.
    predictions, attributions
        The run's tables (``attributions`` None when the attribute stage has not run:
        its hypotheses are reported as not tested).
    interaction
        The per-(model, size) patch-interaction summary (``interaction.parquet``); only
        its ``measure`` is read, to recompute the per-image table when that is not given.
    interaction_images
        Per-(model, size, image) S and A
        (:func:`~localglobal.analysis.interaction.interaction_images`); computed from
        ``predictions`` when None and a hypothesis needs it.
    interaction_measure
        Predictions column of the patch interaction when it is computed here.
    settings
        The Wilcoxon zero method, the resamples and their seed, the H2 test's p and the
        verdicts' family-wise error rate (:data:`VERDICT_RULE`).

    Raises
    ------
    ValueError
        A hypothesis names a model, probe, level, control or measure not in the run.
    """
    validate_hypotheses(hypotheses, predictions, attributions)
    images = None
    if any(source_of(h).needs_interaction_images for h in hypotheses):
        images = _interaction_inputs(interaction, interaction_images, predictions,
                                     interaction_measure)
    tables = RunTables(predictions, attributions, images)
    rows, pair_tables = [], []
    for h in hypotheses:
        pairs = hypothesis_pairs(h, predictions, attributions, images)
        columns, notes = source_of(h).statistics(h, pairs, tables, settings,
                                                 _hypothesis_seed(settings.seed, h.id))
        row = _describe(h, pairs, settings.zero_method, settings.alpha,
                        [*pairs.notes, *notes])
        rows.append({**row, **columns, "n_images": columns["n"]})
        if len(pairs.table):
            pair_tables.append(pairs.table.assign(hypothesis=h.id)[PAIR_COLUMNS])
    columns = [c for c in CONTRACT_COLUMNS + EXTRA_COLUMNS
               if c not in ("p_holm", "reverse_p_holm", "supported", "verdict")]
    table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)
    return _typed(family_verdicts(table, settings.alpha), pair_tables)
