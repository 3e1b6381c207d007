"""Directional, paired comparisons of two models, declared as data in the configuration.

Each :class:`~localglobal.config.Hypothesis` names a measure, two models and a
direction. Its values are paired — by image, level and variant for predictions, by
image and control for attributions, by patch side for the patch interaction — and
the differences ``a − b`` are tested:

* the mean difference with a bootstrap 95 % interval that resamples whole images
  (several perturbations of one image are not independent);
* Shapiro–Wilk on the differences (is the paired t-test's assumption plausible?);
* the one-sided Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`) with the
  configured ``zero_method`` — ``"wilcox"`` (the default) drops zero differences
  before ranking, and the number of zeros is recorded as ``n_zero``;
* the paired t-test (:func:`scipy.stats.ttest_rel`), one-sided the same way;
* the matched-pairs rank-biserial correlation as the effect size, in [−1, 1],
  positive when ``a`` tends to exceed ``b``;
* Holm's step-down correction of the Wilcoxon p-values across the whole family.

A hypothesis is *supported* when its Holm-corrected p is below α and its effect
points in the stated direction. One that is not supported is marked *the opposite
holds* when the one-sided test in the reverse direction, Holm-corrected across the
family of reversed tests, is below α: "no effect" and "an effect the other way" are
different findings. A pair whose value is missing on one side is
counted (``n_missing_a``/``n_missing_b``) and named in ``note``, never dropped
silently.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from localglobal.analysis.stats import cluster_mean_ci
from localglobal.config import Hypothesis

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
    "direction", "note", "reverse_p_holm",
]
#: The verdict of a one-sided hypothesis whose opposite direction is significant.
OPPOSITE = "not supported: the opposite holds"
PAIR_COLUMNS = ["hypothesis", "image_id", "level", "variant", "control", "value_a", "value_b",
                "diff"]

#: Hypothesis measures of ``source = "interaction"`` and the interaction column they read.
INTERACTION_MEASURES = {"correlation": "r", "r": "r", "ratio": "ratio",
                        "median_ratio": "median_ratio"}
_SYMBOL = {"greater": ">", "less": "<", "two-sided": "≠"}


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class PairedResult:
    """Statistics of one set of paired differences ``a − b``."""

    n: int
    n_zero: int
    n_clusters: int
    mean_diff: float
    ci_low: float
    ci_high: float
    shapiro_p: float
    wilcoxon_stat: float
    wilcoxon_p: float
    t_p: float
    effect_size: float
    notes: tuple[str, ...] = field(default_factory=tuple)


def rank_biserial(diff: np.ndarray, zero_method: str = "wilcox") -> float:
    """Matched-pairs rank-biserial correlation of paired differences.

    ``(T+ − T−) / (T+ + T−)`` with T± the sums of the ranks of ``|diff|`` of the
    positive and negative differences, zeros treated as the Wilcoxon test treats
    them: ``"wilcox"`` drops them before ranking, ``"pratt"`` ranks then drops them,
    ``"zsplit"`` gives half their rank sum to each sign.

    Parameters
    ----------
    diff
        Shape (n,), the paired differences.

    Returns
    -------
    float in [−1, 1]: +1 when every difference is positive; NaN when there is no
    non-zero difference to rank.
    """
    d = np.asarray(diff, dtype=float)
    if zero_method == "wilcox":
        d = d[d != 0]
    if d.size == 0:
        return float("nan")
    ranks = stats.rankdata(np.abs(d))
    plus = ranks[d > 0].sum()
    minus = ranks[d < 0].sum()
    if zero_method == "zsplit":
        zero = ranks[d == 0].sum()
        plus, minus = plus + zero / 2, minus + zero / 2
    total = plus + minus
    return float((plus - minus) / total) if total > 0 else float("nan")


def holm(pvalues: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error control).

    The k-th smallest of m p-values is multiplied by ``m − k + 1``; the running
    maximum keeps the adjusted values in the order of the raw ones, capped at 1.
    NaN p-values are not part of the family and stay NaN.

    Parameters
    ----------
    pvalues
        Shape (m,).

    Returns
    -------
    Shape (m,), adjusted p-values in the input order.
    """
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    valid = np.isfinite(p)
    family = p[valid]
    m = family.size
    if m == 0:
        return adjusted
    order = np.argsort(family, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * family[order])
    result = np.empty(m)
    result[order] = np.minimum(stepped, 1.0)
    adjusted[valid] = result
    return adjusted


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    alternative: str = "greater",
    *,
    zero_method: str = "wilcox",
    n_resamples: int = 2000,
    rng: np.random.Generator | None = None,
    clusters: np.ndarray | None = None,
) -> PairedResult:
    """Test paired values ``a`` against ``b`` in the direction ``alternative``.

    Parameters
    ----------
    a, b
        Shape (n,), the paired values (finite).
    alternative
        ``"greater"``: a − b tends to be positive; ``"less"``; ``"two-sided"``.
    zero_method
        How :func:`scipy.stats.wilcoxon` treats zero differences.
    n_resamples, rng
        Bootstrap resamples and generator for the interval of the mean difference.
    clusters
        Shape (n,) labels of the unit the bootstrap resamples (the image); None
        resamples pairs.

    Returns
    -------
    PairedResult
        Undefined statistics are NaN, with the reason in ``notes``.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {a.shape} and {b.shape}")
    d = a - b
    n = int(d.size)
    nan = float("nan")
    if n == 0:
        return PairedResult(0, 0, 0, nan, nan, nan, nan, nan, nan, nan, nan,
                            ("no complete pairs",))
    notes: list[str] = []
    n_zero = int(np.count_nonzero(d == 0))
    n_clusters = int(np.unique(clusters).size) if clusters is not None else n
    mean_diff = float(d.mean())
    ci_low, ci_high = cluster_mean_ci(d, clusters, n_resamples=n_resamples, rng=rng)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if n < 3:
            shapiro_p = nan
            notes.append(f"Shapiro–Wilk needs at least 3 pairs (n={n})")
        elif np.ptp(d) == 0:
            shapiro_p = nan
            notes.append("all differences are equal: Shapiro–Wilk undefined")
        else:
            shapiro_p = float(stats.shapiro(d).pvalue)
            if n > 5000:
                notes.append("Shapiro–Wilk p is approximate for n > 5000")

        if n_zero == n:
            notes.append("all differences are zero")
        elif n_zero and zero_method == "wilcox":
            notes.append(f"{n_zero} zero differences dropped by the Wilcoxon test (wilcox)")
        try:
            result = stats.wilcoxon(d, zero_method=zero_method, alternative=alternative)
            wilcoxon_stat, wilcoxon_p = float(result.statistic), float(result.pvalue)
        except ValueError as error:
            wilcoxon_stat = wilcoxon_p = nan
            notes.append(f"Wilcoxon undefined: {error}")

        if n < 2:
            t_p = nan
            notes.append("paired t-test needs at least 2 pairs")
        else:
            t_p = float(stats.ttest_rel(a, b, alternative=alternative).pvalue)
            if not np.isfinite(t_p):
                notes.append("differences are constant: paired t-test undefined")

    effect = rank_biserial(d, zero_method)
    return PairedResult(n, n_zero, n_clusters, mean_diff, ci_low, ci_high, shapiro_p,
                        wilcoxon_stat, wilcoxon_p, t_p, effect, tuple(notes))


def reverse_wilcoxon_p(a: np.ndarray, b: np.ndarray, alternative: str,
                       zero_method: str = "wilcox") -> float:
    """One-sided Wilcoxon p of the direction opposite to ``alternative``.

    A hypothesis that is not supported may be so because there is no effect or
    because the effect runs the other way; this p tells them apart. NaN for a
    two-sided hypothesis or when the test is undefined.
    """
    opposite = {"greater": "less", "less": "greater"}.get(alternative)
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if opposite is None or d.size == 0 or not np.any(d != 0):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(stats.wilcoxon(d, zero_method=zero_method,
                                        alternative=opposite).pvalue)
        except ValueError:
            return float("nan")


# --------------------------------------------------------------------------- validation


def _listing(values: Sequence[object]) -> str:
    shown = sorted({str(v) for v in values})
    return ", ".join(shown) if shown else "(none)"


def validate_hypotheses(
    hypotheses: Sequence[Hypothesis],
    predictions: pd.DataFrame,
    attributions: pd.DataFrame | None = None,
) -> None:
    """Check that every hypothesis names models, probes, levels and measures in the run.

    Hypotheses on attributions are checked only when ``attributions`` is given (the
    attribute stage is optional); they are then reported as not tested.

    Raises
    ------
    ValueError
        Listing every problem and, for each, what the run holds instead.
    """
    problems: list[str] = []
    pred_models = set(predictions["model"].astype(str)) if "model" in predictions else set()
    pred_probes = set(predictions["probe"].astype(str)) if "probe" in predictions else set()
    numeric_pred = [c for c in predictions.columns if pd.api.types.is_numeric_dtype(predictions[c])]

    def check_models(h: Hypothesis, available: set[str], table: str) -> None:
        for model in (h.model_a, h.model_b):
            if model not in available:
                problems.append(f"hypothesis {h.id}: model {model!r} is not in {table}; "
                                f"models there: {_listing(available)}")

    def check_probe(h: Hypothesis, table_df: pd.DataFrame, table: str) -> None:
        available = set(table_df["probe"].astype(str)) if "probe" in table_df else set()
        if h.probe not in available:
            problems.append(f"hypothesis {h.id}: probe {h.probe!r} is not in {table}; "
                            f"probes there: {_listing(available)}")
            return
        if h.levels:
            present = set(table_df.loc[table_df["probe"] == h.probe, "level"].astype(int))
            absent = sorted(set(h.levels) - present)
            if absent:
                problems.append(f"hypothesis {h.id}: levels {absent} of probe {h.probe!r} are "
                                f"not in {table}; levels there: "
                                f"{', '.join(map(str, sorted(present))) or '(none)'}")

    for h in hypotheses:
        if h.source == "predictions":
            check_models(h, pred_models, "predictions.parquet")
            if h.probe is not None:
                check_probe(h, predictions, "predictions.parquet")
            if h.measure not in numeric_pred:
                problems.append(f"hypothesis {h.id}: measure {h.measure!r} is not a numeric "
                                f"column of predictions.parquet; columns: {_listing(numeric_pred)}")
            if h.relative_to == "original" and "original" not in pred_probes:
                problems.append(f"hypothesis {h.id}: relative_to = 'original' but "
                                "predictions.parquet has no original images")
        elif h.source == "interaction":
            check_models(h, pred_models, "predictions.parquet")
            if h.probe not in (None, "patch"):
                problems.append(f"hypothesis {h.id}: the patch interaction is defined on the "
                                f"patch probe only, not {h.probe!r}")
            elif "patch" not in pred_probes:
                problems.append(f"hypothesis {h.id}: probe 'patch' is not in predictions.parquet;"
                                f" probes there: {_listing(pred_probes)}")
            elif h.levels:
                check_probe(h.model_copy(update={"probe": "patch"}), predictions,
                            "predictions.parquet")
            if h.measure not in INTERACTION_MEASURES:
                problems.append(f"hypothesis {h.id}: interaction measure {h.measure!r} unknown; "
                                f"choose from {_listing(INTERACTION_MEASURES)}")
        elif attributions is not None:
            check_models(h, set(attributions["model"].astype(str)), "attributions.parquet")
            controls = set(attributions["control"].astype(str))
            if h.control not in controls:
                problems.append(f"hypothesis {h.id}: control {h.control!r} is not in "
                                f"attributions.parquet; controls there: {_listing(controls)}")
            numeric = [c for c in attributions.columns
                       if pd.api.types.is_numeric_dtype(attributions[c])]
            if h.measure not in numeric:
                problems.append(f"hypothesis {h.id}: measure {h.measure!r} is not a numeric "
                                f"column of attributions.parquet; columns: {_listing(numeric)}")
            if h.probe is not None and "probe" in attributions:
                probes = set(attributions["probe"].astype(str))
                if h.probe not in probes:
                    problems.append(f"hypothesis {h.id}: probe {h.probe!r} is not in "
                                    f"attributions.parquet; probes there: {_listing(probes)}")
    if problems:
        raise ValueError("analysis.hypotheses do not match the run:\n  " + "\n  ".join(problems)
                         + "\nevaluate the missing models, or edit or remove these "
                         "[[analysis.hypotheses]] in the run's config.toml")


# --------------------------------------------------------------------------- pairing


@dataclass
class Pairs:
    """The paired values of one hypothesis and what could not be paired."""

    table: pd.DataFrame  # PAIR_COLUMNS without "hypothesis"
    n_missing_a: int = 0
    n_missing_b: int = 0
    notes: list[str] = field(default_factory=list)
    clusters: np.ndarray | None = None


def _prediction_values(predictions: pd.DataFrame, h: Hypothesis, model: str) -> pd.DataFrame:
    rows = predictions[predictions["model"] == model]
    selected = rows
    if h.probe is not None:
        selected = selected[selected["probe"] == h.probe]
    elif h.relative_to == "original":
        selected = selected[selected["probe"] != "original"]
    if h.levels:
        selected = selected[selected["level"].isin(h.levels)]
    value = selected[h.measure].astype(float)
    if h.relative_to == "original":
        original = rows[rows["probe"] == "original"].groupby("image_id")[h.measure].mean()
        value = selected["image_id"].map(original).astype(float) - value
    out = selected[["image_id", "level", "variant"]].copy()
    out["variant"] = out["variant"].astype(str)
    out["value"] = value.to_numpy()
    return out


def _attribution_values(attributions: pd.DataFrame, h: Hypothesis, model: str) -> pd.DataFrame:
    rows = attributions[(attributions["model"] == model) & (attributions["control"] == h.control)]
    selected = rows
    if "probe" in rows:
        selected = rows[rows["probe"] == (h.probe or "original")]
    value = selected[h.measure].astype(float)
    if h.relative_to == "original" and "probe" in rows:
        original = rows[rows["probe"] == "original"].groupby("image_id")[h.measure].mean()
        value = selected["image_id"].map(original).astype(float) - value
    out = pd.DataFrame({"image_id": selected["image_id"].astype(str).to_numpy(),
                        "control": selected["control"].astype(str).to_numpy()})
    out["item_id"] = (selected["item_id"].astype(str).to_numpy() if "item_id" in selected
                      else out["image_id"])
    out["value"] = value.to_numpy()
    return out


def _interaction_values(interaction: pd.DataFrame, h: Hypothesis, model: str) -> pd.DataFrame:
    column = INTERACTION_MEASURES[h.measure]
    rows = interaction[interaction["model"] == model]
    if h.levels:
        rows = rows[rows["size"].isin(h.levels)]
    return pd.DataFrame({"level": rows["size"].astype(int).to_numpy(),
                         "value": rows[column].astype(float).to_numpy()})


def _pair(values_a: pd.DataFrame, values_b: pd.DataFrame, keys: list[str],
          h: Hypothesis, source: str) -> Pairs:
    for model, values in ((h.model_a, values_a), (h.model_b, values_b)):
        repeated = values[values.duplicated(keys, keep=False)]
        if len(repeated):
            example = "/".join(map(str, repeated[keys].iloc[0]))
            raise ValueError(f"hypothesis {h.id}: {source} holds {len(repeated)} rows of model "
                             f"{model!r} that share a pair key {keys} (e.g. {example}); "
                             "each key must occur once per model")
    merged = values_a.merge(values_b, on=keys, how="outer", suffixes=("_a", "_b"),
                            indicator=True)
    lacks_a = ~np.isfinite(merged["value_a"].to_numpy(dtype=float))
    lacks_b = ~np.isfinite(merged["value_b"].to_numpy(dtype=float))
    def examples(lacking: np.ndarray) -> str:
        # An item id already names image, probe, level and variant; else the whole key.
        shown = (merged.loc[lacking, "item_id"].astype(str) if "item_id" in keys else
                 merged.loc[lacking, keys].astype(str).agg("/".join, axis=1))
        return ", ".join(pd.unique(shown)[:3])

    notes = []
    both = lacks_a & lacks_b
    if both.any():
        notes.append(f"{int(both.sum())} pairs lack a value for both models, e.g. "
                     + examples(both))
    for side, model, lacking in (("a", h.model_a, lacks_a & ~both),
                                 ("b", h.model_b, lacks_b & ~both)):
        if lacking.any():
            notes.append(f"{int(lacking.sum())} pairs lack a value for model_{side} "
                         f"({model}), e.g. " + examples(lacking))
    complete = merged[~lacks_a & ~lacks_b].sort_values(keys, kind="stable")
    table = pd.DataFrame({
        "image_id": complete.get("image_id", None),
        "level": complete.get("level", np.nan),
        "variant": complete.get("variant", None),
        "control": complete.get("control", None),
        "value_a": complete["value_a"].astype(float),
        "value_b": complete["value_b"].astype(float),
    }).reset_index(drop=True)
    table["diff"] = table["value_a"] - table["value_b"]
    clusters = table["image_id"].to_numpy() if "image_id" in complete else None
    return Pairs(table, int(lacks_a.sum()), int(lacks_b.sum()), notes, clusters)


def hypothesis_pairs(
    h: Hypothesis,
    predictions: pd.DataFrame | None,
    attributions: pd.DataFrame | None = None,
    interaction: pd.DataFrame | None = None,
) -> Pairs:
    """The paired values ``a`` and ``b`` of one hypothesis.

    Parameters
    ----------
    h
        The hypothesis.
    predictions
        ``predictions.parquet`` (with image_id, probe, level, variant).
    attributions
        ``attributions.parquet``; None when the attribute stage has not run.
    interaction
        Per-(model, size) interaction summary from
        :func:`localglobal.analysis.interaction.patch_interaction`.
    """
    if h.source == "predictions":
        keys = ["image_id", "level", "variant"]
        return _pair(_prediction_values(predictions, h, h.model_a),
                     _prediction_values(predictions, h, h.model_b), keys, h,
                     "predictions.parquet")
    if h.source == "attributions":
        if attributions is None:
            empty = pd.DataFrame(columns=PAIR_COLUMNS[1:])
            return Pairs(empty, notes=["not tested: attributions.parquet is missing "
                                       "(the attribute stage has not run)"])
        keys = ["image_id", "control", "item_id"]
        return _pair(_attribution_values(attributions, h, h.model_a),
                     _attribution_values(attributions, h, h.model_b), keys, h,
                     "attributions.parquet")
    if interaction is None:
        raise ValueError(f"hypothesis {h.id}: the patch interaction table is needed")
    pairs = _pair(_interaction_values(interaction, h, h.model_a),
                  _interaction_values(interaction, h, h.model_b), ["level"], h,
                  "the patch-interaction table")
    pairs.notes.append("pairs are patch sides")
    return pairs


# --------------------------------------------------------------------------- evaluation


def direction_text(h: Hypothesis) -> str:
    """The hypothesis's direction in words, e.g. ``drop in true_prob: sin > rn``."""
    measure = h.measure
    if h.source == "interaction":
        measure = f"patch-interaction {h.measure}"
    elif h.relative_to == "original":
        measure = f"drop in {h.measure}"
    return f"{measure}: {h.model_a} {_SYMBOL[h.alternative]} {h.model_b}"


