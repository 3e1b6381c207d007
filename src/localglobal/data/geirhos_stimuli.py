"""The Geirhos benchmark's stimuli and human trials, read from disk into tables.

Stimuli come from model-vs-human's 17 datasets (:mod:`localglobal.data.model_vs_human`):
``cue-conflict`` (the shape of one category filled with the texture of another, Geirhos
et al. 2019), ``edge``, ``silhouette``, ``sketch``, ``stylized`` and twelve parametric
ones. :func:`discover_stimuli` accepts

- a folder holding dataset folders named as model-vs-human names them (or a
  ``datasets/`` folder of them, as ``localglobal fetch model-vs-human`` writes):
  ``<name>/dnn/session-N/<file>.png``, whose file name carries the condition (4th
  ``_`` field) and the category (5th), or ``<name>/<category>/<file>.png``;

- a folder holding any of ``cue-conflict/``, ``edges/`` (or ``edge/``) and
  ``filled-silhouettes/`` (or ``silhouette/``), each ``<category>/<file>.png``;
- the repository's layout: ``stimuli/style-transfer-preprocessed-512/<shape>/
  <shape>N-<texture>M.png``, ``stimuli/edges/…``, ``stimuli/filled-silhouettes/…``,
  given as the repository root, as its ``stimuli/`` folder, or as the folder that
  holds the unpacked archive's top folder ``texture-vs-shape-<commit>/``.

The category of a stimulus is its folder (its shape) or its file name's 5th field; a
stimulus's ``image`` is the name every observer's trial of it shares
(:func:`~localglobal.data.model_vs_human.image_id`) and its ``condition`` the
dataset's condition string (``0`` for a non-parametric dataset); a cue-conflict stimulus's
texture is the file name's part after its last ``-``, with digits and extension
removed (``airplane2-bicycle1.png`` → ``bicycle``). A texture that is no folder's
name but the part after ``_`` of exactly one (the toy world's ``t03_star`` for
``star``) is read as that folder's category. Stimuli whose shape and texture are the
same carry no conflict (``conflict`` False; edge and silhouette stimuli never do).

Every observer's decisions share one table, the ``geirhos_decisions.parquet``
contract (:data:`DECISION_COLUMNS`); :func:`decisions_table` builds a model's, and
:mod:`localglobal.data.geirhos_humans` reads the humans'.

Readers return a :class:`Loaded` pair, the table and a list of problems (each naming
its file, and its line for a bad row); only a missing folder raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from localglobal.data import model_vs_human as mvh
from localglobal.errors import MissingInputError

DATASETS: tuple[str, ...] = tuple(mvh.DATASETS)
"""model-vs-human's 17 datasets, by their experiment names."""

STIMULUS_FOLDERS: dict[str, tuple[str, ...]] = {
    "cue-conflict": ("cue-conflict", "style-transfer-preprocessed-512"),
    "edge": ("edges", "edge"),
    "silhouette": ("filled-silhouettes", "silhouette", "silhouettes"),
    **{name: (name,) for name in DATASETS if name not in {"cue-conflict", "edge", "silhouette"}},
}
"""Folder names each dataset's stimuli may have, the preferred one first."""

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})

STIMULI_COLUMNS = ["dataset", "image", "path", "category", "texture", "conflict", "condition"]
DECISION_COLUMNS = ["observer", "kind", "dataset", "image", "category", "texture", "decision",
                    "condition"]


class Loaded(NamedTuple):
    """A table read from disk and what was wrong with the input (one line per problem)."""

    table: pd.DataFrame
    problems: list[str]


# --------------------------------------------------------------------------- names


def stimulus_name(imagename: str) -> str:
    """The stimulus file name in a trial's ``imagename`` (its part after the last ``_``).

    >>> stimulus_name("0001_s5n_s01_0_bird_00_bird3-bird2.png")
    'bird3-bird2.png'
    """
    return imagename.strip().rsplit("_", 1)[-1]


