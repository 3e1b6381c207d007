"""Logits → the rows of ``predictions.parquet``.

For one (model, item), in the model's own label space: the true class's index,
logit, softmax probability and rank (1 = the top class; ties count in the true
class's favour), the predicted class, its logit and probability, and whether the
true class is among the top five. Restricted to the dataset's classes
(``data.label_space``, e.g. Imagenette's ten, mapped into the model's space): the
predicted class's index in the dataset's label space (``subset_pred_index``), and
the true class's logit, softmax probability over only those classes, and rank among
them.

>>> scorer = Scorer("resnet50", items, imagenet, imagenette)   # doctest: +SKIP
>>> scorer.frame(rows, logits)                                 # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from localglobal.errors import LabelSpaceMismatch
from localglobal.labels import LabelSpace

PREDICTION_COLUMNS: list[str] = [
    "model", "item_id", "true_index", "true_logit", "true_prob", "true_rank",
    "pred_index", "pred_logit", "pred_prob", "top5", "subset_pred_index", "subset_true_prob",
]
"""The contract columns of ``predictions.parquet`` (DESIGN.md, "Contracts")."""

EXTRA_COLUMNS: list[str] = [
    "image_id", "wnid", "probe", "level", "variant", "pred_wnid", "correct",
    "subset_pred_wnid", "subset_pred_prob", "subset_true_logit", "subset_true_rank",
    "subset_correct", "finite", "model_classes", "subset_classes", "condition",
]
"""Further columns, after the contract ones. ``model_classes`` counts the model's
classes, ``subset_classes`` the dataset's classes among them that the subset decision
chooses from: fewer means the run's label space is a subset of the model's.
``condition`` is the level's label (``"28"``, ``"c50"``)."""

def check_label_space(model: str, model_space: LabelSpace, wnids: Sequence[str]) -> None:
    """Refuse items whose class the model cannot predict.

    Parameters
    ----------
    model : str
        The model's name, for the message.
    model_space : LabelSpace
        The label space of its outputs.
    wnids : sequence of str
        The items' classes.

    Raises
    ------
    LabelSpaceMismatch
        Naming the model, its label space, the foreign classes and how many items
        carry them.
    """
    counts = pd.Series(list(wnids)).value_counts()
    foreign = [w for w in counts.index if w not in model_space]
    if foreign:
        n_items = int(counts[foreign].sum())
        raise LabelSpaceMismatch(
            f"model {model!r} (label space {model_space.name!r}, {len(model_space)} "
            f"classes) cannot score {n_items} item(s): their classes "
            f"{', '.join(sorted(foreign)[:10])}{' …' if len(foreign) > 10 else ''} are not "
            f"in its label space; refused before inference")


def subset_for(model_space: LabelSpace, dataset_space: LabelSpace
               ) -> tuple[list[int], list[str]]:
    """Model-space indices and wnids of the dataset's classes the model knows, in the
    dataset's order."""
    wnids = [w for w in dataset_space.wnids if w in model_space]
    return [model_space.index_of(w) for w in wnids], wnids


def score_logits(logits: torch.Tensor, true_index: torch.Tensor,
                 subset_index: torch.Tensor) -> dict[str, np.ndarray]:
    """Decisions of a batch of logits, in the model's space and within a class subset.

    Parameters
    ----------
    logits : torch.Tensor
        N×C float logits in the model's label space.
    true_index : torch.Tensor
        N int64, each item's true class in the model's space.
    subset_index : torch.Tensor
        K int64, the model-space indices of the dataset's classes, in the dataset's
        order (position k is class k of the dataset's space).

    Returns
    -------
    dict of numpy.ndarray
        Arrays of length N: ``true_logit``, ``true_prob`` (softmax over all C),
        ``true_rank`` (1 + the number of classes with a strictly larger logit),
        ``pred_index``, ``pred_logit``, ``pred_prob``, ``top5`` (true_rank ≤ 5); and
        within the subset: ``subset_pred_index`` (position in the subset),
        ``subset_pred_prob`` and ``subset_true_prob`` (softmax over the K subset
        logits only), ``subset_true_logit`` and ``subset_true_rank``. Items whose true
        class is not in the subset get NaN subset-true values and rank 0.
    """
    logits = logits.float()
    true_index = true_index.to(logits.device)
    subset_index = subset_index.to(logits.device)
    probs = torch.softmax(logits, dim=1)
    true_logit = logits.gather(1, true_index[:, None])[:, 0]
    true_prob = probs.gather(1, true_index[:, None])[:, 0]
    true_rank = (logits > true_logit[:, None]).sum(dim=1) + 1
    pred_logit, pred_index = logits.max(dim=1)
    pred_prob = probs.gather(1, pred_index[:, None])[:, 0]

    sub_logits = logits.index_select(1, subset_index)
    sub_probs = torch.softmax(sub_logits, dim=1)
    sub_pred_prob, sub_pred = sub_probs.max(dim=1)
    matches = true_index[:, None] == subset_index[None, :]
    in_subset = matches.any(dim=1)
    position = matches.float().argmax(dim=1)
    sub_true_prob = sub_probs.gather(1, position[:, None])[:, 0]
    sub_true_rank = (sub_logits > true_logit[:, None]).sum(dim=1) + 1
    nan = torch.tensor(float("nan"), device=logits.device)
    out = {
        "true_logit": true_logit,
        "true_prob": true_prob,
        "true_rank": true_rank,
        "pred_index": pred_index,
        "pred_logit": pred_logit,
        "pred_prob": pred_prob,
        "top5": true_rank <= 5,
        "subset_pred_index": sub_pred,
        "subset_pred_prob": sub_pred_prob,
        "subset_true_prob": torch.where(in_subset, sub_true_prob, nan),
        "subset_true_logit": torch.where(in_subset, true_logit, nan),
        "subset_true_rank": torch.where(in_subset, sub_true_rank, torch.zeros_like(sub_true_rank)),
    }
    return {key: value.cpu().numpy() for key, value in out.items()}


