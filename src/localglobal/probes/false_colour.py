"""Opponent colours: model-vs-human's ``false-colour`` dataset (``True``, ``False``).

``True`` is the image in its true colours; ``False`` swaps its opponent colours (red
with green, blue with yellow) and keeps its luminance, through the 2018 lab monitor's
measured gamma (:func:`~localglobal.probes.psychophysics.false_colour`).

>>> probe = FalseColourProbe()
>>> red = np.zeros((2, 2, 3), np.uint8); red[..., 0] = 200
>>> out, record = probe.apply(red, probe.level("False"), np.random.default_rng(0))
>>> record, bool(out[0, 0, 1] > out[0, 0, 0])  # red turned green
({'opponent': True}, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from localglobal.probes import psychophysics as pp
from localglobal.probes.conditions import ConditionParams, ConditionProbe, choice
from localglobal.probes.registry import register_probe

if TYPE_CHECKING:
    import torch

CONDITIONS = {"True": False, "False": True}
"""Condition (true colour?) -> whether the opponent colours are swapped."""


class FalseColourParams(ConditionParams):
    """``[probes.false-colour]``: ``levels`` among ``True`` (true colour) and ``False``
    (opponent colours)."""

    levels: list[str] = Field(default_factory=lambda: list(CONDITIONS),
                              description="conditions: True (true colour), False (opponent "
                              "colours)")
    parse: ClassVar = staticmethod(lambda label: choice(label, CONDITIONS))


@register_probe
class FalseColourProbe(ConditionProbe):
    """The image in true colours, or with its opponent colours swapped."""

    name = "false-colour"
    title = "False colour"
    description = ("The image in its true colours (True) or with red–green and blue–yellow "
                   "swapped at equal luminance (False), as in model-vs-human's false-colour "
                   "experiment.")
    axis_label = "true colour"
    keeps = "luminance, and every edge between colours"
    destroys = "the colours themselves (each becomes its opponent)"
    dataset = "false-colour"
    Params = FalseColourParams
    params: FalseColourParams
    record_key = "opponent"

    def strength(self, value: Any) -> float:
        return float(value)

    def check_record(self, record: Mapping[str, Any], side: int) -> None:
        if not isinstance(record[self.record_key], bool):
            raise TypeError("opponent must be true or false")

    def render(self, image: np.ndarray, record: Mapping[str, Any]) -> np.ndarray:
        if not record["opponent"]:
            return np.array(image, copy=True)
        return pp.false_colour(image)

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        out = originals.clone()
        rows = [i for i, record in enumerate(records) if record["opponent"]]
        if rows:
            out[rows] = pp.false_colour_batch(originals[rows]).to(originals.dtype)
        return out
