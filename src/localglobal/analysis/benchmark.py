"""model-vs-human's benchmark metrics, computed its way, with bootstrap intervals.

Input is a ``geirhos_decisions`` table (models and human observers, with ``condition``).
Every observer is a decision maker; a trial is right when its decision is the
stimulus's category (a missing decision is wrong). Trials of two observers are matched
by (condition, image), the stimulus both saw. Per dataset (Geirhos et al. 2021,
``plotting/plot.py`` and ``plotting/analyses.py`` of bethgelab/model-vs-human):

- ``accuracy`` (OOD accuracy): the share of right trials over the dataset's benchmark
  conditions (:attr:`~localglobal.data.model_vs_human.Dataset.benchmark_conditions`:
  the control and the conditions where humans are near chance are left out), pooled;
  the ``humans`` row pools every human trial.
- ``accuracy_difference``: per condition, (accuracy − a human's accuracy)², averaged
  over the benchmark conditions, then over the human observers.
- ``observed_consistency``: per condition, the share of shared trials both observers got
  right or both wrong; averaged as above.
- ``error_consistency``: per condition, Cohen's kappa (observed − expected) / (1 −
  expected), expected = p1·p2 + (1 − p1)(1 − p2) from the two accuracies on the shared
  trials (1 where observed is 1, as model-vs-human has it); averaged as above.
- ``shape_bias`` (cue-conflict): shape / (shape + texture) decisions over the conflict
  trials, and beside it ``hit_rate``, the share of conflict trials decided as shape or
  as texture: a shape bias built on few hits says so. The ``humans`` row is the mean
  over the human observers of their own values.

A human observer's pair metrics compare it with every *other* human; the ``humans``
row is the mean over all pairs of human observers, the ceiling (model-vs-human's
human-to-human value). A dataset without a condition list (non-parametric) is one
condition.

Intervals: ``ci_low``/``ci_high`` are 95 % percentile intervals over bootstrap
resamples of the **trials**: each resample draws the stimuli of every condition with
replacement, the same draw for every observer (so pairs stay matched), and recomputes
every value. ``n`` counts the trials a value is computed over (for ``humans``, all
human trials); ``n_humans`` the human observers it is compared with or averaged over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from localglobal.analysis.geirhos_metrics import HUMANS, conflict_mask, require_columns
from localglobal.data.model_vs_human import SINGLE_CONDITION, dataset

METRICS = ("accuracy", "accuracy_difference", "observed_consistency", "error_consistency",
           "shape_bias", "hit_rate")
"""The metrics of ``benchmark.parquet``, in the order they are written."""
PAIR_METRICS = ("accuracy_difference", "observed_consistency", "error_consistency")
BENCHMARK_COLUMNS = ["observer", "kind", "dataset", "metric", "value", "n", "ci_low", "ci_high",
                     "n_humans"]
CONDITION_COLUMNS = ["observer", "kind", "dataset", "condition", "label", "position",
                     "benchmark", "metric", "value", "n"]
INPUT_COLUMNS = ["observer", "kind", "dataset", "image", "category", "texture", "decision"]


@dataclass
class Trials:
    """One dataset's trials as observers × stimuli arrays.

    Attributes
    ----------
    observers, kinds : list of str, length D
    conditions : list of str, length C (the dataset's order; unknown ones after)
    column_condition : ndarray, shape (N,), int
        Each stimulus's condition (index into ``conditions``).
    present, right : ndarray, shape (D, N), float
        Whether the observer has a trial of the stimulus, and got it right.
    shape, texture : ndarray, shape (D, N), float
        Conflict trials decided as the shape / as the texture (0 elsewhere).
    conflict : ndarray, shape (N,), bool
    benchmark : ndarray, shape (C,), bool
        Whether a condition counts in the benchmark's averages.
    """

    observers: list[str]
    kinds: list[str]
    conditions: list[str]
    column_condition: np.ndarray
    present: np.ndarray
    right: np.ndarray
    shape: np.ndarray
    texture: np.ndarray
    conflict: np.ndarray
    benchmark: np.ndarray

    @property
    def humans(self) -> np.ndarray:
        """Indices of the human observers."""
        return np.array([i for i, k in enumerate(self.kinds) if k == "human"], dtype=int)


def _conditions(name: str, found: pd.Series) -> list[str]:
    known = list(dataset(name).conditions) or [SINGLE_CONDITION]
    seen = set(found)
    extra = sorted(seen - set(known))
    return [c for c in known if c in seen] + extra


def dataset_trials(decisions: pd.DataFrame, name: str) -> Trials:
    """The trials of dataset ``name`` in ``decisions`` as arrays (see :class:`Trials`)."""
    rows = decisions[decisions["dataset"] == name]
    condition = (rows["condition"].astype(str) if "condition" in rows
                 else pd.Series(SINGLE_CONDITION, index=rows.index))
    key = condition + "\x00" + rows["image"].astype(str)
    rows = rows.assign(_key=key.to_numpy(), _condition=condition.to_numpy())
    rows = rows.drop_duplicates(["observer", "_key"], keep="first")
    decision = rows["decision"].astype(object)
    right = (decision == rows["category"].astype(object)).to_numpy(dtype=float)
    conflict_rows = conflict_mask(rows).to_numpy()
    shape = right * conflict_rows
    texture = (decision == rows["texture"].astype(object)).to_numpy(dtype=float) * conflict_rows
    observers = sorted(rows["observer"].astype(str).unique(),
                       key=lambda o: (o.startswith("subject-"), o))
    kinds_by = dict(zip(rows["observer"].astype(str), rows["kind"].astype(str), strict=False))
    kinds = [kinds_by[o] for o in observers]
    keys = sorted(rows["_key"].unique())
    row_of = {o: i for i, o in enumerate(observers)}
    col_of = {k: j for j, k in enumerate(keys)}
    r = rows["observer"].astype(str).map(row_of).to_numpy()
    c = rows["_key"].map(col_of).to_numpy()
    shape_d = (len(observers), len(keys))
    present = np.zeros(shape_d)
    present[r, c] = 1.0
    arrays = {}
    for label, values in (("right", right), ("shape", shape), ("texture", texture)):
        array = np.zeros(shape_d)
        array[r, c] = values
        arrays[label] = array
    conflict = np.zeros(len(keys), dtype=bool)
    conflict[c] = conflict_rows
    conditions = _conditions(name, rows["_condition"])
    cond_index = {cond: k for k, cond in enumerate(conditions)}
    column_condition = np.array([cond_index[k.split("\x00", 1)[0]] for k in keys], dtype=int)
    excluded = set(dataset(name).excluded)
    benchmark = np.array([cond not in excluded for cond in conditions])
    return Trials(observers, kinds, conditions, column_condition, present, arrays["right"],
                  arrays["shape"], arrays["texture"], conflict, benchmark)


def _weighted_sums(weights: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``weights`` (B, n) times ``matrix`` (M, n), summed over the n stimuli: (B, M).

    Every operand is a whole number, so the sums are exact in any order. numpy's own
    loop, not BLAS: on matrices this small BLAS's thread pool costs a hundred times the
    product when the CPU is busy (with a model's forward pass, or with other work).
    """
    return np.einsum("bn,mn->bm", weights, matrix, optimize=False)


def _condition_products(trials: Trials) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per condition, its stimuli and the trial products every weighting sums.

    For condition k: its columns, and a (2D + 4D², n) matrix whose rows are, per
    stimulus, ``present`` and ``right`` of each observer, then for each ordered pair
    (a, b) both present, both right, both wrong, and a right with b present. One
    product with a weighting gives every count of the condition at once; the counts are
    sums of whole numbers, exact in float64 whatever the order of summation.
    """
    present, right = trials.present, trials.right
    wrong = present - right
    d = len(trials.observers)
    products = []
    for k in range(len(trials.conditions)):
        cols = np.flatnonzero(trials.column_condition == k)
        p, r, x = present[:, cols], right[:, cols], wrong[:, cols]
        pairs = [(a[:, None, :] * b[None, :, :]).reshape(d * d, len(cols))
                 for a, b in ((p, p), (r, r), (x, x), (r, p))]
        products.append((cols, np.concatenate([p, r, *pairs])))
    return products


def _pair_condition_metrics(trials: Trials, weights: np.ndarray,
                            products: list[tuple[np.ndarray, np.ndarray]] | None = None
                            ) -> dict[str, np.ndarray]:
    """Per-condition metrics of every ordered pair, for B weightings of the stimuli.

    Parameters
    ----------
    weights : ndarray, shape (B, N)
    products : list, optional
        :func:`_condition_products` of ``trials`` (computed here when not given).

    Returns
    -------
    dict
        ``accuracy`` (B, C, D); ``accuracy_difference``, ``observed_consistency``,
        ``error_consistency`` (B, C, D, D), NaN where undefined.
    """
    b_count, c_count, d = len(weights), len(trials.conditions), len(trials.observers)
    accuracy = np.full((b_count, c_count, d), np.nan)
    pairs = {m: np.full((b_count, c_count, d, d), np.nan) for m in PAIR_METRICS}
    square = (b_count, d, d)
    for k, (cols, matrix) in enumerate(products or _condition_products(trials)):
        counts = _weighted_sums(weights[:, cols], matrix)  # (B, 2D + 4D²)
        own, right = counts[:, :d], counts[:, d:2 * d]
        shared, both_right, both_wrong, right_a = (
            counts[:, 2 * d + j * d * d:2 * d + (j + 1) * d * d].reshape(square)
            for j in range(4))
        right_b = right_a.transpose(0, 2, 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = right / own
            accuracy[:, k] = np.where(own > 0, acc, np.nan)
            observed = (both_right + both_wrong) / shared
            p1, p2 = right_a / shared, right_b / shared
            expected = p1 * p2 + (1 - p1) * (1 - p2)
            kappa = np.where(observed >= 1 - 1e-12, 1.0,
                             (observed - expected) / (1 - expected))
        defined = shared > 0
        diff = (acc[:, :, None] - acc[:, None, :]) ** 2
        pairs["accuracy_difference"][:, k] = np.where(
            (own[:, :, None] > 0) & (own[:, None, :] > 0), diff, np.nan)
        pairs["observed_consistency"][:, k] = np.where(defined, observed, np.nan)
        pairs["error_consistency"][:, k] = np.where(defined, kappa, np.nan)
    return {"accuracy": accuracy, **pairs}


def _nanmean(values: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    count = finite.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _dataset_values(trials: Trials, weights: np.ndarray,
                    products: list[tuple[np.ndarray, np.ndarray]] | None = None
                    ) -> dict[str, np.ndarray]:
    """Dataset-level values per observer (B, D+1): the last column is ``humans``."""
    per = _pair_condition_metrics(trials, weights, products)
    humans = trials.humans
    bench_cols = trials.benchmark[trials.column_condition]
    out: dict[str, np.ndarray] = {}
    w_b = weights * bench_cols  # (B, N)
    own = _weighted_sums(w_b, trials.present)
    right = _weighted_sums(w_b, trials.right)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = right / own
        human_total = own[:, humans].sum(axis=1) if len(humans) else np.zeros(len(weights))
        human_right = right[:, humans].sum(axis=1) if len(humans) else 0.0
        pooled = human_right / human_total
    out["accuracy"] = np.concatenate([np.where(own > 0, acc, np.nan), pooled[:, None]], axis=1)
    d = len(trials.observers)
    for metric in PAIR_METRICS:
        values = per[metric][:, trials.benchmark]  # (B, Cb, D, D)
        by_pair = _nanmean(values, axis=1)  # mean over conditions: (B, D, D)
        with_humans = np.full((len(weights), d), np.nan)
        for i in range(d):
            others = [h for h in humans if h != i]
            if others:
                with_humans[:, i] = _nanmean(by_pair[:, i, others], axis=1)
        if len(humans) > 1:
            upper = [(a, b) for ai, a in enumerate(humans) for b in humans[ai + 1:]]
            ceiling = _nanmean(np.stack([by_pair[:, a, b] for a, b in upper], axis=1), axis=1)
        else:
            ceiling = np.full(len(weights), np.nan)
        out[metric] = np.concatenate([with_humans, ceiling[:, None]], axis=1)
    if trials.conflict.any():
        w_c = weights * trials.conflict
        shape, texture = _weighted_sums(w_c, trials.shape), _weighted_sums(w_c, trials.texture)
        judged = _weighted_sums(w_c, trials.present)
        with np.errstate(invalid="ignore", divide="ignore"):
            bias = np.where(shape + texture > 0, shape / (shape + texture), np.nan)
            hits = np.where(judged > 0, (shape + texture) / judged, np.nan)
        human_mean = (_nanmean(bias[:, humans], axis=1) if len(humans)
                      else np.full(len(weights), np.nan))
        human_hits = (_nanmean(hits[:, humans], axis=1) if len(humans)
                      else np.full(len(weights), np.nan))
        out["shape_bias"] = np.concatenate([bias, human_mean[:, None]], axis=1)
        out["hit_rate"] = np.concatenate([hits, human_hits[:, None]], axis=1)
    return out


def _resample_weights(trials: Trials, n_resamples: int, rng: np.random.Generator,
                      chunk: int) -> np.ndarray:
    """Bootstrap counts (chunk, N): the stimuli of each condition drawn with replacement."""
    weights = np.zeros((chunk, len(trials.column_condition)))
    for k in range(len(trials.conditions)):
        cols = np.flatnonzero(trials.column_condition == k)
        if len(cols):
            weights[:, cols] = rng.multinomial(len(cols), np.full(len(cols), 1 / len(cols)),
                                               size=chunk)
    return weights


def _counts(trials: Trials) -> dict[str, np.ndarray]:
    """``n`` per observer (and humans last) for each metric."""
    bench = trials.benchmark[trials.column_condition]
    n_bench = (trials.present * bench).sum(axis=1)
    n_conflict = (trials.present * trials.conflict).sum(axis=1)
    humans = trials.humans
    return {"bench": np.append(n_bench, n_bench[humans].sum()),
            "conflict": np.append(n_conflict, n_conflict[humans].sum())}


def dataset_benchmark(trials: Trials, name: str, *, n_resamples: int = 1000,
                      level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """``benchmark.parquet``'s rows of one dataset (see the module docstring)."""
    products = _condition_products(trials)
    point = _dataset_values(trials, np.ones((1, len(trials.column_condition))), products)
    draws: dict[str, list[np.ndarray]] = {m: [] for m in point}
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_resamples, 100))
    done = 0
    while done < n_resamples:
        size = min(chunk, n_resamples - done)
        values = _dataset_values(trials, _resample_weights(trials, size, rng, size), products)
        for metric, array in values.items():
            draws[metric].append(array)
        done += size
    counts = _counts(trials)
    names = [*trials.observers, HUMANS]
    kinds = [*trials.kinds, "human"]
    n_humans = len(trials.humans)
    tail = 100 * (1 - level) / 2
    rows = []
    for metric in METRICS:
        if metric not in point:
            continue
        sample = np.concatenate(draws[metric]) if draws[metric] else None
        for i, (observer, kind) in enumerate(zip(names, kinds, strict=True)):
            value = float(point[metric][0, i])
            low = high = np.nan
            if sample is not None:
                finite = sample[:, i][np.isfinite(sample[:, i])]
                if finite.size >= max(2, 0.5 * len(sample)):
                    low, high = np.percentile(finite, [tail, 100 - tail])
            is_pair = metric in PAIR_METRICS
            if is_pair and observer != HUMANS and kind == "human":
                compared = n_humans - 1
            else:
                compared = n_humans
            n = counts["conflict" if metric in {"shape_bias", "hit_rate"} else "bench"][i]
            rows.append({"observer": observer, "kind": kind, "dataset": name,
                         "metric": metric, "value": value, "n": int(n),
                         "ci_low": float(low), "ci_high": float(high),
                         "n_humans": int(compared)})
    return pd.DataFrame(rows, columns=BENCHMARK_COLUMNS)


