"""The human observers' trials of the Geirhos benchmark (bethgelab/model-vs-human raw data).

The raw data are one CSV per observer and session,
``<experiment>/<experiment>_subject-NN_session_1.csv``, with columns
``subj, session, trial, rt, object_response, category, condition, imagename``
(:data:`TRIAL_COLUMNS`; ``Session`` in some files); the experiments read are
model-vs-human's 17. :func:`read_human_trials` turns them into the
``geirhos_decisions.parquet`` contract
(:data:`~localglobal.data.geirhos_stimuli.DECISION_COLUMNS`): ``image`` is the stimulus every
observer's trial of it shares (:func:`~localglobal.data.model_vs_human.image_id` of
``imagename``), ``condition`` the experiment's condition string (as model-vs-human
spells it), ``category`` is the shape, and ``object_response`` ``na`` is a trial
without a decision (None). Bad files and rows
are reported as problems naming them, never raised; a missing folder raises
:class:`~localglobal.errors.MissingInputError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from localglobal.data import model_vs_human as mvh
from localglobal.data.geirhos_stimuli import (
    DATASETS,
    DECISION_COLUMNS,
    Loaded,
    texture_of,
)
from localglobal.errors import MissingInputError

RAW_DATA_FOLDERS: tuple[str, ...] = ("raw-data", "human-raw-data")
"""Folder names of model-vs-human's raw data (the repository's, the sample's)."""

HUMAN_COLUMNS = [*DECISION_COLUMNS, "session", "trial", "rt", "source"]
"""Columns of :func:`read_human_trials`' table: the contract plus the trial's details."""
TRIAL_COLUMNS = ("subj", "session", "trial", "rt", "object_response", "category",
                 "condition", "imagename")
"""Columns of a model-vs-human raw-data CSV."""
_NEEDED_TRIAL_COLUMNS = ("subj", "object_response", "category", "imagename")
NO_RESPONSE = frozenset({"na", "nan", "none", ""})
"""``object_response`` values that mean the observer gave no decision (lower case)."""