def _hypothesis_seed(seed: int, hypothesis_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(hypothesis_id.encode())])


@dataclass
class HypothesisResults:
    """``table``: one row per hypothesis (``hypotheses.parquet``); ``pairs``: every pair."""

    table: pd.DataFrame
    pairs: pd.DataFrame


def evaluate_hypotheses(
    hypotheses: Sequence[Hypothesis],
    predictions: pd.DataFrame,
    attributions: pd.DataFrame | None = None,
    interaction: pd.DataFrame | None = None,
    *,
    alpha: float = 0.05,
    zero_method: str = "wilcox",
    n_resamples: int = 2000,
    seed: int = 1,
) -> HypothesisResults:
    """Test every hypothesis and correct the family's p-values (Holm).

    Parameters
    ----------
    hypotheses
        Usually ``config.analysis.hypotheses``.
    predictions, attributions
        The run's tables (``attributions`` None when the attribute stage has not run:
        its hypotheses are reported as not tested).
    interaction
        Per-(model, size) patch-interaction summary; computed from ``predictions``
        when None and a hypothesis needs it.
    alpha
        Significance level of the verdict (on Holm-corrected p).
    zero_method
        Zero differences in the Wilcoxon test (see :func:`paired_test`).
    n_resamples, seed
        Bootstrap resamples and seed; each hypothesis draws from its own stream.

    Raises
    ------
    ValueError
        A hypothesis names a model, probe, level, control or measure not in the run.
    """
    validate_hypotheses(hypotheses, predictions, attributions)
    if interaction is None and any(h.source == "interaction" for h in hypotheses):
        from localglobal.analysis.interaction import patch_interaction

        interaction = patch_interaction(predictions, n_resamples=n_resamples, seed=seed).summary

    rows, pair_tables = [], []
    for h in hypotheses:
        pairs = hypothesis_pairs(h, predictions, attributions, interaction)
        result = paired_test(
            pairs.table["value_a"].to_numpy(dtype=float),
            pairs.table["value_b"].to_numpy(dtype=float),
            h.alternative, zero_method=zero_method, n_resamples=n_resamples,
            rng=_hypothesis_seed(seed, h.id), clusters=pairs.clusters,
        )
        notes = [*pairs.notes, *result.notes]
        reverse_p = reverse_wilcoxon_p(pairs.table["value_a"].to_numpy(dtype=float),
                                       pairs.table["value_b"].to_numpy(dtype=float),
                                       h.alternative, zero_method)
        if h.source == "attributions" and h.levels:
            notes.append("levels do not apply to attributions and were ignored")
        rows.append({
            "hypothesis": h.id, "measure": h.measure, "model_a": h.model_a,
            "model_b": h.model_b, "alternative": h.alternative, "n": result.n,
            "mean_diff": result.mean_diff, "ci_low": result.ci_low, "ci_high": result.ci_high,
            "shapiro_p": result.shapiro_p, "wilcoxon_stat": result.wilcoxon_stat,
            "wilcoxon_p": result.wilcoxon_p, "t_p": result.t_p,
            "effect_size": result.effect_size,
            "description": h.description, "source": h.source, "probe": h.probe or "",
            "levels": ",".join(map(str, h.levels)) if h.levels else "all",
            "relative_to": h.relative_to, "control": h.control,
            "n_images": result.n_clusters, "n_zero": result.n_zero,
            "n_missing_a": pairs.n_missing_a, "n_missing_b": pairs.n_missing_b,
            "n_missing": pairs.n_missing_a + pairs.n_missing_b, "zero_method": zero_method,
            "alpha": alpha, "direction": direction_text(h), "note": "; ".join(notes),
            "reverse_p": reverse_p,
        })
        if len(pairs.table):
            pair_tables.append(pairs.table.assign(hypothesis=h.id)[PAIR_COLUMNS])

    table = pd.DataFrame(rows)
    if table.empty:
        table = pd.DataFrame(columns=[*CONTRACT_COLUMNS, *EXTRA_COLUMNS, "reverse_p"])
    table["p_holm"] = holm(table["wilcoxon_p"].to_numpy(dtype=float))
    # The reversed directions form a family of their own, corrected the same way.
    table["reverse_p_holm"] = holm(table["reverse_p"].to_numpy(dtype=float))
    table["supported"] = [_supported(row, alpha) for row in table.itertuples()]
    table["verdict"] = [
        "not tested" if not np.isfinite(row.p_holm) else
        "supported" if row.supported else
        OPPOSITE if np.isfinite(row.reverse_p_holm) and row.reverse_p_holm < alpha else
        "not supported"
        for row in table.itertuples()
    ]
    table = table[CONTRACT_COLUMNS + EXTRA_COLUMNS]
    table["n"] = table["n"].astype("int64")
    table["supported"] = table["supported"].astype(bool)
    pairs = (pd.concat(pair_tables, ignore_index=True) if pair_tables
             else pd.DataFrame(columns=PAIR_COLUMNS))
    pairs["level"] = pd.to_numeric(pairs["level"], errors="coerce")
    for column in ("image_id", "variant", "control"):
        pairs[column] = pairs[column].astype("string")
    return HypothesisResults(table.reset_index(drop=True), pairs)


def _supported(row: Any, alpha: float) -> bool:
    if not np.isfinite(row.p_holm) or row.p_holm >= alpha:
        return False
    if row.alternative == "greater":
        return bool(row.effect_size > 0)
    if row.alternative == "less":
        return bool(row.effect_size < 0)
    return True
