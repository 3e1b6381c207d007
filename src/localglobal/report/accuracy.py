"""Top-1 accuracy on the original images and at each probe's strongest level.

The strongest level of a probe is the one that removes the most of what it removes:

* ``scramble``: the smallest block side (the most blocks, the least global shape left);
* ``patch``: the all-patches image of the side whose patches cover the largest share
  of the frame (DESIGN.md's odd grid; the larger side on a tie);
* ``smooth``: the most smoothing passes;
* any other probe (``smooth_diff``, ``smooth_diff_inv``, …): its highest level.

:func:`probe_accuracy` computes the table from the predictions; the report and
``summary.md`` show it with :func:`accuracy_display` and :func:`accuracy_markdown`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from localglobal.analysis.predictions import decision_of, finite_rows
from localglobal.probes.patch import patch_rects
from localglobal.report.formatting import markdown_table
from localglobal.report.tables import Table, display_table

ACCURACY_COLUMNS = ["model", "probe", "level", "strongest", "n_images", "n", "n_correct",
                    "accuracy", "n_correct_full", "accuracy_full", "label_space",
                    "full_label_space"]
"""The columns of :func:`probe_accuracy`'s table: ``accuracy`` in the run's label space,
``accuracy_full`` in all the model's classes, and what each of them is, in words."""

_NAMES = {"smooth_diff": "removed detail", "smooth_diff_inv": "removed detail, inverted"}


def patch_coverage(size: int, crop: int) -> float:
    """The share of a ``crop`` × ``crop`` frame that the all-patches image of side
    ``size`` covers (the probe's own rectangles, :func:`~localglobal.probes.patch.patch_rects`);
    0 for a patch larger than the frame."""
    try:
        rects = patch_rects(crop, size)
    except ValueError:
        return 0.0
    return sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in rects) / float(crop * crop)


def strongest_level(probe: str, levels: np.ndarray, crop: int | None = None
                    ) -> tuple[int, str]:
    """A probe's strongest level among ``levels`` and what it is, in words.

    Parameters
    ----------
    probe : str
        The probe's name (the predictions' ``probe`` column).
    levels : numpy.ndarray
        The levels the run holds for it (the ``level`` column).
    crop : int, optional
        The frame's side in pixels (``frame.crop``): the patch coverage and the
        number of scramble blocks need it.

    Returns
    -------
    (int, str)
        The level and a description such as ``"block side 28 px (64 blocks; the
        smallest side)"``.
    """
    values = sorted({int(v) for v in levels})
    if probe == "scramble":
        level = values[0]
        blocks = f"{(crop // level) ** 2} blocks; " if crop and crop % level == 0 else ""
        return level, f"block side {level} px ({blocks}the smallest side)"
    if probe == "patch":
        if crop:
            level = max(values, key=lambda v: (patch_coverage(v, crop), v))
            share = f"{100 * patch_coverage(level, crop):.0f} % of the image covered; "
        else:
            level, share = values[-1], ""
        return level, f"all patches of side {level} px ({share}the largest coverage)"
    if probe == "smooth":
        level = values[-1]
        return level, f"{level} smoothing pass{'es' if level != 1 else ''} (the most)"
    level = values[-1]
    return level, f"{_NAMES.get(probe, probe)}, level {level} (the highest)"


def _correct(predictions: pd.DataFrame) -> pd.Series:
    """Whether each prediction's top class is the true class."""
    if "correct" in predictions:
        return predictions["correct"].astype(bool)
    if {"pred_index", "true_index"} <= set(predictions.columns):
        return predictions["pred_index"] == predictions["true_index"]
    return predictions["true_rank"] == 1