def find_raw_data_folder(root: str | Path) -> Path:
    """The folder that holds the experiment folders (``cue-conflict/``, ``edge/`` …).

    Accepts a folder holding ``raw-data/`` or ``human-raw-data/`` (a model-vs-human
    checkout, the shared sample), the folder holding an unpacked
    ``model-vs-human-<commit>/``, or the raw-data folder itself; an experiment
    folder counts only when it holds CSV files (a stimuli folder is also named
    ``cue-conflict/``).

    Raises
    ------
    MissingInputError
        ``root`` does not exist or holds no experiment folder.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise MissingInputError(f"{root}: no such folder of human raw data")
    candidates = [root / name for name in RAW_DATA_FOLDERS]
    for top in sorted(root.glob("model-vs-human-*")):
        candidates += [top / name for name in RAW_DATA_FOLDERS]
    for candidate in [*candidates, root]:
        # A folder of stimuli has a cue-conflict/ folder too, but no CSV files in it.
        if any(any((candidate / d).glob("*.csv")) for d in DATASETS):
            return candidate
    raise MissingInputError(
        f"{root}: no human raw data found; expected experiment folders "
        f"({', '.join(DATASETS)}) in it, in raw-data/ or human-raw-data/ below it, or in "
        f"model-vs-human-<commit>/raw-data/")


def human_experiments(root: str | Path) -> list[str]:
    """The experiments (of :data:`DATASETS`) the raw data under ``root`` has a folder of."""
    folder = find_raw_data_folder(root)
    return [d for d in DATASETS if (folder / d).is_dir()]


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return np.nan


def read_trials_file(path: str | Path, dataset: str) -> Loaded:
    """One raw-data CSV as decision rows.

    Parameters
    ----------
    path : path
        A model-vs-human raw-data CSV (:data:`TRIAL_COLUMNS`).
    dataset : str
        The experiment it belongs to (its folder's name).

    Returns
    -------
    Loaded
        Rows with :data:`HUMAN_COLUMNS`; problems name the file (unreadable, a
        needed column missing: no rows) or ``file:line`` (a row without subject,
        category or image name: skipped).
    """
    path = Path(path)
    try:
        # object columns: Python strings, read back at C speed (arrow-backed ones are not)
        raw = pd.read_csv(path, dtype=object, keep_default_na=False)
        raw.columns = [str(c).strip().lower() for c in raw.columns]
    except (OSError, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as error:
        return Loaded(pd.DataFrame(columns=HUMAN_COLUMNS), [f"{path}: unreadable: {error}"])
    missing = [c for c in _NEEDED_TRIAL_COLUMNS if c not in raw.columns]
    if missing:
        return Loaded(pd.DataFrame(columns=HUMAN_COLUMNS),
                      [f"{path}: missing column(s) {', '.join(missing)}; file skipped"])
    subject, category, imagename, response = (
        [str(v).strip() for v in raw[c]] for c in ("subj", "category", "imagename",
                                                    "object_response"))
    image = _each_distinct(lambda name: mvh.image_id(name) if name else "", imagename)
    problems = [f"{path}:{line}: empty subj, category or imagename; row skipped"
                for line, (s, c, i) in enumerate(zip(subject, category, image, strict=True),
                                                 start=2) if not s or not c or not i]
    keep = [k for k, (s, c, i) in enumerate(zip(subject, category, image, strict=True))
            if s and c and i]
    # the condition column where it holds a value, else the file name's
    given = ([str(v) for v in raw["condition"]] if "condition" in raw.columns
             else [""] * len(raw))
    condition = _each_distinct(lambda pair: mvh.canonical_condition(dataset, pair[0] or pair[1]),
                               [(given[k], mvh.condition_of(imagename[k])) for k in keep])
    session = ([str(v).strip() or None for v in raw["session"]] if "session" in raw.columns
               else [None] * len(raw))
    numbers = {c: (_each_distinct(_number, list(raw[c])) if c in raw.columns
                   else [np.nan] * len(raw)) for c in ("trial", "rt")}
    images = [image[k] for k in keep]
    columns = {
        "observer": [subject[k] for k in keep], "kind": ["human"] * len(keep),
        "dataset": [dataset] * len(keep), "image": images,
        "category": [category[k] for k in keep],
        "texture": (_each_distinct(texture_of, images) if dataset == "cue-conflict"
                    else [None] * len(keep)),
        "decision": [None if response[k].lower() in NO_RESPONSE else response[k]
                     for k in keep],
        "condition": condition, "session": [session[k] for k in keep],
        "trial": [numbers["trial"][k] for k in keep], "rt": [numbers["rt"][k] for k in keep],
        "source": [path.name] * len(keep)}
    return Loaded(pd.DataFrame(columns, columns=HUMAN_COLUMNS), problems)


def _each_distinct(function: Callable[[Any], Any], values: Sequence[Any]) -> list[Any]:
    """``function`` of each value, computed once per distinct value (a file repeats them)."""
    results: dict[Any, Any] = {}
    return [results[v] if v in results else results.setdefault(v, function(v))
            for v in values]


def read_human_trials(root: str | Path, datasets: Sequence[str] | None = None) -> Loaded:
    """Every human trial under ``root``, as ``geirhos_decisions`` rows.

    Parameters
    ----------
    root : path
        See :func:`find_raw_data_folder`.
    datasets : sequence of str, optional
        Only these experiments (default: every one of :data:`DATASETS` present).

    Returns
    -------
    Loaded
        ``table`` with :data:`DECISION_COLUMNS` (``observer`` = ``subj``, e.g.
        ``subject-01``; ``kind`` "human"; ``image`` the stimulus file name;
        ``texture`` for cue-conflict; ``decision`` None for ``na``) plus ``session``,
        ``trial``, ``rt`` (seconds) and ``source`` (the CSV's name); ``problems``
        names unreadable files, bad rows (file:line) and repeated trials (an
        observer judging the same stimulus twice: the first is kept).

    Raises
    ------
    MissingInputError
        ``root`` is missing, or an experiment asked for has no folder.
    """
    folder = find_raw_data_folder(root)
    wanted = [d for d in DATASETS if (folder / d).is_dir()] if datasets is None else datasets
    absent = [d for d in wanted if d not in DATASETS or not (folder / d).is_dir()]
    if absent:
        raise MissingInputError(f"{folder}: no experiment folder for {absent}; known "
                               f"experiments: {', '.join(DATASETS)}")
    tables, problems = [], []
    for dataset in wanted:
        files = sorted((folder / dataset).glob("*.csv"))
        if not files:
            problems.append(f"{folder / dataset}: no CSV files")
        for path in files:
            loaded = read_trials_file(path, dataset)
            tables.append(loaded.table)
            problems += loaded.problems
    nonempty = [t for t in tables if len(t)]
    table = (pd.concat(nonempty, ignore_index=True) if nonempty
             else pd.DataFrame(columns=HUMAN_COLUMNS))
    repeated = table.duplicated(["observer", "dataset", "condition", "image"], keep="first")
    for _, row in table[repeated].iterrows():
        problems.append(f"{row['source']}: {row['observer']} judged {row['dataset']} stimulus "
                        f"{row['image']!r} again (trial {row['trial']:g}); the first is kept")
    return Loaded(table[~repeated].reset_index(drop=True), problems)
