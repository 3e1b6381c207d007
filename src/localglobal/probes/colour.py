"""Colour or greyscale: model-vs-human's ``colour`` dataset (``cr``, ``bw``).

``cr`` keeps the image as it is; ``bw`` turns it into its luminance, the weighted sum
of R, G and B (:data:`~localglobal.probes.psychophysics.GREY_WEIGHTS`), in three equal
channels.

>>> probe = ColourProbe()
>>> image = np.zeros((4, 4, 3), np.uint8); image[..., 0] = 100
>>> grey, record = probe.apply(image, probe.level("bw"), np.random.default_rng(0))
>>> record, grey[0, 0].tolist()
({'greyscale': True}, [21, 21, 21])
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

CONDITIONS = {"cr": False, "bw": True}
"""Condition -> whether the image is turned grey."""


class ColourParams(ConditionParams):
    """``[probes.colour]``: ``levels`` among ``cr`` (colour) and ``bw`` (greyscale)."""

    levels: list[str] = Field(default_factory=lambda: list(CONDITIONS),
                              description="conditions: cr (colour), bw (greyscale)")
    parse: ClassVar = staticmethod(lambda label: choice(label, CONDITIONS))


@register_probe
class ColourProbe(ConditionProbe):
    """The image in colour (``cr``) or in greyscale (``bw``)."""

    name = "colour"
    title = "Colour"
    description = ("The image in colour (cr) or turned into its luminance (bw), as in "
                   "model-vs-human's colour experiment.")
    axis_label = "colour"
    keeps = "luminance: shape, texture, shading"
    destroys = "hue and saturation"
    dataset = "colour"
    Params = ColourParams
    params: ColourParams
    record_key = "greyscale"

    def strength(self, value: Any) -> float:
        return float(value)

    def check_record(self, record: Mapping[str, Any], side: int) -> None:
        if not isinstance(record[self.record_key], bool):
            raise TypeError("greyscale must be true or false")

    def render(self, image: np.ndarray, record: Mapping[str, Any]) -> np.ndarray:
        if not record["greyscale"]:
            return np.array(image, copy=True)
        return pp.to_uint8(pp.greyscale(pp.to_unit(image)))

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        out = originals.clone()
        rows = [i for i, record in enumerate(records) if record["greyscale"]]
        if rows:
            grey = pp.greyscale_batch(pp.unit_batch(originals[rows]))
            out[rows] = pp.like_originals(grey, originals)
        return out
