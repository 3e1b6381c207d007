"""What a hypothesis compares: checked against the run, selected, transformed and paired.

A :class:`~localglobal.config.Hypothesis` names a measure, its models and the rows
to use. These are the pieces its source
(:mod:`~localglobal.analysis.hypothesis_sources`) is made of: the ``*_problems``
functions say what the run lacks and what it holds instead; the ``*_values``
functions select each model's values and apply the hypothesis's measure transform;
:func:`pair_values` pairs them:

* predictions are paired by image, level and variant; with ``relative_to =
  "original"`` a value becomes its drop from the same image's original (original −
  perturbed), with ``normalize = "ratio"`` that drop divided by the original (the
  share lost; an original of 0 leaves the pair undefined);
* attributions are paired by image, control and item, transformed the same way when
  the attribute stage also explained perturbed images;
* the patch interaction is paired by patch side (the thesis's unit), each side's
  statistic computed on the images the hypothesis uses;
* ``subset = "both-correct"`` keeps, for every source, only the images whose original
  both models (or the one model) classify correctly (predicted index = true index).

A pair whose value is missing on one side is counted (``n_missing_a`` /
``n_missing_b``) and named in the notes, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from localglobal.analysis.interaction import INTERACTION_MEASURES
from localglobal.config import Hypothesis

PAIR_COLUMNS = ["hypothesis", "image_id", "level", "variant", "control", "value_a", "value_b",
                "diff"]
#: Prediction columns that decide whether an original is classified correctly.
CORRECTNESS_COLUMNS = ("pred_index", "true_index")


# --------------------------------------------------------------------------- validation


def _listing(values: Sequence[object]) -> str:
    shown = sorted({str(v) for v in values})
    return ", ".join(shown) if shown else "(none)"


def _levels(present: set[str]) -> str:
    ordered = sorted(present, key=lambda v: (0, float(v), v) if _is_number(v) else (1, 0.0, v))
    return ", ".join(ordered) or "(none)"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]


def model_problems(h: Hypothesis, models: Sequence[str], available: set[str],
                   table: str) -> list[str]:
    """A line for each of ``models`` that ``table`` does not hold."""
    return [f"hypothesis {h.id}: model {model!r} is not in {table}; models there: "
            f"{_listing(available)}" for model in models if model not in available]


def _probe_problems(h: Hypothesis, probe: str, table_df: pd.DataFrame, table: str) -> list[str]:
    available = set(table_df["probe"].astype(str)) if "probe" in table_df else set()
    if probe not in available:
        return [f"hypothesis {h.id}: probe {probe!r} is not in {table}; probes there: "
                f"{_listing(available)}"]
    if not h.levels:
        return []
    # Levels compare as text: a probe's levels may be numbers or condition strings.
    present = set(level_labels(table_df[table_df["probe"] == probe]))
    absent = [level for level in h.levels if str(level) not in present]
    if not absent:
        return []
    return [f"hypothesis {h.id}: levels {absent} of probe {probe!r} are not in {table}; "
            f"levels there: {_levels(present)}"]


def level_labels(table: pd.DataFrame) -> pd.Series:
    """Each row's level label: its ``condition`` (``"28"``, ``"c50"``), or the level
    itself in a table from before probes had labels. Hypotheses name levels by label."""
    column = table["condition"] if "condition" in table else table["level"]
    return column.astype(str)


def subset_problems(h: Hypothesis, predictions: pd.DataFrame) -> list[str]:
    """What ``subset = "both-correct"`` needs of the predictions and they lack."""
    if h.subset != "both-correct":
        return []
    problems = []
    lacking = [c for c in CORRECTNESS_COLUMNS if c not in predictions]
    if lacking:
        problems.append(f"hypothesis {h.id}: subset = 'both-correct' needs the columns "
                        f"{list(CORRECTNESS_COLUMNS)} of predictions.parquet; it lacks "
                        f"{lacking}")
    if "probe" not in predictions or not (predictions["probe"] == "original").any():
        problems.append(f"hypothesis {h.id}: subset = 'both-correct' needs the original "
                        "images in predictions.parquet")
    return problems


def prediction_problems(h: Hypothesis, predictions: pd.DataFrame,
                        models: Sequence[str]) -> list[str]:
    """What a hypothesis on the predictions of ``models`` names that they lack."""
    table = "predictions.parquet"
    available = set(predictions["model"].astype(str)) if "model" in predictions else set()
    probes = set(predictions["probe"].astype(str)) if "probe" in predictions else set()
    problems = model_problems(h, models, available, table)
    if h.probe is not None:
        problems += _probe_problems(h, h.probe, predictions, table)
    numeric = _numeric_columns(predictions)
    if h.measure not in numeric:
        problems.append(f"hypothesis {h.id}: measure {h.measure!r} is not a numeric column "
                        f"of {table}; columns: {_listing(numeric)}")
    if h.relative_to == "original" and "original" not in probes:
        problems.append(f"hypothesis {h.id}: relative_to = 'original' but {table} has no "
                        "original images")
    return problems


def interaction_problems(h: Hypothesis, predictions: pd.DataFrame) -> list[str]:
    """What a patch-interaction hypothesis names that the predictions lack."""
    table = "predictions.parquet"
    models = set(predictions["model"].astype(str)) if "model" in predictions else set()
    probes = set(predictions["probe"].astype(str)) if "probe" in predictions else set()
    problems = model_problems(h, [h.model_a, h.model_b], models, table)
    if h.probe not in (None, "patch"):
        problems.append(f"hypothesis {h.id}: the patch interaction is defined on the patch "
                        f"probe only, not {h.probe!r}")
    elif "patch" not in probes:
        problems.append(f"hypothesis {h.id}: probe 'patch' is not in {table}; probes there: "
                        f"{_listing(probes)}")
    elif h.levels:
        problems += _probe_problems(h, "patch", predictions, table)
    if h.measure not in INTERACTION_MEASURES:
        problems.append(f"hypothesis {h.id}: interaction measure {h.measure!r} unknown; "
                        f"choose from {_listing(INTERACTION_MEASURES)}")
    return problems


def attribution_problems(h: Hypothesis, attributions: pd.DataFrame) -> list[str]:
    """What a hypothesis on the attributions names that they lack."""
    table = "attributions.parquet"
    problems = model_problems(h, [h.model_a, h.model_b],
                              set(attributions["model"].astype(str)), table)
    controls = set(attributions["control"].astype(str))
    if h.control not in controls:
        problems.append(f"hypothesis {h.id}: control {h.control!r} is not in {table}; "
                        f"controls there: {_listing(controls)}")
    proxies = (set(attributions["proxy"].astype(str)) if "proxy" in attributions
               else {"canny"})
    if h.proxy not in proxies:
        problems.append(f"hypothesis {h.id}: proxy {h.proxy!r} is not in {table}; proxies "
                        f"there: {_listing(proxies)}")
    numeric = _numeric_columns(attributions)
    if h.measure not in numeric:
        problems.append(f"hypothesis {h.id}: measure {h.measure!r} is not a numeric column "
                        f"of {table}; columns: {_listing(numeric)}")
    if h.probe is not None and "probe" in attributions:
        probes = set(attributions["probe"].astype(str))
        if h.probe not in probes:
            problems.append(f"hypothesis {h.id}: probe {h.probe!r} is not in {table}; "
                            f"probes there: {_listing(probes)}")
    return problems


# --------------------------------------------------------------------------- pairing


@dataclass
class Pairs:
    """The paired values of one hypothesis and what could not be paired.

    ``clusters`` are the image of every pair (None for the patch interaction, whose
    pairs are patch sides); ``images`` the images a ``subset`` keeps (None: all).
    """

    table: pd.DataFrame  # PAIR_COLUMNS without "hypothesis"
    n_missing_a: int = 0
    n_missing_b: int = 0
    notes: list[str] = field(default_factory=list)
    clusters: np.ndarray | None = None
    images: set[str] | None = None


def both_correct_images(predictions: pd.DataFrame, model_a: str, model_b: str) -> set[str]:
    """Images whose original both models classify correctly (predicted = true index).

    An image missing an original for either model is not in the set.
    """
    original = predictions[(predictions["probe"] == "original")
                           & predictions["model"].isin([model_a, model_b])]
    correct = (original["pred_index"] == original["true_index"]).groupby(
        [original["image_id"].astype(str), original["model"]]).all().unstack("model")
    if correct.empty or model_a not in correct or model_b not in correct:
        return set()
    both = correct[model_a].eq(True) & correct[model_b].eq(True)
    return set(correct.index[both])


def subset_images(h: Hypothesis, predictions: pd.DataFrame | None
                  ) -> tuple[set[str] | None, list[str]]:
    """The images a hypothesis's subset keeps (None: all), and a note saying how many."""
    if h.subset == "all" or predictions is None:
        return None, []
    model_b = h.model_b or h.model_a  # one model: the images it classifies correctly
    keep = both_correct_images(predictions, h.model_a, model_b)
    seen = predictions.loc[predictions["model"].isin([h.model_a, model_b]), "image_id"]
    who = "both models classify" if model_b != h.model_a else "the model classifies"
    return keep, [f"subset both-correct: {len(keep)} of {seen.astype(str).nunique()} images "
                  f"({who} the original correctly)"]