def empty_predictions() -> pd.DataFrame:
    """A predictions table without rows, with every column."""
    return pd.DataFrame({c: pd.Series(dtype=object) for c in PREDICTION_COLUMNS + EXTRA_COLUMNS})


class Scorer:
    """Turns one model's logits over rows of the perturbation table into prediction rows.

    Parameters
    ----------
    model : str
        The model's name (the ``model`` column).
    items : pandas.DataFrame
        The perturbation table (see :mod:`localglobal.evaluation.items`), indexed by row
        number.
    model_space : LabelSpace
        The label space of the model's outputs; it must hold every item's class
        (see :func:`check_label_space`).
    dataset_space : LabelSpace
        The dataset's label space (``data.label_space``).
    """

    def __init__(self, model: str, items: pd.DataFrame, model_space: LabelSpace,
                 dataset_space: LabelSpace):
        self.model = model
        self.items = items
        self.model_space, self.dataset_space = model_space, dataset_space
        self.true_index = np.asarray([model_space.index_of(w) for w in items["wnid"]],
                                     dtype=np.int64)
        subset_index, self.subset_wnids = subset_for(model_space, dataset_space)
        self.subset_index = torch.as_tensor(subset_index, dtype=torch.int64)

    def frame(self, rows: np.ndarray, logits: torch.Tensor) -> pd.DataFrame:
        """The prediction rows of items ``rows`` (row numbers) from their logits."""
        rows = np.asarray(rows, dtype=np.int64)
        scores = score_logits(logits, torch.from_numpy(self.true_index[rows]), self.subset_index)
        part = self.items.iloc[rows]
        frame = pd.DataFrame({
            "model": self.model,
            "item_id": part["item_id"].to_numpy(),
            "image_id": part["image_id"].to_numpy(),
            "wnid": part["wnid"].to_numpy(),
            "probe": part["probe"].to_numpy(),
            "level": part["level"].to_numpy().astype(np.int64),
            "variant": part["variant"].astype(str).to_numpy(),
            "true_index": self.true_index[rows],
            "true_logit": scores["true_logit"].astype(np.float64),
            "true_prob": scores["true_prob"].astype(np.float64),
            "true_rank": scores["true_rank"].astype(np.int64),
            "pred_index": scores["pred_index"].astype(np.int64),
            "pred_logit": scores["pred_logit"].astype(np.float64),
            "pred_prob": scores["pred_prob"].astype(np.float64),
            "top5": scores["top5"].astype(bool),
        })
        # A NaN or infinite output has no top class: argmax's pick is not a prediction,
        # so such a row is flagged and never counted correct.
        finite = torch.isfinite(logits.float()).all(dim=1).cpu().numpy()
        frame["pred_wnid"] = [self.model_space.wnids[i] for i in frame["pred_index"]]
        frame["correct"] = (frame["pred_index"] == frame["true_index"]) & finite
        chosen = [self.subset_wnids[i] for i in scores["subset_pred_index"]]
        frame["subset_pred_index"] = np.asarray(
            [self.dataset_space.index_of(w) for w in chosen], dtype=np.int64)
        frame["subset_pred_wnid"] = chosen
        frame["subset_pred_prob"] = scores["subset_pred_prob"].astype(np.float64)
        frame["subset_true_prob"] = scores["subset_true_prob"].astype(np.float64)
        frame["subset_true_logit"] = scores["subset_true_logit"].astype(np.float64)
        frame["subset_true_rank"] = scores["subset_true_rank"].astype(np.int64)
        frame["subset_correct"] = (frame["subset_pred_wnid"] == frame["wnid"]) & finite
        frame["finite"] = finite
        frame["model_classes"] = np.int64(len(self.model_space))
        frame["subset_classes"] = np.int64(len(self.subset_wnids))
        frame["condition"] = (part["condition"].astype(str).to_numpy() if "condition" in part
                              else part["level"].astype(str).to_numpy())
        return frame[PREDICTION_COLUMNS + EXTRA_COLUMNS]


__all__ = ["EXTRA_COLUMNS", "PREDICTION_COLUMNS",
           "Scorer", "check_label_space", "empty_predictions", "score_logits", "subset_for"]