def condition_table(trials: Trials, name: str) -> pd.DataFrame:
    """Per-condition values for the curves: accuracy, observed and error consistency.

    Returns
    -------
    DataFrame with :data:`CONDITION_COLUMNS`: per observer and condition its
    ``accuracy`` (n = its trials there), and, against the human observers (the mean over
    them; for a human, over the others), ``observed_consistency`` and
    ``error_consistency``; ``humans`` rows hold the humans' pooled accuracy and the mean
    over pairs of humans. ``benchmark`` says whether the condition counts in the
    benchmark's averages, ``position`` is its place on the curve's axis.
    """
    per = _pair_condition_metrics(trials, np.ones((1, len(trials.column_condition))))
    info = dataset(name)
    humans = trials.humans
    rows = []
    for k, condition in enumerate(trials.conditions):
        cols = trials.column_condition == k
        n_own = trials.present[:, cols].sum(axis=1)
        base = {"dataset": name, "condition": condition, "label": info.label(condition),
                "position": k, "benchmark": bool(trials.benchmark[k])}
        for i, (observer, kind) in enumerate(zip(trials.observers, trials.kinds, strict=True)):
            rows.append({**base, "observer": observer, "kind": kind, "metric": "accuracy",
                         "value": float(per["accuracy"][0, k, i]), "n": int(n_own[i])})
            others = [h for h in humans if h != i]
            for metric in ("observed_consistency", "error_consistency"):
                value = (float(_nanmean(per[metric][0, k, i, others], axis=0)) if others
                         else np.nan)
                rows.append({**base, "observer": observer, "kind": kind, "metric": metric,
                             "value": value, "n": int(n_own[i])})
        if len(humans):
            total = n_own[humans].sum()
            right = trials.right[np.ix_(humans, np.flatnonzero(cols))].sum()
            rows.append({**base, "observer": HUMANS, "kind": "human", "metric": "accuracy",
                         "value": float(right / total) if total else np.nan, "n": int(total)})
            upper = [(a, b) for ai, a in enumerate(humans) for b in humans[ai + 1:]]
            for metric in ("observed_consistency", "error_consistency"):
                values = np.array([per[metric][0, k, a, b] for a, b in upper])
                rows.append({**base, "observer": HUMANS, "kind": "human", "metric": metric,
                             "value": float(_nanmean(values, axis=0)) if len(values) else np.nan,
                             "n": int(total)})
    return pd.DataFrame(rows, columns=CONDITION_COLUMNS)