def _measure_values(rows: pd.DataFrame, selected: pd.DataFrame, h: Hypothesis) -> pd.Series:
    """The compared value of the selected rows: raw, drop, or relative drop."""
    value = selected[h.measure].astype(float)
    if h.relative_to != "original":
        return value
    original = rows[rows["probe"] == "original"].groupby("image_id")[h.measure].mean()
    base = selected["image_id"].map(original).astype(float)
    drop = base - value
    if h.normalize == "ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            drop = drop / base
    # A zero original makes the relative drop undefined: a missing pair, not infinity.
    return drop.where(np.isfinite(drop))


def prediction_values(predictions: pd.DataFrame, h: Hypothesis, model: str,
                      images: set[str] | None) -> pd.DataFrame:
    """One model's compared values (``image_id, level, variant, value``) in the predictions."""
    rows = predictions[predictions["model"] == model]
    if images is not None:
        rows = rows[rows["image_id"].astype(str).isin(images)]
    selected = rows
    if h.probe is not None:
        selected = selected[selected["probe"] == h.probe]
    elif h.relative_to == "original":
        selected = selected[selected["probe"] != "original"]
    if h.levels:
        selected = selected[level_labels(selected).isin([str(v) for v in h.levels])]
    out = selected[["image_id", "level", "variant"]].copy()
    out["variant"] = out["variant"].astype(str)
    out["value"] = _measure_values(rows, selected, h).to_numpy()
    return out