def probe_accuracy(predictions: pd.DataFrame, crop: int | None = None) -> pd.DataFrame:
    """Each model's top-1 accuracy on the originals and at each probe's strongest level.

    Parameters
    ----------
    predictions : pandas.DataFrame
        The cleaned predictions (``model, image_id, probe, level, variant`` and
        ``correct``, or ``pred_index`` and ``true_index``, or ``true_rank``; with
        ``subset_correct`` and the class counts when the run's label space is a
        subset of the model's, :func:`~localglobal.analysis.predictions.decision_of`).
    crop : int, optional
        The frame's side in pixels, for the patch coverage.

    Returns
    -------
    pandas.DataFrame
        :data:`ACCURACY_COLUMNS`, one row per model and condition (``original`` first,
        predictions from NaN or infinite outputs left out;
        then the probes in the order they first appear): ``accuracy`` is the share of
        the condition's predictions that are correct in the run's label space
        (``n_correct`` of ``n``, over ``n_images`` images; the patch probe counts only
        its all-patches images); ``accuracy_full`` the same in all the model's classes.
    """
    # Outputs that are NaN or infinite predict nothing: they are left out (and noted by
    # the report, see localglobal.analysis.predictions.non_finite_notes).
    finite = finite_rows(predictions).to_numpy()
    decision = decision_of(predictions)
    full = _correct(predictions).to_numpy()
    chosen = (predictions[decision.correct].astype(bool).to_numpy() if decision.subset
              else full)
    table = predictions.assign(correct_=chosen, full_=full)[finite]
    conditions = []
    for probe in pd.unique(table["probe"].astype(str)):
        rows = table[table["probe"] == probe]
        if probe == "original":
            conditions.insert(0, (probe, rows, int(rows["level"].min()), "the unchanged image"))
            continue
        if probe == "patch" and (rows["variant"].astype(str) == "all").any():
            rows = rows[rows["variant"].astype(str) == "all"]
        level, text = strongest_level(probe, rows["level"].to_numpy(), crop)
        conditions.append((probe, rows[rows["level"] == level], level, text))
    out = []
    for probe, rows, level, text in conditions:
        for model, group in rows.groupby("model", sort=False):
            correct, correct_full = int(group["correct_"].sum()), int(group["full_"].sum())
            out.append({"model": str(model), "probe": probe, "level": level,
                        "strongest": text, "n_images": int(group["image_id"].nunique()),
                        "n": len(group), "n_correct": correct,
                        "accuracy": correct / len(group), "n_correct_full": correct_full,
                        "accuracy_full": correct_full / len(group),
                        "label_space": decision.label if decision.subset else "",
                        "full_label_space": decision.full_label})
    return pd.DataFrame(out, columns=ACCURACY_COLUMNS)


def _wide(accuracy: pd.DataFrame, models: list[str] | None = None) -> pd.DataFrame:
    """One row per model, one column per condition, each cell ``accuracy (n images)``."""
    subset = _subset(accuracy)
    cells = accuracy.assign(
        cell=[f"{r.accuracy:.3f} ({r.n_correct}/{r.n}; {r.n_images} images)"
              + (f" · {r.accuracy_full:.3f} in {r.full_label_space}" if subset else "")
              for r in accuracy.itertuples()],
        condition=[p if p == "original" else f"{p} {lvl}"
                   for p, lvl in zip(accuracy["probe"], accuracy["level"], strict=True)])
    order = list(pd.unique(cells["condition"]))
    wide = cells.pivot_table(index="model", columns="condition", values="cell",
                             aggfunc="first")
    present = list(pd.unique(cells["model"]))
    rows = [m for m in models or [] if m in present]
    wide = wide.reindex(index=rows + [m for m in present if m not in rows], columns=order)
    return wide.fillna("–").rename_axis(columns=None).reset_index()


def strongest_text(accuracy: pd.DataFrame) -> str:
    """Which level of each probe the table shows, in one line."""
    shown = accuracy[accuracy["probe"] != "original"].drop_duplicates("probe")
    return "; ".join(f"{r.probe} {r.level}: {r.strongest}" for r in shown.itertuples())


ACCURACY_TITLE = ("Top-1 accuracy on the original images and at each probe's strongest "
                  "level (correct/predictions; images)")


def _subset(accuracy: pd.DataFrame) -> bool:
    """Whether the table's accuracy is read in a subset of the model's classes."""
    return "label_space" in accuracy and bool(accuracy["label_space"].astype(bool).any())


def accuracy_title(accuracy: pd.DataFrame) -> str:
    """The accuracy table's title, saying which label space each number is in."""
    if not _subset(accuracy):
        return ACCURACY_TITLE
    first = accuracy.iloc[0]
    return (f"Top-1 accuracy in {first['label_space']} (the dataset's label space) on the "
            "original images and at each probe's strongest level (correct/predictions; "
            f"images), with the accuracy in {first['full_label_space']} of the model beside "
            "it")


def accuracy_display(accuracy: pd.DataFrame, models: list[str] | None = None) -> Table:
    """:func:`probe_accuracy`'s table for the HTML report, models in ``models``' order."""
    return display_table(accuracy_title(accuracy), _wide(accuracy, models))


def accuracy_markdown(accuracy: pd.DataFrame, models: list[str] | None = None) -> list[str]:
    """:func:`probe_accuracy`'s table as ``summary.md`` lines, with what each level is."""
    wide = _wide(accuracy, models)
    lines = [f"{accuracy_title(accuracy)}:", "",
             *markdown_table(list(wide.columns), wide.itertuples(index=False))]
    text = strongest_text(accuracy)
    if text:
        lines += ["", f"Strongest levels: {text}."]
    return lines


__all__ = ["ACCURACY_COLUMNS", "accuracy_display", "accuracy_markdown", "accuracy_title",
           "patch_coverage",
           "probe_accuracy", "strongest_level", "strongest_text"]
