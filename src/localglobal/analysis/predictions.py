"""The predictions table as the analysis reads it: id columns recovered, types fixed,
and the label space its decisions are read in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ID_COLUMNS = ("image_id", "probe", "level", "variant")
"""The parts of an ``item_id`` (``image_id/probe/level/variant``)."""


def clean_predictions(predictions: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Normalise a predictions table for analysis; return it and notes on what changed.

    Missing ``image_id/probe/level/variant`` columns are recovered from ``item_id``
    (``image_id/probe/level/variant``); ``level`` becomes int64 and ``variant`` str;
    repeated (model, item_id) rows keep the last and are counted in the notes.

    Parameters
    ----------
    predictions : pandas.DataFrame
        ``predictions.parquet``.

    Returns
    -------
    (pandas.DataFrame, list of str)
        The cleaned table and one note per change made.

    Raises
    ------
    ValueError
        When ``model`` or ``item_id`` is missing, or the item ids cannot be parsed.
    """
    notes: list[str] = []
    for column in ("model", "item_id"):
        if column not in predictions:
            raise ValueError(f"predictions.parquet has no {column!r} column; "
                             f"columns: {list(predictions.columns)}")
    table = predictions.copy()
    missing = [c for c in ID_COLUMNS if c not in table]
    if missing:
        parts = table["item_id"].astype(str).str.rsplit("/", n=3, expand=True)
        if parts.shape[1] != 4 or parts.isna().any().any():
            raise ValueError("predictions.parquet lacks columns "
                             f"{missing} and its item_id values are not image/probe/level/variant")
        for k, column in enumerate(ID_COLUMNS):
            if column in missing:
                table[column] = parts[k]
        notes.append(f"columns {missing} recovered from item_id")
    table["model"] = table["model"].astype(str)
    table["image_id"] = table["image_id"].astype(str)
    table["probe"] = table["probe"].astype(str)
    table["level"] = pd.to_numeric(table["level"]).astype("int64")
    table["variant"] = table["variant"].astype(str)
    if "condition" not in table:  # written before probes had condition labels
        table["condition"] = table["level"].astype(str)
    table["condition"] = table["condition"].astype(str)
    duplicated = table.duplicated(["model", "item_id"], keep="last")
    if duplicated.any():
        notes.append(f"{int(duplicated.sum())} repeated (model, item_id) rows: kept the last")
        table = table[~duplicated]
    return table.reset_index(drop=True), notes


def finite_rows(predictions: pd.DataFrame) -> pd.Series:
    """Whether each prediction came from finite model outputs.

    The ``finite`` column where the table has one; else (a table written before it
    existed) whether the probabilities and logits it holds are finite.
    """
    if "finite" in predictions:
        return predictions["finite"].astype(bool)
    finite = pd.Series(True, index=predictions.index)
    for column in ("true_logit", "true_prob", "pred_logit", "pred_prob"):
        if column in predictions:
            values = pd.to_numeric(predictions[column], errors="coerce").to_numpy(float)
            finite &= np.isfinite(values)
    return finite


def non_finite_notes(predictions: pd.DataFrame) -> list[str]:
    """One note per model with NaN or infinite outputs: how many, and what became of them."""
    finite = finite_rows(predictions)
    notes = []
    for model, group in finite.groupby(predictions["model"].astype(str), sort=False):
        bad = int((~group).sum())
        if bad == len(group):
            notes.append(f"model {model} is missing from the accuracy table: every one of "
                         f"its {bad} outputs is NaN or infinite")
        elif bad:
            notes.append(f"model {model}: {bad} of its {len(group)} outputs are NaN or "
                         "infinite; they are left out of the accuracy table and never "
                         "counted correct")
    return notes


@dataclass(frozen=True)
class Decision:
    """The label space a run's accuracies, curves and default tests are read in.

    When the dataset's classes are a subset of a model's (Imagenette's ten, a label
    file, the 16 Geirhos classes in ImageNet's 1000), the decision is the best of
    those classes (``subset_correct``, ``subset_true_prob``); otherwise it is the
    model's own (``correct``, ``true_prob``). The full-space columns stay beside.

    Attributes
    ----------
    subset : bool
        Whether the decision is made among a subset of the model's classes.
    classes : int or None
        How many classes the decision chooses among (None when unknown).
    model_classes : int or None
        How many classes the model has (None when unknown).
    """

    subset: bool = False
    classes: int | None = None
    model_classes: int | None = None

    @property
    def correct(self) -> str:
        """The predictions column that says a decision is right."""
        return "subset_correct" if self.subset else "correct"

    @property
    def measure(self) -> str:
        """The true-class probability in the decision's label space."""
        return "subset_true_prob" if self.subset else "true_prob"

    @property
    def label(self) -> str:
        """The label space in words, e.g. ``"the run's 16 classes"``."""
        if not self.subset:
            return f"all {self.model_classes} classes" if self.model_classes else \
                "the model's classes"
        return f"the run's {self.classes} classes" if self.classes else "the run's classes"

    @property
    def full_label(self) -> str:
        """The model's full label space in words, e.g. ``"all 1000 classes"``."""
        return f"all {self.model_classes} classes" if self.model_classes else \
            "all the model's classes"


def decision_of(predictions: pd.DataFrame | None) -> Decision:
    """The label space the run's decisions are read in (:class:`Decision`).

    A subset when, for some model, the dataset's classes are fewer than the model's
    (``subset_classes < model_classes``) and the subset columns are there; a table
    written before those columns reads in the full space.

    Parameters
    ----------
    predictions : pandas.DataFrame or None
        ``predictions.parquet``.

    Returns
    -------
    Decision
    """
    needed = {"model_classes", "subset_classes", "subset_correct", "subset_true_prob"}
    if predictions is None or not needed <= set(predictions) or not len(predictions):
        return Decision()
    counts = predictions[["model_classes", "subset_classes"]].dropna().astype("int64")
    smaller = counts[counts["subset_classes"] < counts["model_classes"]]
    if not len(smaller):
        classes = int(counts["model_classes"].max()) if len(counts) else None
        return Decision(False, classes, classes)
    return Decision(True, int(smaller["subset_classes"].max()),
                    int(smaller["model_classes"].max()))