def texture_of(file_name: str) -> str | None:
    """The texture category in a cue-conflict file name, or None without a ``-``.

    >>> texture_of("airplane2-bicycle1.png"), texture_of("oven10.png")
    ('bicycle', None)
    """
    stem = stimulus_name(file_name).split(".", 1)[0]
    if "-" not in stem:
        return None
    texture = re.sub(r"\d", "", stem.rsplit("-", 1)[-1])
    return texture or None


def match_category(texture: str | None, categories: Iterable[str]) -> str | None:
    """``texture`` as one of ``categories``: itself, or the one whose part after ``_`` it is.

    >>> match_category("star", ["t00_circle", "t03_star"])
    't03_star'
    """
    if texture is None:
        return None
    names = list(categories)
    if texture in names:
        return texture
    suffixed = [c for c in names if "_" in c and c.split("_", 1)[1] == texture]
    return suffixed[0] if len(suffixed) == 1 else texture


# --------------------------------------------------------------------------- stimuli


def _dataset_folders(base: Path) -> dict[str, Path]:
    found = {}
    for dataset, names in STIMULUS_FOLDERS.items():
        for name in names:
            if (base / name).is_dir():
                found[dataset] = base / name
                break
    return found


def find_stimulus_folders(root: str | Path) -> dict[str, Path]:
    """Each dataset's stimulus folder under ``root`` (see the module docstring).

    Parameters
    ----------
    root : path
        A folder of dataset folders, a texture-vs-shape checkout, its ``stimuli/``,
        or the folder holding ``texture-vs-shape-<commit>/``.

    Returns
    -------
    dict
        Dataset name (:data:`DATASETS`) → its folder; only the datasets present.

    Raises
    ------
    MissingInputError
        ``root`` does not exist, or holds no stimulus folder in any known layout.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise MissingInputError(f"{root}: no such folder of Geirhos stimuli")
    bases = [root, root / "datasets", root / "stimuli"]
    bases += [top / "stimuli" for top in sorted(root.glob("texture-vs-shape-*")) if top.is_dir()]
    for base in bases:
        found = _dataset_folders(base)
        if found:
            return found
    names = ", ".join(sorted({n for names in STIMULUS_FOLDERS.values() for n in names}))
    raise MissingInputError(
        f"{root}: no Geirhos stimuli found; expected one of the folders {names} in it, in "
        f"its stimuli/ folder, or in texture-vs-shape-<commit>/stimuli/ below it")


def _scan_sessions(dataset: str, folder: Path) -> tuple[list[dict], list[str]]:
    """``<dataset>/dnn/session-N/<file>``: condition and category from the file name."""
    rows: list[dict] = []
    problems: list[str] = []
    for session in sorted(p for p in (folder / "dnn").iterdir() if p.is_dir()):
        for image in sorted(session.iterdir()):
            if image.name.startswith(".") or not image.is_file():
                continue
            if image.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            category = mvh.category_of(image.name)
            if category is None:
                problems.append(f"{image}: no condition and category in the file name "
                                "(expected NNNN_x_sNN_<condition>_<category>_…), skipped")
                continue
            rows.append({"dataset": dataset, "image": mvh.image_id(image.name),
                         "path": str(image.absolute()), "category": category,
                         "texture": texture_of(image.name) if dataset == "cue-conflict"
                         else None,
                         "condition": mvh.canonical_condition(
                             dataset, mvh.condition_of(image.name))})
    if not rows:
        problems.append(f"{folder / 'dnn'}: no stimuli (session-N/<file>.png) in this folder")
    return rows, problems


def _scan_dataset(dataset: str, folder: Path) -> tuple[list[dict], list[str]]:
    if (folder / "dnn").is_dir():
        return _scan_sessions(dataset, folder)
    rows: list[dict] = []
    problems: list[str] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES:
            problems.append(f"{entry}: an image outside a category folder, skipped")
        if not entry.is_dir():
            continue
        for image in sorted(entry.iterdir()):
            if image.name.startswith(".") or not image.is_file():
                continue
            if image.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            texture = texture_of(image.name) if dataset == "cue-conflict" else None
            if dataset == "cue-conflict" and texture is None:
                problems.append(f"{image}: no texture in the file name "
                                f"(expected <shape>N-<texture>M{image.suffix}), skipped")
                continue
            rows.append({"dataset": dataset, "image": mvh.image_id(image.name),
                         "path": str(image.absolute()), "category": entry.name,
                         "texture": texture,
                         "condition": mvh.canonical_condition(
                             dataset, mvh.condition_of(image.name))})
    if not rows:
        problems.append(f"{folder}: no stimuli (<category>/<file>.png) in this folder")
    return rows, problems


def discover_stimuli(root: str | Path, datasets: Sequence[str] | None = None) -> Loaded:
    """Find every stimulus under ``root``: one row per image.

    Parameters
    ----------
    root : path
        See :func:`find_stimulus_folders`.
    datasets : sequence of str, optional
        Only these datasets (default: every one present).

    Returns
    -------
    Loaded
        ``table`` with :data:`STIMULI_COLUMNS`: ``dataset``, ``image`` (the name every
        observer's trial shares), ``path`` (absolute), ``category`` (the shape),
        ``texture`` (cue-conflict only, else None), ``conflict`` (shape ≠ texture) and
        ``condition``, in dataset order; ``problems`` lists skipped files and duplicates.

    Raises
    ------
    MissingInputError
        ``root`` is missing or has no stimuli, or a dataset asked for is absent.
    """
    folders = find_stimulus_folders(root)
    wanted = list(folders) if datasets is None else list(datasets)
    unknown = [d for d in wanted if d not in STIMULUS_FOLDERS]
    absent = [d for d in wanted if d in STIMULUS_FOLDERS and d not in folders]
    if unknown or absent:
        raise MissingInputError(f"{root}: datasets {unknown + absent} not found; present: "
                               f"{sorted(folders)}; known: {', '.join(DATASETS)}")
    rows: list[dict] = []
    problems: list[str] = []
    for dataset in [d for d in DATASETS if d in wanted]:
        found, trouble = _scan_dataset(dataset, folders[dataset])
        categories = sorted({row["category"] for row in found})
        for row in found:
            row["texture"] = match_category(row["texture"], categories)
        rows += found
        problems += trouble
    table = pd.DataFrame(rows, columns=[c for c in STIMULI_COLUMNS if c != "conflict"])
    table["conflict"] = table["texture"].notna() & (table["texture"] != table["category"])
    repeated = table.duplicated(["dataset", "condition", "image"], keep="first")
    for _, row in table[repeated].iterrows():
        problems.append(f"{row['path']}: {row['dataset']} already has a stimulus named "
                        f"{row['image']!r} in condition {row['condition']}; this one is skipped")
    table = table[~repeated].reset_index(drop=True)
    table["texture"] = table["texture"].astype(object).where(table["texture"].notna(), None)
    return Loaded(table[STIMULI_COLUMNS], problems)


def decisions_table(stimuli: pd.DataFrame, decisions: Sequence[str | None], observer: str,
                    kind: str = "model") -> pd.DataFrame:
    """One observer's decisions on the stimuli, in the ``geirhos_decisions`` contract.

    Parameters
    ----------
    stimuli : DataFrame, N rows
        From :func:`discover_stimuli` (``dataset, image, category, texture``).
    decisions : sequence of str or None, length N
        The category chosen for each stimulus (None: no decision).
    observer : str
        The model's name (humans are ``subject-NN``).
    kind : {"model", "human"}

    Returns
    -------
    DataFrame with :data:`DECISION_COLUMNS`, N rows in the order of ``stimuli``.
    """
    if len(decisions) != len(stimuli):
        raise ValueError(f"{len(decisions)} decisions for {len(stimuli)} stimuli")
    table = stimuli[["dataset", "image", "category", "texture"]].reset_index(drop=True)
    table.insert(0, "kind", kind)
    table.insert(0, "observer", observer)
    table["decision"] = pd.Series(list(decisions), dtype=object)
    table["condition"] = (stimuli["condition"].astype(str).to_numpy() if "condition" in stimuli
                          else mvh.SINGLE_CONDITION)
    return table[DECISION_COLUMNS]
