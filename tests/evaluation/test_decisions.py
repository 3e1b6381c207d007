"""Decision mappings: ImageNet-1k → 16 categories by mean probability; own classes; registry."""

from __future__ import annotations

import numpy as np
import pytest

from localglobal.errors import LabelSpaceError
from localglobal.evaluation.decisions import (
    CATEGORIES_16,
    DECISION_MAPPINGS,
    GEIRHOS_16,
    IMAGENET_INDICES_16,
    IMAGENET_TO_16,
    AveragedProbabilityMapping,
    get_decision_mapping,
    register_decision_mapping,
    to_probabilities,
)


def probabilities(mass: dict[str, float]) -> np.ndarray:
    """A (1, 1000) probability vector spreading each category's mass evenly over its classes."""
    vector = np.zeros((1, 1000))
    for category, total in mass.items():
        indices = list(IMAGENET_INDICES_16[category])
        vector[0, indices] = total / len(indices)
    return vector


def test_the_index_lists_are_sixteen_disjoint_sets_of_imagenet_outputs():
    assert tuple(sorted(IMAGENET_INDICES_16)) == CATEGORIES_16 == IMAGENET_TO_16.categories
    every = [i for indices in IMAGENET_INDICES_16.values() for i in indices]
    assert len(every) == len(set(every)) and min(every) >= 0 and max(every) < 1000
    sizes = {c: len(i) for c, i in IMAGENET_INDICES_16.items()}
    assert min(sizes.values()) == 1 and max(sizes.values()) > 100


def test_one_class_against_a_hundred_the_mean_not_the_sum_decides():
    sizes = {c: len(i) for c, i in IMAGENET_INDICES_16.items()}
    single = next(c for c, n in sizes.items() if n == 1)  # airplane: one ImageNet class
    many = max(sizes, key=sizes.get)  # dog: over a hundred
    n_many = sizes[many]
    # 99 % of the mass on the many classes still loses when their mean is below the one.
    lose = probabilities({many: 0.99, single: 0.01})
    assert 0.99 / n_many < 0.01
    assert IMAGENET_TO_16.decide(lose, kind="probabilities") == [single]
    win = probabilities({many: 0.995, single: 0.005})
    assert 0.995 / n_many > 0.005
    assert IMAGENET_TO_16.decide(win, kind="probabilities") == [many]


def test_category_probabilities_are_means_over_each_category():
    rng = np.random.default_rng(0)
    scores = rng.dirichlet(np.ones(1000), size=3)
    columns = IMAGENET_TO_16.category_probabilities(scores, kind="probabilities")
    assert columns.shape == (3, 16)
    k = CATEGORIES_16.index("truck")
    assert columns[:, k] == pytest.approx(scores[:, list(IMAGENET_INDICES_16["truck"])].mean(1))
    assert IMAGENET_TO_16.decide(scores, kind="probabilities") == [
        CATEGORIES_16[j] for j in columns.argmax(axis=1)]


def test_logits_go_through_a_softmax_over_all_classes_first():
    logits = np.zeros((2, 1000))
    logits[0, IMAGENET_INDICES_16["knife"][0]] = 8.0
    logits[1, list(IMAGENET_INDICES_16["bird"])] = 5.0
    assert IMAGENET_TO_16.decide(logits, kind="logits") == ["knife", "bird"]
    softmax = to_probabilities(logits, "logits")
    assert softmax.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert IMAGENET_TO_16.decide(softmax, kind="probabilities") == ["knife", "bird"]
    assert IMAGENET_TO_16.decide(logits + 100.0) == ["knife", "bird"]  # shift-invariant


def test_choosing_among_a_subset_of_categories():
    scores = probabilities({"cat": 0.6, "dog": 0.3, "car": 0.1})
    assert IMAGENET_TO_16.decide(scores, "probabilities") == ["cat"]
    assert IMAGENET_TO_16.decide(scores, "probabilities", categories=["car", "dog"]) == ["car"]
    with pytest.raises(LabelSpaceError, match="zebra"):
        IMAGENET_TO_16.decide(scores, "probabilities", categories=["zebra"])


def test_bad_scores_are_refused_with_a_reason():
    with pytest.raises(LabelSpaceError, match="1000"):
        IMAGENET_TO_16.decide(np.zeros((1, 10)))
    with pytest.raises(LabelSpaceError, match=r"\(N, C\)"):
        IMAGENET_TO_16.decide(np.zeros(1000))
    with pytest.raises(LabelSpaceError, match="kind='logits'"):
        IMAGENET_TO_16.decide(np.full((1, 1000), 3.0), kind="probabilities")
    with pytest.raises(LabelSpaceError, match="NaN"):
        IMAGENET_TO_16.decide(np.full((1, 1000), np.nan))


def test_toy_world_decides_among_its_own_classes():
    from localglobal.labels import get_label_space

    space = get_label_space("toyworld")
    mapping = get_decision_mapping("toyworld", "toyworld")
    logits = np.zeros((2, len(space)))
    logits[0, 3], logits[0, 1] = 5.0, 4.0
    logits[1, 0] = 2.0
    assert mapping.categories == space.wnids
    assert mapping.decide(logits) == [space.wnids[3], space.wnids[0]]
    # Restricted to the stimuli's categories: class 3 is not among them.
    allowed = [space.wnids[1], space.wnids[0]]
    assert mapping.decide(logits, categories=allowed) == [space.wnids[1], space.wnids[0]]
    # Categories may be named by the class names; they come back as given.
    names = [space.names[1], space.names[0]]
    assert mapping.decide(logits, categories=names) == names
    assert mapping.category_probabilities(logits).shape == (2, len(space))


def test_the_registry_finds_pairs_and_names_the_known_ones():
    assert get_decision_mapping("imagenet-1k", GEIRHOS_16) is IMAGENET_TO_16
    with pytest.raises(LabelSpaceError) as error:
        get_decision_mapping("imagenette", GEIRHOS_16)
    message = str(error.value)
    assert "imagenette" in message and all(name in message for name in DECISION_MAPPINGS)
    custom = AveragedProbabilityMapping("mine->two", "mine", "two", ("a", "b"), ((0, 1), (2,)))
    try:
        register_decision_mapping(custom)
        assert get_decision_mapping("mine", "two").decide(
            np.array([[0.1, 0.1, 0.3]]), "probabilities") == ["b"]
        clash = AveragedProbabilityMapping("mine->two", "mine", "two", ("a",), ((0,),))
        with pytest.raises(ValueError, match="already registered"):
            register_decision_mapping(clash)
    finally:
        DECISION_MAPPINGS.pop("mine->two", None)
