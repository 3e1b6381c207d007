"""Shape bias: shape / (shape + texture) on conflicting stimuli only."""

import numpy as np
import pandas as pd
import pytest

from localglobal.analysis.shape_bias import COLUMNS, shape_bias


def stimuli(model: str, decisions: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"model": model, "path": f"{k}.png", "shape_wnid": s,
                          "texture_wnid": t, "pred_wnid": p, "pred_index": 0}
                         for k, (s, t, p) in enumerate(decisions)])


def test_counts_shape_and_texture_decisions_and_ignores_others():
    table = stimuli("m", [
        ("cat", "dog", "cat"), ("cat", "dog", "cat"), ("cat", "dog", "cat"),  # shape ×3
        ("car", "cat", "cat"),  # texture
        ("dog", "car", "boat"),  # neither: ignored
        ("dog", "dog", "dog"),  # no conflict: excluded
    ])
    row = shape_bias(table).iloc[0]
    assert list(shape_bias(table).columns) == COLUMNS
    assert (row["n"], row["n_shape"], row["n_texture"], row["n_other"], row["n_excluded"]) == (
        5, 3, 1, 1, 1)
    assert row["shape_bias"] == pytest.approx(3 / 4)
    assert row["ci_low"] < 0.75 < row["ci_high"]


def test_one_row_per_model():
    table = pd.concat([stimuli("texture-net", [("a", "b", "b")] * 4),
                       stimuli("shape-net", [("a", "b", "a")] * 4)])
    result = shape_bias(table).set_index("model")["shape_bias"]
    assert result["texture-net"] == 0.0 and result["shape-net"] == 1.0


def test_no_shape_or_texture_decision_gives_nan():
    row = shape_bias(stimuli("m", [("a", "b", "c")])).iloc[0]
    assert np.isnan(row["shape_bias"]) and row["n_other"] == 1


def test_a_missing_column_is_named():
    with pytest.raises(ValueError, match="pred_wnid"):
        shape_bias(stimuli("m", [("a", "b", "a")]).drop(columns="pred_wnid"))
