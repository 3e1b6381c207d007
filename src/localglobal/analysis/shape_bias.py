"""Geirhos et al.'s shape bias on cue-conflict stimuli.

A cue-conflict image has the shape of one class and the texture of another. Of a
model's decisions, only those for the shape class or the texture class count;
``shape_bias = n_shape / (n_shape + n_texture)``: 1 is a model that always follows
shape, 0 one that always follows texture. Stimuli whose shape and texture class are
the same carry no conflict and are left out (counted in ``n_excluded``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from localglobal.analysis.statistics import wilson_interval

INPUT_COLUMNS = ["model", "shape_wnid", "texture_wnid", "pred_wnid"]
COLUMNS = ["model", "n", "n_shape", "n_texture", "shape_bias", "n_other", "n_excluded",
           "ci_low", "ci_high"]


def shape_bias(cue_conflict: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Shape bias per model from cue-conflict predictions.

    Parameters
    ----------
    cue_conflict
        One row per (model, stimulus) with
        ``model, shape_wnid, texture_wnid, pred_wnid`` (``path`` and ``pred_index``
        are carried along but not needed).
    level
        Coverage of the Wilson interval of the shape bias.

    Returns
    -------
    DataFrame with :data:`COLUMNS`: ``n`` conflict stimuli judged, ``n_shape`` and
    ``n_texture`` decisions for the shape and the texture class, ``n_other``
    decisions for neither, ``shape_bias`` (NaN when no decision went to either class)
    and its Wilson interval ``ci_low``/``ci_high``.

    Raises
    ------
    ValueError
        When a needed column is missing.
    """
    missing = [c for c in INPUT_COLUMNS if c not in cue_conflict]
    if missing:
        raise ValueError(f"cue-conflict predictions lack columns {missing}; "
                         f"columns there: {list(cue_conflict.columns)}")
    rows = []
    for model, group in cue_conflict.groupby("model", sort=True):
        shape = group["shape_wnid"].astype(str)
        texture = group["texture_wnid"].astype(str)
        predicted = group["pred_wnid"].astype(str)
        conflict = shape != texture
        n_shape = int((conflict & (predicted == shape)).sum())
        n_texture = int((conflict & (predicted == texture)).sum())
        n = int(conflict.sum())
        decided = n_shape + n_texture
        low, high = wilson_interval(n_shape, decided, level)
        rows.append({
            "model": str(model), "n": n, "n_shape": n_shape, "n_texture": n_texture,
            "shape_bias": n_shape / decided if decided else np.nan,
            "n_other": n - decided, "n_excluded": int((~conflict).sum()),
            "ci_low": low, "ci_high": high,
        })
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    return pd.DataFrame(rows)[COLUMNS]
