"""Error consistency: do two observers get the *same* trials right and wrong?

Geirhos, Meding & Wichmann (NeurIPS 2020): each trial is correct (decision == the
stimulus's shape category) or not. For two observers, on the n trials (stimuli of
one dataset) that both have,

- ``observed`` = share of those trials where both are right or both are wrong;
- ``p1``, ``p2`` = their accuracies on the same trials;
- ``expected`` = p1·p2 + (1 − p1)(1 − p2), the agreement of two independent
  observers with these accuracies;
- ``kappa`` = (observed − expected) / (1 − expected), Cohen's kappa: 0 is the
  agreement chance gives, 1 the same errors on every trial. It is NaN where
  ``expected`` is 1 (both always right, or both always wrong: nothing to compare),
  where model-vs-human reports 1.

A trial whose decision is missing (a human's ``na``) counts as an error, as in
model-vs-human; with ``missing="drop"`` it is left out for both observers instead.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from localglobal.analysis.geirhos_metrics import HUMANS, require_columns

INPUT_COLUMNS = ["observer", "kind", "dataset", "image", "category", "decision"]
COLUMNS = ["dataset", "a", "b", "n", "observed", "expected", "kappa", "kind_a", "kind_b",
           "pair", "p_a", "p_b"]
SUMMARY_COLUMNS = ["dataset", "observer", "kind", "n_pairs", "kappa", "kappa_std",
                   "observed", "expected"]


def cohen_kappa(correct_a: np.ndarray, correct_b: np.ndarray) -> dict[str, float]:
    """Error consistency of two observers on the same trials.

    Parameters
    ----------
    correct_a, correct_b : array of bool, shape (n,)
        Whether each observer got trial i right.

    Returns
    -------
    dict
        ``n``, ``observed``, ``expected``, ``kappa``, ``p_a``, ``p_b`` (all NaN but
        ``n`` for n = 0; ``kappa`` NaN where ``expected`` is 1).
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"correctness vectors must be 1-D and alike, got {a.shape}, {b.shape}")
    n = len(a)
    both_right, both_wrong = int((a & b).sum()), int((~a & ~b).sum())
    return _kappa(n, both_right, both_wrong, int(a.sum()), int(b.sum()))


def _kappa(n: int, both_right: int, both_wrong: int, right_a: int,
           right_b: int) -> dict[str, float]:
    """Cohen's kappa from counts; exact integer test of expected == 1."""
    if n == 0:
        nan = float("nan")
        return {"n": 0, "observed": nan, "expected": nan, "kappa": nan, "p_a": nan, "p_b": nan}
    agree = right_a * right_b + (n - right_a) * (n - right_b)  # expected · n²
    observed = (both_right + both_wrong) / n
    expected = agree / n**2
    kappa = (observed - expected) / (1 - expected) if agree != n**2 else float("nan")
    return {"n": n, "observed": observed, "expected": expected, "kappa": kappa,
            "p_a": right_a / n, "p_b": right_b / n}


def correctness_matrix(decisions: pd.DataFrame,
                       missing: Literal["error", "drop"] = "error"
                       ) -> tuple[list[str], list[str], np.ndarray]:
    """One dataset's trials as an observers × stimuli matrix of correctness.

    Parameters
    ----------
    decisions : DataFrame
        ``geirhos_decisions`` rows of one dataset.
    missing : {"error", "drop"}
        A missing decision counts as wrong, or as no trial.

    Returns
    -------
    observers : list of str, length D
    images : list of str, length N
    matrix : ndarray, shape (D, N), float
        1 right, 0 wrong, NaN where the observer has no trial on that stimulus.
    """
    rows = decisions.drop_duplicates(["observer", "image"], keep="first")
    if missing == "drop":
        rows = rows[rows["decision"].notna()]
    elif missing != "error":
        raise ValueError(f"missing must be 'error' or 'drop', got {missing!r}")
    correct = (rows["decision"].astype(object) == rows["category"].astype(object))
    frame = pd.DataFrame({"observer": rows["observer"].astype(str).to_numpy(),
                          "image": rows["image"].astype(str).to_numpy(),
                          "correct": correct.to_numpy(dtype=float)})
    wide = frame.pivot(index="observer", columns="image", values="correct")
    return list(wide.index), list(wide.columns), wide.to_numpy(dtype=float)


