"""Contrast reduction: model-vs-human's ``contrast`` dataset (``c100`` … ``c01``).

The image is turned grey, then its contrast is set to ``c`` around mid-grey,
``(1 − c)/2 + c·grey`` on [0, 1]: ``c50`` halves every grey level's distance from 0.5.

>>> probe = ContrastProbe()
>>> image = np.full((2, 2, 3), 255, np.uint8)
>>> low, record = probe.apply(image, probe.level("c10"), np.random.default_rng(0))
>>> record, low[0, 0].tolist()
({'contrast': 0.1}, [140, 140, 140])
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from localglobal.probes import psychophysics as pp
from localglobal.probes.conditions import ConditionParams, ConditionProbe, is_number
from localglobal.probes.registry import register_probe

if TYPE_CHECKING:
    import torch

CONDITIONS = ("c100", "c50", "c30", "c15", "c10", "c05", "c03", "c01")


def contrast_of(label: str) -> float:
    """``"cNN"`` as the contrast NN/100 (``"c05"`` -> 0.05).

    Raises
    ------
    ValueError
        Not ``c`` and a percentage in 0–100.
    """
    match = re.fullmatch(r"c(\d{1,3})", label)
    if not match or int(match.group(1)) > 100:
        raise ValueError(f"condition {label!r} is not c and a percentage (c100 … c01)")
    return int(match.group(1)) / 100.0


class ContrastParams(ConditionParams):
    """``[probes.contrast]``: ``levels`` as ``cNN``, NN the contrast in percent."""

    levels: list[str] = Field(default_factory=lambda: list(CONDITIONS),
                              description="contrasts in percent, as c100, c50, …, c01")
    parse: ClassVar = staticmethod(contrast_of)


@register_probe
class ContrastProbe(ConditionProbe):
    """Greyscale at a reduced contrast."""

    name = "contrast"
    title = "Contrast"
    description = ("The image in greyscale, its contrast reduced to the given percentage "
                   "around mid-grey, as in model-vs-human's contrast experiment.")
    axis_label = "contrast"
    keeps = "every edge and texture, at a lower amplitude"
    destroys = "contrast (and colour)"
    dataset = "contrast"
    Params = ContrastParams
    params: ContrastParams
    record_key = "contrast"

    def strength(self, value: Any) -> float:
        return 1.0 - float(value)

    def check_record(self, record: Mapping[str, Any], side: int) -> None:
        value = record[self.record_key]
        if not is_number(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"contrast {value!r} is not a number in [0, 1]")

    def render(self, image: np.ndarray, record: Mapping[str, Any]) -> np.ndarray:
        grey = pp.greyscale(pp.to_unit(image))
        return pp.to_uint8(pp.adjust_contrast(grey, float(record["contrast"])))

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        import torch

        contrast = torch.as_tensor([float(r["contrast"]) for r in records],
                                   dtype=torch.float32, device=originals.device)[:, None, None]
        grey = pp.greyscale_batch(pp.unit_batch(originals))
        return pp.like_originals((1.0 - contrast) / 2.0 + contrast * grey, originals)
