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

from localglobal.errors import LabelSpaceError
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

def check_label_space(model: str, model_space: LabelSpace, wnids: Sequence[str],
                      dataset_space: LabelSpace | None = None) -> None:
    """Refuse items whose class the model cannot predict.

    Parameters
    ----------
    model : str
        The model's name, for the message.
    model_space : LabelSpace
        The label space of its outputs.
    wnids : sequence of str
        The items' classes.
    dataset_space : LabelSpace, optional
        The dataset's label space: classes that are its categories count as
        predictable when a decision mapping joins it to ``model_space``
        (:func:`category_groups`).

    Raises
    ------
    LabelSpaceError
        Naming the model, its label space, the foreign classes and how many items
        carry them.
    """
    counts = pd.Series(list(wnids)).value_counts()
    if dataset_space is not None and category_groups(model_space, dataset_space) is not None:
        model_space = dataset_space  # each item's class is one of the mapped categories
    foreign = [w for w in counts.index if w not in model_space]
    if foreign:
        n_items = int(counts[foreign].sum())
        raise LabelSpaceError(
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


def category_groups(model_space: LabelSpace, dataset_space: LabelSpace
                    ) -> tuple[tuple[int, ...], ...] | None:
    """The model classes of each dataset class, when the dataset's classes are categories
    of the model's (``geirhos-16`` in ImageNet-1k); None when they are the model's own.

    Parameters
    ----------
    model_space : LabelSpace
        The label space of the model's outputs.
    dataset_space : LabelSpace
        The dataset's label space.

    Returns
    -------
    tuple of tuple of int, or None
        Per dataset class, in the dataset's order, the model-space indices of the
        classes it gathers (a decision mapping of :mod:`~localglobal.evaluation.decisions`);
        None when every dataset class is a class of the model.

        Without a mapping between the two (classes the model lacks are then refused
        by :func:`check_label_space`), None as well.

    Raises
    ------
    LabelSpaceError
        The mapping has no model classes for some dataset class.
    """
    from localglobal.evaluation.decisions import DECISION_MAPPINGS, mapping_key

    mapping = DECISION_MAPPINGS.get(mapping_key(model_space.name, dataset_space.name))
    if mapping is None or all(w in model_space for w in dataset_space.wnids):
        return None
    groups = dict(zip(mapping.categories, getattr(mapping, "indices", ()), strict=False))
    missing = [w for w in dataset_space.wnids if w not in groups]
    if missing:
        raise LabelSpaceError(f"the decision mapping {model_space.name} -> "
                                 f"{dataset_space.name} has no model classes for {missing}")
    return tuple(tuple(groups[w]) for w in dataset_space.wnids)


def score_categories(logits: torch.Tensor, groups: Sequence[Sequence[int]],
                     true_category: torch.Tensor) -> dict[str, np.ndarray]:
    """Decisions of a batch of logits among categories that each gather model classes.

    The category decision is model-vs-human's: the softmax probability over all C
    classes, averaged over each category's classes, and the largest mean wins. In the
    model's space the true class is the true category's most probable class.

    Parameters
    ----------
    logits : torch.Tensor
        N×C float logits in the model's label space.
    groups : sequence of sequence of int
        K lists of model-space indices, one per category (the dataset's order).
    true_category : torch.Tensor
        N int64, each item's category (position in ``groups``).

    Returns
    -------
    dict of numpy.ndarray
        The keys of :func:`score_logits` and ``true_index``: ``true_*`` and ``top5`` of
        the true category's best class among all C; ``subset_*`` among the K
        categories, ``subset_true_prob`` and ``subset_pred_prob`` the mean
        probabilities normalised over the categories (``subset_true_rank``: 1 + the
        categories with a larger mean).
    """
    logits = logits.float()
    true_category = true_category.to(logits.device)
    probs = torch.softmax(logits, dim=1)
    members = torch.zeros((len(groups), logits.shape[1]), device=logits.device)
    for k, indices in enumerate(groups):
        members[k, list(indices)] = 1.0 / len(indices)
    means = probs @ members.T
    shares = means / means.sum(dim=1, keepdim=True)
    sub_pred_prob, sub_pred = shares.max(dim=1)
    in_true = members[true_category] > 0
    true_logit, true_index = logits.masked_fill(~in_true, float("-inf")).max(dim=1)
    true_rank = (logits > true_logit[:, None]).sum(dim=1) + 1
    pred_logit, pred_index = logits.max(dim=1)
    true_mean = means.gather(1, true_category[:, None])
    out = {
        "true_index": true_index,
        "true_logit": true_logit,
        "true_prob": probs.gather(1, true_index[:, None])[:, 0],
        "true_rank": true_rank,
        "pred_index": pred_index,
        "pred_logit": pred_logit,
        "pred_prob": probs.gather(1, pred_index[:, None])[:, 0],
        "top5": true_rank <= 5,
        "subset_pred_index": sub_pred,
        "subset_pred_prob": sub_pred_prob,
        "subset_true_prob": shares.gather(1, true_category[:, None])[:, 0],
        "subset_true_logit": true_logit,
        "subset_true_rank": (means > true_mean).sum(dim=1) + 1,
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
        The perturbation table (see :mod:`localglobal.evaluation.perturbation_items`),
        indexed by row number.
    model_space : LabelSpace
        The label space of the model's outputs; it must hold every item's class
        (see :func:`check_label_space`), or the dataset's classes must be categories
        of it (:func:`category_groups`).
    dataset_space : LabelSpace
        The dataset's label space (``data.label_space``).
    """

    def __init__(self, model: str, items: pd.DataFrame, model_space: LabelSpace,
                 dataset_space: LabelSpace):
        self.model = model
        self.items = items
        self.model_space, self.dataset_space = model_space, dataset_space
        self.groups = category_groups(model_space, dataset_space)
        if self.groups is None:
            self.true_index = np.asarray([model_space.index_of(w) for w in items["wnid"]],
                                         dtype=np.int64)
            subset_index, self.subset_wnids = subset_for(model_space, dataset_space)
            self.subset_index = torch.as_tensor(subset_index, dtype=torch.int64)
        else:
            self.true_category = np.asarray(
                [dataset_space.index_of(w) for w in items["wnid"]], dtype=np.int64)
            self.subset_wnids = list(dataset_space.wnids)

    def _scores(self, rows: np.ndarray, logits: torch.Tensor) -> dict[str, np.ndarray]:
        if self.groups is not None:
            return score_categories(logits, self.groups,
                                    torch.from_numpy(self.true_category[rows]))
        scores = score_logits(logits, torch.from_numpy(self.true_index[rows]), self.subset_index)
        return {**scores, "true_index": self.true_index[rows]}

    def frame(self, rows: np.ndarray, logits: torch.Tensor) -> pd.DataFrame:
        """The prediction rows of items ``rows`` (row numbers) from their logits."""
        rows = np.asarray(rows, dtype=np.int64)
        scores = self._scores(rows, logits)
        part = self.items.iloc[rows]
        frame = pd.DataFrame({
            "model": self.model,
            "item_id": part["item_id"].to_numpy(),
            "image_id": part["image_id"].to_numpy(),
            "wnid": part["wnid"].to_numpy(),
            "probe": part["probe"].to_numpy(),
            "level": part["level"].to_numpy().astype(np.int64),
            "variant": part["variant"].astype(str).to_numpy(),
            "true_index": np.asarray(scores["true_index"], dtype=np.int64),
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


__all__ = ["EXTRA_COLUMNS", "PREDICTION_COLUMNS", "Scorer", "category_groups",
           "check_label_space", "empty_predictions", "score_categories", "score_logits",
           "subset_for"]
