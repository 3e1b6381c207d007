"""The hypotheses a configuration may test, known before any table is read.

Light on purpose: the analyze stage's parameters depend on this set, and ``localglobal
stages`` computes every stage's parameters without loading the statistics.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from localglobal.config import Hypothesis, builtin_config, load_config


@functools.cache
def _thesis_hypotheses() -> tuple[Hypothesis, ...]:
    return tuple(load_config(builtin_config("thesis")).analysis.hypotheses or ())


def thesis_hypotheses() -> list[Hypothesis]:
    """The thesis's hypotheses and their corrected forms, as ``configs/thesis.toml`` lists
    them under DESIGN.md's ids.

    Each thesis hypothesis (``H1`` … ``LRP-neg``) keeps the thesis's measure; its
    corrected form ``<id>-img`` measures what the thesis meant without baseline and
    floor effects (the file's comments say how).
    """
    return list(_thesis_hypotheses())


def candidate_hypotheses(configured: Sequence[Hypothesis] | None,
                         models: Iterable[str]) -> list[Hypothesis]:
    """The hypotheses a configuration may test, before the run's tables are seen.

    Parameters
    ----------
    configured : sequence of Hypothesis or None
        ``analysis.hypotheses``; None (unset) stands for the thesis hypotheses.
    models : iterable of str
        The models the run evaluates (``evaluate.models``).

    Returns
    -------
    list of Hypothesis
        ``configured`` as given, or the thesis hypotheses whose two models are among
        ``models``: the set the analyze stage's parameters depend on.
    """
    if configured is not None:
        return list(configured)
    names = set(models)
    return [h for h in thesis_hypotheses() if {h.model_a, h.model_b} <= names]
