"""Low-pass filtering: model-vs-human's ``low-pass`` dataset (σ = ``0`` … ``40``).

The image is turned grey and blurred with a Gaussian of standard deviation σ pixels
(radius 4σ), the outside of the image counting as the stimuli's mean grey 0.4423;
σ = 0 leaves the grey image as it is.

>>> probe = LowPassProbe()
>>> image = np.zeros((9, 9, 3), np.uint8); image[4, 4] = 255
>>> blurred, record = probe.apply(image, probe.level("1"), np.random.default_rng(0))
>>> record, int(blurred[4, 4, 0]) < 255, int(blurred[4, 3, 0]) > 0
({'sigma': 1.0}, True, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from localglobal.probes import psychophysics as pp
from localglobal.probes.conditions import ConditionParams, ConditionProbe, is_number, number
from localglobal.probes.registry import register_probe

if TYPE_CHECKING:
    import torch

CONDITIONS = ("0", "1", "3", "5", "7", "10", "15", "40")


def check_sigma(value: object, side: int) -> None:
    """Refuse a σ that is not a number in [0, side] (a larger one blurs the image into
    the padding and costs a kernel wider than four frames)."""
    if not is_number(value) or not 0.0 <= value <= side:  # type: ignore[operator]
        raise ValueError(f"sigma {value!r} is not a number in [0, {side}] (pixels)")


class LowPassParams(ConditionParams):
    """``[probes.low-pass]``: ``levels``, the Gaussian's standard deviations in pixels."""

    levels: list[str] = Field(default_factory=lambda: list(CONDITIONS),
                              description="standard deviations of the Gaussian, pixels")
    parse: ClassVar = staticmethod(lambda label: number(label, what="standard deviation"))


@register_probe
class LowPassProbe(ConditionProbe):
    """Greyscale, blurred by a Gaussian."""

    name = "low-pass"
    title = "Low-pass filtering"
    description = ("The image in greyscale, blurred by a Gaussian of the given standard "
                   "deviation in pixels, as in model-vs-human's low-pass experiment.")
    axis_label = "filter standard deviation (pixels)"
    keeps = "coarse shape: the low spatial frequencies"
    destroys = "edges, texture and fine detail (the high frequencies)"
    dataset = "low-pass"
    Params = LowPassParams
    params: LowPassParams
    record_key = "sigma"

    def strength(self, value: Any) -> float:
        return float(value)

    def check_value(self, value: Any, side: int) -> None:
        check_sigma(value, side)

    def render(self, image: np.ndarray, record: Mapping[str, Any]) -> np.ndarray:
        grey = pp.greyscale(pp.to_unit(image))
        return pp.to_uint8(pp.low_pass(grey, float(record["sigma"])))

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        grey = pp.greyscale_batch(pp.unit_batch(originals))
        return pp.like_originals(pp.low_pass_batch(grey, [r["sigma"] for r in records]),
                                 originals)