def benchmark_tables(decisions: pd.DataFrame, *, n_resamples: int = 1000, level: float = 0.95,
                     seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``benchmark.parquet`` and the per-condition table of every dataset in ``decisions``.

    Parameters
    ----------
    decisions : DataFrame
        ``geirhos_decisions`` rows (:data:`INPUT_COLUMNS`, and ``condition``).
    n_resamples : int
        Bootstrap resamples of the trials (0: no intervals).
    level : float
        Coverage of the percentile intervals.
    seed : int
        Seed of the resampling.

    Returns
    -------
    (benchmark, conditions) : DataFrames with :data:`BENCHMARK_COLUMNS` and
    :data:`CONDITION_COLUMNS`. A dataset without human observers has ``accuracy`` (and
    shape bias) only: the pair metrics need humans.
    """
    require_columns(decisions, INPUT_COLUMNS, "Geirhos decisions")
    tables, curves = [], []
    for name in dict.fromkeys(decisions["dataset"].astype(str)):
        trials = dataset_trials(decisions, name)
        table = dataset_benchmark(trials, name, n_resamples=n_resamples, level=level,
                                  seed=seed)
        if not len(trials.humans):
            table = table[~table["metric"].isin(PAIR_METRICS) & (table["observer"] != HUMANS)]
        tables.append(table)
        curves.append(condition_table(trials, name))
    benchmark = (pd.concat(tables, ignore_index=True) if tables
                 else pd.DataFrame(columns=BENCHMARK_COLUMNS))
    conditions = (pd.concat(curves, ignore_index=True) if curves
                  else pd.DataFrame(columns=CONDITION_COLUMNS))
    return benchmark, conditions


RANKING_COLUMNS = ["observer", "kind", "datasets", "accuracy", "accuracy_difference",
                   "observed_consistency", "error_consistency", "rank_accuracy_difference",
                   "rank_observed_consistency", "rank_error_consistency", "mean_rank",
                   "rank_ood"]


def rankings(benchmark: pd.DataFrame) -> pd.DataFrame:
    """model-vs-human's two rankings of the models, from ``benchmark.parquet``.

    Each metric is averaged over the datasets an observer has it on (model-vs-human
    averages over its 17). "Most human-like" ranks the models by accuracy difference
    (lower is better), observed consistency and error consistency (higher is better)
    and orders them by the mean of the three ranks; "OOD robustness" ranks them by
    accuracy (``rank_ood``). The humans' row (the ceiling) is listed, not ranked.

    Returns
    -------
    DataFrame with :data:`RANKING_COLUMNS`, models by ``mean_rank`` then the humans.
    """
    shown = benchmark[(benchmark["kind"] == "model") | (benchmark["observer"] == HUMANS)]
    if not len(shown):
        return pd.DataFrame(columns=RANKING_COLUMNS)
    means = shown.pivot_table(index=["observer", "kind"], columns="metric", values="value",
                              aggfunc="mean").reset_index()
    count = shown.groupby(["observer", "kind"])["dataset"].nunique().rename("datasets")
    means = means.merge(count.reset_index(), on=["observer", "kind"])
    for metric in ("accuracy", *PAIR_METRICS):
        if metric not in means:
            means[metric] = np.nan
    models = means["kind"] == "model"
    ranks = {"rank_accuracy_difference": ("accuracy_difference", True),
             "rank_observed_consistency": ("observed_consistency", False),
             "rank_error_consistency": ("error_consistency", False),
             "rank_ood": ("accuracy", False)}
    for column, (metric, ascending) in ranks.items():
        means[column] = np.nan
        means.loc[models, column] = means.loc[models, metric].rank(ascending=ascending)
    means["mean_rank"] = means[["rank_accuracy_difference", "rank_observed_consistency",
                                "rank_error_consistency"]].mean(axis=1, skipna=False)
    means = means.sort_values(["kind", "mean_rank", "rank_ood", "observer"],
                              key=lambda s: s.map({"model": 0, "human": 1}) if s.name == "kind"
                              else s, na_position="last")
    return means[RANKING_COLUMNS].reset_index(drop=True)


__all__ = ["BENCHMARK_COLUMNS", "CONDITION_COLUMNS", "METRICS", "RANKING_COLUMNS", "Trials",
           "benchmark_tables", "condition_table", "dataset_benchmark", "dataset_trials",
           "rankings"]