def _pair_kind(kind_a: str, kind_b: str) -> str:
    return "-".join(sorted((kind_a, kind_b), key=lambda k: (k != "model", k)))


def error_consistency(decisions: pd.DataFrame,
                      missing: Literal["error", "drop"] = "error") -> pd.DataFrame:
    """Error consistency of every pair of observers, per dataset.

    Parameters
    ----------
    decisions : DataFrame
        ``geirhos_decisions`` rows (:data:`INPUT_COLUMNS`), models and humans.
    missing : {"error", "drop"}
        How a missing decision counts (see the module docstring).

    Returns
    -------
    DataFrame with :data:`COLUMNS`: per dataset one row per unordered pair, models
    before humans (a model–human pair has the model as ``a``), each group sorted by
    name; ``n`` the shared trials, ``p_a``/``p_b`` the accuracies on them, ``pair``
    one of ``model-model``, ``model-human``, ``human-human``.
    """
    require_columns(decisions, INPUT_COLUMNS, "Geirhos decisions")
    kinds = dict(zip(decisions["observer"].astype(str), decisions["kind"].astype(str),
                     strict=True))
    rows = []
    for dataset, group in decisions.groupby("dataset", sort=True):
        observers, _, matrix = correctness_matrix(group, missing)
        order = sorted(range(len(observers)),
                       key=lambda i: (kinds[observers[i]] != "model", observers[i]))
        names = [observers[i] for i in order]
        present = np.isfinite(matrix[order]).astype(float)  # (D, N)
        right = np.nan_to_num(matrix[order]) * present
        wrong = present - right
        shared = present @ present.T
        both_right, both_wrong = right @ right.T, wrong @ wrong.T
        right_a, right_b = right @ present.T, present @ right.T
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                values = _kappa(int(shared[i, j]), int(both_right[i, j]),
                                int(both_wrong[i, j]), int(right_a[i, j]), int(right_b[i, j]))
                ka, kb = kinds[names[i]], kinds[names[j]]
                rows.append({"dataset": str(dataset), "a": names[i], "b": names[j], **values,
                             "kind_a": ka, "kind_b": kb, "pair": _pair_kind(ka, kb)})
    return pd.DataFrame(rows, columns=COLUMNS)


def summarise_error_consistency(pairs: pd.DataFrame) -> pd.DataFrame:
    """Each observer's mean error consistency with the human observers, per dataset.

    Parameters
    ----------
    pairs : DataFrame
        From :func:`error_consistency`.

    Returns
    -------
    DataFrame with :data:`SUMMARY_COLUMNS`: per dataset one row per observer (its
    mean ``kappa``, ``observed`` and ``expected`` over its pairs with every *other*
    human; ``kappa_std`` their standard deviation, ddof 1) and a ``humans`` row, the
    mean over all human–human pairs (equal to the mean of the humans' own rows).
    Pairs whose kappa is NaN are left out of the means and of ``n_pairs``.
    """
    rows = []
    for dataset, group in pairs.groupby("dataset", sort=True):
        group = group[np.isfinite(group["kappa"].to_numpy(dtype=float))]
        with_humans = pd.concat([
            group[group["kind_b"] == "human"].rename(columns={"a": "observer", "kind_a": "kind"}),
            group[group["kind_a"] == "human"].rename(columns={"b": "observer", "kind_b": "kind"}),
        ])
        for (observer, kind), mine in with_humans.groupby(["observer", "kind"], sort=True):
            rows.append(_summary_row(dataset, observer, kind, mine))
        human_pairs = group[group["pair"] == "human-human"]
        if len(human_pairs):
            rows.append(_summary_row(dataset, HUMANS, "human", human_pairs))
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _summary_row(dataset: str, observer: str, kind: str, pairs: pd.DataFrame) -> dict:
    kappa = pairs["kappa"].to_numpy(dtype=float)
    return {"dataset": dataset, "observer": observer, "kind": kind, "n_pairs": len(pairs),
            "kappa": float(kappa.mean()),
            "kappa_std": float(kappa.std(ddof=1)) if len(kappa) > 1 else float("nan"),
            "observed": float(pairs["observed"].mean()),
            "expected": float(pairs["expected"].mean())}
