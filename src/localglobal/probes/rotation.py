"""Rotation: model-vs-human's ``rotation`` dataset (``0``, ``90``, ``180``, ``270`` degrees).

The image is turned grey and rotated counter-clockwise by the angle (``0``: the grey
image). Upside down (180) is the strongest: every object then stands on its head.

>>> probe = RotationProbe()
>>> image = np.zeros((3, 3, 3), np.uint8); image[0, 2] = 255   # top right
>>> out, record = probe.apply(image, probe.level("90"), np.random.default_rng(0))
>>> record, int(out[0, 0, 0])   # now top left
({'angle': 90}, 255)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from localglobal.probes import psychophysics as pp
from localglobal.probes.conditions import ConditionParams, ConditionProbe, choice, is_int
from localglobal.probes.registry import Level, register_probe

if TYPE_CHECKING:
    import torch

CONDITIONS = {"0": 0, "90": 90, "180": 180, "270": 270}
"""Condition -> counter-clockwise angle in degrees."""


class RotationParams(ConditionParams):
    """``[probes.rotation]``: ``levels`` among 0, 90, 180 and 270 (degrees)."""

    levels: list[str] = Field(default_factory=lambda: list(CONDITIONS),
                              description="counter-clockwise angles: 0, 90, 180, 270")
    parse: ClassVar = staticmethod(lambda label: choice(label, CONDITIONS))


@register_probe
class RotationProbe(ConditionProbe):
    """Greyscale, rotated by a multiple of 90 degrees."""

    name = "rotation"
    title = "Rotation"
    description = ("The image in greyscale, rotated counter-clockwise by the given angle, as "
                   "in model-vs-human's rotation experiment.")
    axis_label = "rotation angle (degrees)"
    keeps = "every part and its neighbours: texture and local shape"
    destroys = "the canonical orientation: upright shape"
    dataset = "rotation"
    Params = RotationParams
    params: RotationParams
    record_key = "angle"

    def strength(self, value: Any) -> float:
        # How far from upright; 90 and 270 tie and 180 is the farthest.
        return float(min(value, 360 - value))

    def curve_levels(self) -> list[Level]:
        return sorted(self.levels(), key=lambda lv: self.value(lv.label))

    def check_record(self, record: Mapping[str, Any], side: int) -> None:
        angle = record[self.record_key]
        if not is_int(angle) or angle not in CONDITIONS.values():
            raise ValueError(f"angle {angle!r} is not one of 0, 90, 180, 270")

    def render(self, image: np.ndarray, record: Mapping[str, Any]) -> np.ndarray:
        grey = pp.greyscale(pp.to_unit(image))
        return pp.to_uint8(np.rot90(grey, int(record["angle"]) // 90))

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        import torch

        grey = pp.greyscale_batch(pp.unit_batch(originals))
        if grey.shape[-1] != grey.shape[-2]:
            raise ValueError(f"rotating a batch needs square images, got "
                             f"{grey.shape[-2]}×{grey.shape[-1]}")
        rotated = torch.stack([torch.rot90(g, int(r["angle"]) // 90, dims=(0, 1))
                               for g, r in zip(grey, records, strict=True)])
        return pp.like_originals(rotated, originals)