def attribution_values(attributions: pd.DataFrame, h: Hypothesis, model: str,
                       images: set[str] | None) -> pd.DataFrame:
    """One model's compared values (``image_id, control, item_id, value``) in the
    attributions."""
    rows = attributions[(attributions["model"] == model) & (attributions["control"] == h.control)]
    if "proxy" in rows:  # one shape proxy at a time (tables before it had only canny)
        rows = rows[rows["proxy"] == h.proxy]
    if images is not None:
        rows = rows[rows["image_id"].astype(str).isin(images)]
    selected = rows
    if "probe" in rows:
        selected = rows[rows["probe"] == (h.probe or "original")]
    value = (_measure_values(rows, selected, h) if "probe" in rows
             else selected[h.measure].astype(float))
    out = pd.DataFrame({"image_id": selected["image_id"].astype(str).to_numpy(),
                        "control": selected["control"].astype(str).to_numpy()})
    out["item_id"] = (selected["item_id"].astype(str).to_numpy() if "item_id" in selected
                      else out["image_id"])
    out["value"] = value.to_numpy()
    return out


def _examples(merged: pd.DataFrame, lacking: np.ndarray, keys: list[str]) -> str:
    # An item id already names image, probe, level and variant; else the whole key.
    shown = (merged.loc[lacking, "item_id"].astype(str) if "item_id" in keys else
             merged.loc[lacking, keys].astype(str).agg("/".join, axis=1))
    return ", ".join(pd.unique(shown)[:3])


def _check_unique(values: pd.DataFrame, keys: list[str], model: str, h: Hypothesis,
                  source: str) -> None:
    repeated = values[values.duplicated(keys, keep=False)]
    if len(repeated):
        example = "/".join(map(str, repeated[keys].iloc[0]))
        raise ValueError(f"hypothesis {h.id}: {source} holds {len(repeated)} rows of model "
                         f"{model!r} that share a pair key {keys} (e.g. {example}); "
                         "each key must occur once per model")


def pair_values(values_a: pd.DataFrame, values_b: pd.DataFrame, keys: list[str],
                h: Hypothesis, source: str) -> Pairs:
    """Pair two sets of values on ``keys``; what one side lacks is counted and named."""
    _check_unique(values_a, keys, h.model_a, h, source)
    _check_unique(values_b, keys, h.model_b or h.model_a, h, source)
    merged = values_a.merge(values_b, on=keys, how="outer", suffixes=("_a", "_b"))
    lacks_a = ~np.isfinite(merged["value_a"].to_numpy(dtype=float))
    lacks_b = ~np.isfinite(merged["value_b"].to_numpy(dtype=float))
    notes = []
    both = lacks_a & lacks_b
    if both.any():
        notes.append(f"{int(both.sum())} pairs lack a value for both models, e.g. "
                     + _examples(merged, both, keys))
    for side, model, lacking in (("a", h.model_a, lacks_a & ~both),
                                 ("b", h.model_b or h.model_a, lacks_b & ~both)):
        if lacking.any():
            notes.append(f"{int(lacking.sum())} pairs lack a value for model_{side} "
                         f"({model}), e.g. " + _examples(merged, lacking, keys))
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
    clusters = table["image_id"].astype(str).to_numpy() if "image_id" in complete else None
    return Pairs(table, int(lacks_a.sum()), int(lacks_b.sum()), notes, clusters)
