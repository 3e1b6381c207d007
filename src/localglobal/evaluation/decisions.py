"""Decision mappings: a model's scores over its own classes → one of a dataset's categories.

Every observer of the Geirhos benchmark — model or human — answers with one of the
dataset's categories. A model answers in its own label space, so its scores are
mapped:

- ImageNet-1k → the 16 entry-level categories of Geirhos et al. (``geirhos-16``):
  the softmax probability over all 1000 classes is averaged over each category's
  ImageNet classes (:data:`IMAGENET_INDICES_16`, the lists of model-vs-human's
  ``human_categories.py``), then the category with the largest mean wins. Averaging
  (not summing) means a category is not favoured for owning many classes: ``dog``
  has 109 ImageNet classes, ``airplane``, ``knife`` and ``oven`` one each.
- A label space whose classes *are* the dataset's categories (the toy world): the
  argmax over the model's own classes, restricted to the stimuli's categories.

Mappings sit in one registry, :data:`DECISION_MAPPINGS`, keyed
``"<model label space>-><dataset label space>"``; :func:`get_decision_mapping`
finds one by the pair.

>>> mapping = get_decision_mapping("imagenet-1k", GEIRHOS_16)
>>> scores = np.zeros((1, 1000)); scores[0, 404] = 10.0   # 404: airliner
>>> mapping.decide(scores, kind="logits")
['airplane']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from localglobal.errors import LabelSpaceError
from localglobal.labels import GEIRHOS_16_CATEGORIES

ScoreKind = Literal["logits", "probabilities"]

GEIRHOS_16 = "geirhos-16"
"""Name of the dataset label space of the 16 entry-level categories."""

CATEGORIES_16: tuple[str, ...] = GEIRHOS_16_CATEGORIES
"""The 16 categories of Geirhos et al., sorted (model-vs-human's order): the classes of
the ``geirhos-16`` label space."""

_DOG = (
    152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169,
    170, 171, 172, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187,
    188, 189, 190, 191, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 205, 206, 207,
    208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223, 224, 225,
    226, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 243, 244, 245,
    246, 247, 248, 249, 250, 252, 253, 254, 255, 256, 257, 259, 261, 262, 263, 265, 266, 267,
    268,
)

IMAGENET_INDICES_16: dict[str, tuple[int, ...]] = {
    "airplane": (404,),
    "bear": (294, 295, 296, 297),
    "bicycle": (444, 671),
    "bird": (8, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 23, 24, 80, 81, 82, 83, 87,
             88, 89, 90, 91, 92, 93, 94, 95, 96, 98, 99, 100, 127, 128, 129, 130, 131, 132,
             133, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145),
    "boat": (472, 554, 625, 814, 914),
    "bottle": (440, 720, 737, 898, 899, 901, 907),
    "car": (436, 511, 817),
    "cat": (281, 282, 283, 284, 285, 286),
    "chair": (423, 559, 765, 857),
    "clock": (409, 530, 892),
    "dog": _DOG,
    "elephant": (385, 386),
    "keyboard": (508, 878),
    "knife": (499,),
    "oven": (766,),
    "truck": (555, 569, 656, 675, 717, 734, 864, 867),
}
"""ImageNet-1k output indices of each of the 16 categories (bethgelab/model-vs-human,
``modelvshuman/helper/human_categories.py``, the ``<category>_indices`` lists)."""


def to_probabilities(scores: np.ndarray, kind: ScoreKind = "logits") -> np.ndarray:
    """Softmax probabilities over a model's whole label space.

    Parameters
    ----------
    scores : array, shape (N, C)
        One row per stimulus, one column per model class: logits (any real values)
        or probabilities (in [0, 1]).
    kind : {"logits", "probabilities"}
        What ``scores`` holds. Logits go through a softmax over all C classes;
        probabilities are used as they are.

    Returns
    -------
    ndarray, shape (N, C), float64

    Raises
    ------
    LabelSpaceError
        A shape other than 2-D, a value that is not finite, or (for probabilities) a
        value outside [0, 1].
    """
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 2:
        raise LabelSpaceError(f"scores must be an (N, C) array, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise LabelSpaceError("scores hold NaN or infinite values")
    if kind == "logits":
        shifted = np.exp(values - values.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    if kind == "probabilities":
        if values.size and (values.min() < -1e-6 or values.max() > 1 + 1e-6):
            raise LabelSpaceError(
                f"probabilities must lie in [0, 1]; got values from {values.min():.4g} to "
                f"{values.max():.4g} (pass kind='logits' for raw model outputs)")
        return values
    raise LabelSpaceError(f"kind must be 'logits' or 'probabilities', got {kind!r}")


class DecisionMapping(Protocol):
    """What every mapping offers: the categories, their probabilities, the decisions."""

    name: str
    model_space: str
    dataset_space: str

    @property
    def categories(self) -> tuple[str, ...]: ...

    def category_probabilities(self, scores: np.ndarray,
                               kind: ScoreKind = "logits") -> np.ndarray: ...

    def decide(self, scores: np.ndarray, kind: ScoreKind = "logits",
               categories: Sequence[str] | None = None) -> list[str]: ...


@dataclass(frozen=True)
class AveragedProbabilityMapping:
    """Mean softmax probability over each category's model classes, then the argmax.

    Attributes
    ----------
    name : str
        Registry key, ``"<model_space>-><dataset_space>"``.
    model_space, dataset_space : str
        Label space names of the model's outputs and of the dataset's categories.
    category_names : tuple of str, length K
        The categories, in the order of the columns of
        :meth:`category_probabilities`; ties go to the earlier one.
    indices : tuple of tuple of int, length K
        Model output indices of each category.
    n_classes : int or None
        The number of model outputs C the scores must have (None: any).
    """

    name: str
    model_space: str
    dataset_space: str
    category_names: tuple[str, ...]
    indices: tuple[tuple[int, ...], ...]
    n_classes: int | None = None

    def __post_init__(self) -> None:
        if len(self.category_names) != len(self.indices):
            raise ValueError(f"{self.name}: {len(self.category_names)} categories but "
                             f"{len(self.indices)} index lists")
        empty = [c for c, idx in zip(self.category_names, self.indices, strict=True) if not idx]
        if empty:
            raise ValueError(f"{self.name}: categories without model classes: {empty}")

    @property
    def categories(self) -> tuple[str, ...]:
        return self.category_names

    def category_probabilities(self, scores: np.ndarray,
                               kind: ScoreKind = "logits") -> np.ndarray:
        """Each category's mean probability.

        Parameters
        ----------
        scores : array, shape (N, C)
            Logits or probabilities over the model's label space (see ``kind``).
        kind : {"logits", "probabilities"}
            What ``scores`` holds (logits are soft-maxed over all C classes first).

        Returns
        -------
        ndarray, shape (N, K), float64
            Column k is the mean probability of category k's model classes.
        """
        probabilities = to_probabilities(scores, kind)
        width = probabilities.shape[1]
        if self.n_classes is not None and width != self.n_classes:
            raise LabelSpaceError(f"{self.name}: scores have {width} columns, the "
                                       f"{self.model_space} label space {self.n_classes}")
        highest = max(max(idx) for idx in self.indices)
        if highest >= width:
            raise LabelSpaceError(f"{self.name}: scores have {width} columns but the "
                                       f"mapping reads column {highest}")
        columns = [probabilities[:, list(idx)].mean(axis=1) for idx in self.indices]
        return np.stack(columns, axis=1) if columns else np.empty((len(probabilities), 0))

    def decide(self, scores: np.ndarray, kind: ScoreKind = "logits",
               categories: Sequence[str] | None = None) -> list[str]:
        """One category per stimulus: the largest mean probability.

        Parameters
        ----------
        scores : array, shape (N, C)
            Logits or probabilities over the model's label space.
        kind : {"logits", "probabilities"}
            What ``scores`` holds.
        categories : sequence of str, optional
            Choose only among these (a subset of :attr:`categories`, e.g. the
            categories the stimuli have); default all.

        Returns
        -------
        list of str, length N
        """
        allowed = self.category_names if categories is None else tuple(categories)
        unknown = sorted(set(allowed) - set(self.category_names))
        if unknown or not allowed:
            raise LabelSpaceError(
                f"{self.name}: cannot choose among {list(allowed)}; unknown categories "
                f"{unknown}; known: {', '.join(self.category_names)}")
        probabilities = self.category_probabilities(scores, kind)
        keep = [k for k, name in enumerate(self.category_names) if name in set(allowed)]
        winners = np.argmax(probabilities[:, keep], axis=1)
        return [self.category_names[keep[k]] for k in winners]


@dataclass(frozen=True)
class OwnClassesMapping:
    """Decide among the model's own classes, which are the dataset's categories.

    The categories are the classes of the label space ``model_space`` (looked up
    with :func:`localglobal.labels.get_label_space` when first used), named by
    their wnid (``t03_star``, the toy world's folder names); a category passed to
    :meth:`decide` may also be given by the class's plain name (``star``) and is
    returned as given. With one model class per category the mean probability is
    that class's probability, so the decision is the argmax over the allowed classes.
    """

    name: str
    model_space: str
    dataset_space: str

    def resolved(self) -> AveragedProbabilityMapping:
        """The equivalent :class:`AveragedProbabilityMapping` (one class per category)."""
        from localglobal.labels import get_label_space

        space = get_label_space(self.model_space)
        return AveragedProbabilityMapping(
            self.name, self.model_space, self.dataset_space, tuple(space.wnids),
            tuple((k,) for k in range(len(space))), n_classes=len(space))

    @property
    def categories(self) -> tuple[str, ...]:
        return self.resolved().categories

    def category_probabilities(self, scores: np.ndarray,
                               kind: ScoreKind = "logits") -> np.ndarray:
        """Each class's softmax probability; shape (N, C), as :func:`to_probabilities`."""
        return self.resolved().category_probabilities(scores, kind)

    def decide(self, scores: np.ndarray, kind: ScoreKind = "logits",
               categories: Sequence[str] | None = None) -> list[str]:
        """The argmax over the allowed classes, named as ``categories`` names them.

        Parameters
        ----------
        scores : array, shape (N, C)
            Logits or probabilities over the model's C classes.
        kind : {"logits", "probabilities"}
            What ``scores`` holds.
        categories : sequence of str, optional
            Wnids or class names to choose among (the stimuli's categories).

        Returns
        -------
        list of str, length N
        """
        from localglobal.labels import get_label_space

        mapping = self.resolved()
        if categories is None:
            return mapping.decide(scores, kind)
        space = get_label_space(self.model_space)
        by_name = dict(zip(space.names, space.wnids, strict=True))
        wnids = [c if c in space else by_name.get(c, c) for c in categories]
        back = dict(zip(wnids, categories, strict=True))
        return [back[w] for w in mapping.decide(scores, kind, wnids)]


def mapping_key(model_space: str, dataset_space: str) -> str:
    """The registry key of a (model label space, dataset label space) pair."""
    return f"{model_space}->{dataset_space}"


IMAGENET_TO_16 = AveragedProbabilityMapping(
    mapping_key("imagenet-1k", GEIRHOS_16), "imagenet-1k", GEIRHOS_16, CATEGORIES_16,
    tuple(IMAGENET_INDICES_16[c] for c in CATEGORIES_16), n_classes=1000)
"""The model-vs-human mapping of ImageNet-1k probabilities to the 16 categories."""

DECISION_MAPPINGS: dict[str, DecisionMapping] = {
    IMAGENET_TO_16.name: IMAGENET_TO_16,
    mapping_key("toyworld", "toyworld"): OwnClassesMapping(
        mapping_key("toyworld", "toyworld"), "toyworld", "toyworld"),
}
"""Every decision mapping by :func:`mapping_key`."""


def register_decision_mapping(mapping: DecisionMapping, overwrite: bool = False) -> None:
    """Add a mapping to :data:`DECISION_MAPPINGS` under its ``name``.

    Raises
    ------
    ValueError
        A different mapping already has the name and ``overwrite`` is False.
    """
    existing = DECISION_MAPPINGS.get(mapping.name)
    if existing is not None and existing != mapping and not overwrite:
        raise ValueError(f"a decision mapping {mapping.name!r} is already registered")
    DECISION_MAPPINGS[mapping.name] = mapping


def get_decision_mapping(model_space: str, dataset_space: str) -> DecisionMapping:
    """The mapping from a model's label space to a dataset's categories.

    Raises
    ------
    LabelSpaceError
        No mapping for the pair; the message lists the registered ones.
    """
    key = mapping_key(model_space, dataset_space)
    try:
        return DECISION_MAPPINGS[key]
    except KeyError:
        known = ", ".join(sorted(DECISION_MAPPINGS))
        raise LabelSpaceError(
            f"no decision mapping from label space {model_space!r} to {dataset_space!r} "
            f"({key}); known: {known}") from None
