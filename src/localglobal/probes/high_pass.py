"""High-pass filtering: model-vs-human's ``high-pass`` dataset (σ = ``inf`` … ``0.4``).

The image is turned grey, its Gaussian blur (standard deviation σ pixels, padded with
the stimuli's mean grey 0.4423) is subtracted, and the difference is shifted so that
its mean is that grey, then clipped to [0, 1]. ``inf`` (no filter) is the grey image;
the smaller σ, the finer the detail that is left.

>>> probe = HighPassProbe()
>>> flat = np.full((8, 8, 3), 200, np.uint8)
>>> out, record = probe.apply(flat, probe.level("3.0"), np.random.default_rng(0))
>>> record, round(float(out.mean()) / 255, 2)  # centred on the mean grey 0.4423
({'sigma': 3.0}, 0.44)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from localglobal.probes import psychophysics as pp
from localglobal.probes.conditions import ConditionParams, ConditionProbe, is_number, number
from localglobal.probes.registry import register_probe

if TYPE_CHECKING:
    import torch

CONDITIONS = ("inf", "3.0", "1.5", "1.0", "0.7", "0.55", "0.45", "0.4")


def sigma_of(label: str) -> float | None:
    """A condition as the Gaussian's σ in pixels; ``"inf"`` (no filter) is None.

    Raises
    ------
    ValueError
        Not ``inf`` nor a positive number.
    """
    if label == "inf":
        return None
    value = number(label, what="standard deviation")
    if value <= 0:
        raise ValueError(f"condition {label!r}: the standard deviation must be positive "
                         "(inf for no filter)")
    return value


class HighPassParams(ConditionParams):
    """``[probes.high-pass]``: ``levels``, the Gaussian's standard deviations in pixels
    (``inf``: unfiltered)."""

    levels: list[str] = Field(default_factory=lambda: list(CONDITIONS),
                              description="standard deviations of the Gaussian whose blur "
                              "is removed, pixels; inf for none")
    parse: ClassVar = staticmethod(sigma_of)


@register_probe
class HighPassProbe(ConditionProbe):
    """Greyscale minus its Gaussian blur: only the fine detail is left."""

    name = "high-pass"
    title = "High-pass filtering"
    description = ("The image in greyscale minus its blur by a Gaussian of the given "
                   "standard deviation in pixels, centred on the mean grey, as in "
                   "model-vs-human's high-pass experiment (inf: unfiltered).")
    axis_label = "filter standard deviation (pixels)"
    keeps = "edges and fine texture: the high spatial frequencies"
    destroys = "coarse shading and the shape of large regions (the low frequencies)"
    dataset = "high-pass"
    Params = HighPassParams
    params: HighPassParams
    record_key = "sigma"

    def strength(self, value: Any) -> float:
        return 0.0 if value is None else 1.0 / float(value)

    def check_value(self, value: Any, side: int) -> None:
        if value is not None and (not is_number(value) or not 0.0 < value <= side):
            raise ValueError(f"sigma {value!r} is neither null (unfiltered) nor a number in "
                             f"(0, {side}] (pixels)")

    def render(self, image: np.ndarray, record: Mapping[str, Any]) -> np.ndarray:
        grey = pp.greyscale(pp.to_unit(image))
        sigma = record["sigma"]
        return pp.to_uint8(grey if sigma is None else pp.high_pass(grey, float(sigma)))

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        grey = pp.greyscale_batch(pp.unit_batch(originals))
        sigmas = [math.inf if r["sigma"] is None else float(r["sigma"]) for r in records]
        filtered = [i for i, s in enumerate(sigmas) if s != math.inf]
        if filtered:
            grey[filtered] = pp.high_pass_batch(grey[filtered],
                                                [sigmas[i] for i in filtered])
        return pp.like_originals(grey, originals)
