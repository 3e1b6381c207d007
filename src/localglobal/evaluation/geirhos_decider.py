"""A model's decisions on the Geirhos stimuli: logits → one of the stimuli's categories.

The stimuli (:func:`localglobal.data.geirhos_stimuli.discover_stimuli`) name their categories
by folder. Their label space is ``geirhos-16`` when every category is one of the 16
entry-level categories, and otherwise the model's own label space when every
category is one of its classes (the toy world's stimuli are named by its wnids). The
decision mapping of the pair (model label space, stimuli label space) turns each
stimulus's logits into a category (:mod:`~localglobal.evaluation.decisions`); a
mapping to the model's own classes chooses among the stimuli's categories only.

>>> decider = GeirhosDecider("resnet50", stimuli, "imagenet-1k")   # doctest: +SKIP
>>> decider.frame(rows, logits)                                   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from localglobal.data.geirhos_stimuli import DECISION_COLUMNS, decisions_table
from localglobal.errors import LabelSpaceError
from localglobal.evaluation.decisions import (
    CATEGORIES_16,
    GEIRHOS_16,
    DecisionMapping,
    OwnClassesMapping,
    get_decision_mapping,
)
from localglobal.labels import get_label_space


def stimulus_categories(stimuli: pd.DataFrame) -> list[str]:
    """Every category a stimulus shows, as shape or as texture (sorted)."""
    textures = [t for t in stimuli["texture"] if t is not None and t == t]
    return sorted(set(stimuli["category"]) | set(textures))


def stimuli_label_space(categories: list[str], model_space: str) -> str:
    """The label space the stimuli's categories are in, for a model of ``model_space``.

    Raises
    ------
    LabelSpaceError
        The categories are neither the 16 categories nor classes of the model's space.
    """
    if set(categories) <= set(CATEGORIES_16):
        return GEIRHOS_16
    space = get_label_space(model_space)
    lacking = [c for c in categories if c not in space]
    if not lacking:
        return model_space
    raise LabelSpaceError(
        f"the stimuli's categories are neither Geirhos et al.'s 16 nor classes of label "
        f"space {model_space!r} (it lacks {', '.join(lacking[:5])})")


def stimuli_identity(stimuli: pd.DataFrame) -> str:
    """A digest of the stimuli's names, categories, sizes and modification times."""
    digest = hashlib.sha256()
    for row in stimuli.itertuples(index=False):
        path = Path(row.path)
        stat = path.stat() if path.is_file() else None
        digest.update(f"{row.dataset}/{row.category}/{row.image}:{row.texture}:"
                      f"{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1}\n"
                      .encode())
    return digest.hexdigest()


class GeirhosDecider:
    """Turns a model's logits on stimuli (by row) into ``geirhos_decisions`` rows.

    Parameters
    ----------
    model : str
        The model's name (the ``observer`` column).
    stimuli : pandas.DataFrame
        From :func:`~localglobal.data.geirhos_stimuli.discover_stimuli`.
    model_space : str
        The label space of the model's outputs.

    Raises
    ------
    LabelSpaceError
        No decision mapping from the model's space to the stimuli's.
    """

    def __init__(self, model: str, stimuli: pd.DataFrame, model_space: str):
        self.model, self.stimuli = model, stimuli.reset_index(drop=True)
        self.categories = stimulus_categories(self.stimuli)
        self.space = stimuli_label_space(self.categories, model_space)
        self.mapping: DecisionMapping = get_decision_mapping(model_space, self.space)

    def decide(self, logits: np.ndarray) -> list[str]:
        """The category chosen for each row of ``logits``."""
        if isinstance(self.mapping, OwnClassesMapping):
            return self.mapping.decide(logits, "logits", self.categories)
        return self.mapping.decide(logits, "logits")

    def frame(self, rows: np.ndarray, logits: torch.Tensor) -> pd.DataFrame:
        """The decision rows of stimuli ``rows`` (row numbers) from their logits."""
        part = self.stimuli.iloc[np.asarray(rows, dtype=np.int64)]
        decisions = self.decide(logits.float().cpu().numpy())
        return decisions_table(part, decisions, self.model, "model")


def empty_decisions() -> pd.DataFrame:
    """A ``geirhos_decisions`` table without rows, with every column."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in DECISION_COLUMNS})


__all__ = ["GeirhosDecider", "empty_decisions", "stimuli_identity",
           "stimuli_label_space", "stimulus_categories"]
