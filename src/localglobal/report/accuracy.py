"""Top-1 accuracy on the original images and at each probe's strongest level.

The strongest level of a probe is the one its declaration names
(:meth:`~localglobal.probes.registry.Probe.strongest`): the smallest scramble block
side, the patch side whose all-patches image covers the largest share of the frame,
the most smoothing passes, the lowest contrast, the widest phase noise, … A level the
run's tables hold that the declaration does not list counts as its own (the highest
by level). :func:`probe_accuracy` computes the table from the predictions; the report
and ``summary.md`` show it with :func:`accuracy_display` and :func:`accuracy_markdown`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from localglobal.analysis.predictions import decision_of, finite_rows
from localglobal.probes.registry import Level, Probe
from localglobal.report.formatting import markdown_table
from localglobal.report.tables import Table, display_table

ACCURACY_COLUMNS = ["model", "probe", "level", "strongest", "n_images", "n", "n_correct",
                    "accuracy", "n_correct_full", "accuracy_full", "label_space",
                    "full_label_space", "condition"]
"""The columns of :func:`probe_accuracy`'s table: ``accuracy`` in the run's label space,
``accuracy_full`` in all the model's classes, what each of them is, in words, and the
level's label (``condition``)."""


def strongest_level(probe: Probe, rows: pd.DataFrame) -> tuple[Level, str]:
    """A probe's strongest level among those ``rows`` hold, and what it is, in words.

    Parameters
    ----------
    probe : Probe
        The probe's declaration, with the run's parameters.
    rows : pandas.DataFrame
        Its predictions (``level`` and ``condition``).

    Returns
    -------
    (Level, str)
        The level and a description such as ``"block side 28 px (64 blocks; the
        smallest side)"``.
    """
    conditions = rows["condition"].astype(str) if "condition" in rows else \
        rows["level"].astype(str)
    present = dict(zip(conditions, rows["level"].astype(int), strict=True))
    try:
        level = probe.strongest()
    except (ValueError, IndexError, KeyError):
        level = None
    if level is None or level.label not in present:
        declared = [lv for lv in probe.levels() if lv.label in present]
        level = max(declared or [Level(code, label) for label, code in present.items()],
                    key=lambda lv: lv.code)
        return level, f"{probe.axis_label} {level.label} (the highest level in the run)"
    return level, probe.strength_text(level)


def _correct(predictions: pd.DataFrame) -> pd.Series:
    """Whether each prediction's top class is the true class."""
    if "correct" in predictions:
        return predictions["correct"].astype(bool)
    if {"pred_index", "true_index"} <= set(predictions.columns):
        return predictions["pred_index"] == predictions["true_index"]
    return predictions["true_rank"] == 1


def probe_accuracy(predictions: pd.DataFrame, probes: Sequence[Probe]) -> pd.DataFrame:
    """Each model's top-1 accuracy on the originals and at each probe's strongest level.

    Parameters
    ----------
    predictions : pandas.DataFrame
        The cleaned predictions (``model, image_id, probe, level, variant``, ideally
        ``condition``, and ``correct``, or ``pred_index`` and ``true_index``, or
        ``true_rank``; with ``subset_correct`` and the class counts when the run's label
        space is a subset of the model's,
        :func:`~localglobal.analysis.predictions.decision_of`).
    probes : sequence of Probe
        The run's probes (:func:`~localglobal.probes.catalog.described_probes`).

    Returns
    -------
    pandas.DataFrame
        :data:`ACCURACY_COLUMNS`, one row per model and condition (``original`` first,
        predictions from NaN or infinite outputs left out;
        then the probes in the run's order): ``accuracy`` is the share of the
        condition's predictions that are correct in the run's label space (``n_correct``
        of ``n``, over ``n_images`` images; a probe counts the variants it names, the
        patch probe only its all-patches images); ``accuracy_full`` the same in all the
        model's classes.
    """
    # Outputs that are NaN or infinite predict nothing: they are left out (and noted by
    # the report, see localglobal.analysis.predictions.non_finite_notes).
    finite = finite_rows(predictions).to_numpy()
    decision = decision_of(predictions)
    full = _correct(predictions).to_numpy()
    chosen = (predictions[decision.correct].astype(bool).to_numpy() if decision.subset
              else full)
    table = predictions.assign(correct_=chosen, full_=full)[finite]
    if "condition" not in table:
        table["condition"] = table["level"].astype(str)
    table["condition"] = table["condition"].astype(str)
    present = set(table["probe"].astype(str))
    conditions = []
    for probe in probes:
        if probe.name not in present:
            continue
        rows = table[table["probe"] == probe.name]
        if probe.name == "original":
            conditions.append((probe.name, rows, Level(int(rows["level"].min()), "0"),
                               "the unchanged image"))
            continue
        variants = probe.strongest_variants(list(pd.unique(rows["variant"].astype(str))))
        rows = rows[rows["variant"].astype(str).isin(variants)]
        level, text = strongest_level(probe, rows)
        conditions.append((probe.name, rows[rows["condition"] == level.label], level, text))
    out = []
    for name, rows, level, text in conditions:
        for model, group in rows.groupby("model", sort=False):
            correct, correct_full = int(group["correct_"].sum()), int(group["full_"].sum())
            out.append({"model": str(model), "probe": name, "level": level.code,
                        "strongest": text, "n_images": int(group["image_id"].nunique()),
                        "n": len(group), "n_correct": correct,
                        "accuracy": correct / len(group), "n_correct_full": correct_full,
                        "accuracy_full": correct_full / len(group),
                        "label_space": decision.label if decision.subset else "",
                        "full_label_space": decision.full_label, "condition": level.label})
    return pd.DataFrame(out, columns=ACCURACY_COLUMNS)


def _wide(accuracy: pd.DataFrame, models: list[str] | None = None) -> pd.DataFrame:
    """One row per model, one column per condition, each cell ``accuracy (n images)``."""
    subset = _subset(accuracy)
    cells = accuracy.assign(
        cell=[f"{r.accuracy:.3f} ({r.n_correct}/{r.n}; {r.n_images} images)"
              + (f" · {r.accuracy_full:.3f} in {r.full_label_space}" if subset else "")
              for r in accuracy.itertuples()],
        column=[p if p == "original" else f"{p} {c}"
                for p, c in zip(accuracy["probe"], _labels(accuracy), strict=True)])
    order = list(pd.unique(cells["column"]))
    wide = cells.pivot_table(index="model", columns="column", values="cell",
                             aggfunc="first")
    present = list(pd.unique(cells["model"]))
    rows = [m for m in models or [] if m in present]
    wide = wide.reindex(index=rows + [m for m in present if m not in rows], columns=order)
    return wide.fillna("–").rename_axis(columns=None).reset_index()


def strongest_text(accuracy: pd.DataFrame) -> str:
    """Which level of each probe the table shows, in one line."""
    shown = accuracy[accuracy["probe"] != "original"].drop_duplicates("probe")
    return "; ".join(f"{r.probe} {c}: {r.strongest}"
                     for r, c in zip(shown.itertuples(), _labels(shown), strict=True))


def _labels(accuracy: pd.DataFrame) -> list[str]:
    """Each row's level label (``condition``; the level itself in an older table)."""
    column = accuracy["condition"] if "condition" in accuracy else accuracy["level"]
    return [str(v) for v in column]


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
           "probe_accuracy", "strongest_level", "strongest_text"]
