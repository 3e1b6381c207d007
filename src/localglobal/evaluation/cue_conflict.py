"""Cue-conflict stimuli (the shape of one class, the texture of another) and a model's choices.

``data.cue_conflict`` names a folder with ``stimuli.csv`` (``path, shape_wnid,
texture_wnid``; paths relative to the folder) and the images. A model whose label
space holds every stimulus class classifies each stimulus, choosing among the
stimuli's classes only (the arg-max of their logits); the rows go to
``cue_conflict_predictions.parquet``, from which the analysis computes shape bias.
Stimuli are raw images: they are brought into the model's frame (shorter side to its
``resize``, centre crop) as torchvision would.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from localglobal.errors import ConfigError
from localglobal.labels import LabelSpace

CUE_CONFLICT_COLUMNS: list[str] = [
    "model", "path", "shape_wnid", "texture_wnid", "pred_wnid", "pred_index", "conflict",
    "top1_wnid",
]
"""The columns of ``cue_conflict_predictions.parquet``."""

STIMULI_FILE = "stimuli.csv"


@dataclass(frozen=True)
class Stimuli:
    """The cue-conflict set.

    Attributes
    ----------
    table : pandas.DataFrame
        ``path`` (as in the CSV), ``shape_wnid``, ``texture_wnid`` and ``file`` (the
        absolute path), one row per stimulus.
    identity : str
        A digest of the CSV and of every image's size and modification time: cached
        decisions are kept apart from those of another set.
    folder : Path
        The folder.
    """

    table: pd.DataFrame
    identity: str
    folder: Path

    @property
    def classes(self) -> list[str]:
        """Every class a stimulus shows, as shape or as texture (sorted)."""
        return sorted(set(self.table["shape_wnid"]) | set(self.table["texture_wnid"]))


def read_stimuli(folder: str | Path) -> Stimuli:
    """Read a cue-conflict folder.

    Raises
    ------
    ConfigError
        ``stimuli.csv`` is missing or lacks a column (naming the file and the key).
    """
    root = Path(folder).expanduser()
    csv = root / STIMULI_FILE
    if not csv.is_file():
        raise ConfigError(f"{csv}: no such file (data.cue_conflict needs a folder with "
                          f"{STIMULI_FILE}: path, shape_wnid, texture_wnid)")
    table = pd.read_csv(csv, dtype=str)
    missing = {"path", "shape_wnid", "texture_wnid"} - set(table.columns)
    if missing:
        raise ConfigError(f"{csv}: missing columns {sorted(missing)} (data.cue_conflict)")
    digest = hashlib.sha256(csv.read_bytes())
    for relative in table["path"]:
        path = root / relative
        if path.is_file():
            stat = path.stat()
            digest.update(f"{relative}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    table = table.assign(file=[str(root / p) for p in table["path"]])
    return Stimuli(table, digest.hexdigest(), root)


def lacking_classes(stimuli: Stimuli, model_space: LabelSpace) -> list[str]:
    """The stimulus classes a model cannot choose (then it is not asked)."""
    return [w for w in stimuli.classes if w not in model_space]


class CueConflictDecider:
    """A model's choices among the stimulus classes, from its logits.

    Parameters
    ----------
    model : str
        The model's name (the ``model`` column).
    stimuli : Stimuli
        The set; every class must be in ``model_space`` (see :func:`lacking_classes`).
    model_space : LabelSpace
        The label space of the model's outputs.
    """

    def __init__(self, model: str, stimuli: Stimuli, model_space: LabelSpace):
        self.model, self.stimuli, self.model_space = model, stimuli, model_space
        self.classes = sorted(stimuli.classes, key=model_space.index_of)
        self.class_index = torch.as_tensor([model_space.index_of(w) for w in self.classes])

    def frame(self, rows: np.ndarray, logits: torch.Tensor) -> pd.DataFrame:
        """The decision rows of stimuli ``rows`` (row numbers) from their logits."""
        chosen = logits.index_select(1, self.class_index.to(logits.device)).argmax(dim=1).cpu()
        top1 = logits.argmax(dim=1).cpu().numpy()
        part = self.stimuli.table.iloc[np.asarray(rows, dtype=np.int64)]
        return pd.DataFrame({
            "model": self.model,
            "path": part["path"].to_numpy(),
            "shape_wnid": part["shape_wnid"].to_numpy(),
            "texture_wnid": part["texture_wnid"].to_numpy(),
            "pred_wnid": [self.classes[i] for i in chosen.numpy()],
            "pred_index": self.class_index[chosen].numpy().astype(np.int64),
            "conflict": (part["shape_wnid"] != part["texture_wnid"]).to_numpy(),
            "top1_wnid": [self.model_space.wnids[i] for i in top1],
        })[CUE_CONFLICT_COLUMNS]


def empty_decisions() -> pd.DataFrame:
    """A cue-conflict table without rows, with every column."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in CUE_CONFLICT_COLUMNS})


__all__ = ["CUE_CONFLICT_COLUMNS", "CueConflictDecider", "Stimuli", "empty_decisions",
           "lacking_classes", "read_stimuli"]
