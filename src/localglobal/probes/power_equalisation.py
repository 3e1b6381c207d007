"""Power equalisation: model-vs-human's ``power-equalisation`` dataset (``0``, ``pow``).

``pow`` turns the image grey and gives it the mean amplitude spectrum of Geirhos et
al.'s 2018 stimuli (:func:`~localglobal.probes.psychophysics.mean_amplitude_spectrum`),
keeping its own phases, then clips to [0, 1]; ``0`` is the grey image. The spectrum
is that of 224×224 images, so the probe needs a 224-pixel frame.

>>> probe = PowerEqualisationProbe()
>>> [level.label for level in probe.levels()], probe.strongest().label
(['0', 'pow'], 'pow')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from localglobal.errors import ConfigError
from localglobal.probes import psychophysics as pp
from localglobal.probes.conditions import ConditionParams, ConditionProbe, choice
from localglobal.probes.registry import register_probe

if TYPE_CHECKING:
    import torch

CONDITIONS = {"0": False, "pow": True}
"""Condition -> whether the amplitude spectrum is replaced."""

SIDE = 224
"""The side of the images whose mean spectrum the probe imposes."""


class PowerEqualisationParams(ConditionParams):
    """``[probes.power-equalisation]``: ``levels`` among ``0`` (original) and ``pow``."""

    levels: list[str] = Field(default_factory=lambda: list(CONDITIONS),
                              description="conditions: 0 (greyscale), pow (equalised)")
    parse: ClassVar = staticmethod(lambda label: choice(label, CONDITIONS))


@register_probe
class PowerEqualisationProbe(ConditionProbe):
    """Greyscale with the mean amplitude spectrum of the 2018 stimuli."""

    name = "power-equalisation"
    title = "Power equalisation"
    description = ("The image in greyscale with its amplitude spectrum replaced by the mean "
                   "spectrum of Geirhos et al.'s stimuli, its phases kept (pow), or the "
                   "greyscale image (0), as in model-vs-human's power-equalisation "
                   "experiment.")
    axis_label = "power spectrum"
    keeps = "the phases: where edges are, and so shape"
    destroys = "the image's own power spectrum: its contrast at each scale"
    dataset = "power-equalisation"
    Params = PowerEqualisationParams
    params: PowerEqualisationParams
    record_key = "equalised"

    def strength(self, value: Any) -> float:
        return float(value)

    def check(self, validate: bool = True) -> None:
        super().check(validate)
        if self.crop != SIDE and any(self.value(lv.label) for lv in self.levels()):
            raise ConfigError(f"probes.power-equalisation: the mean spectrum is {SIDE}×"
                              f"{SIDE}; the frame is {self.crop} pixels (frame.crop = "
                              f"{SIDE} or leave out pow)")

    def check_record(self, record: Mapping[str, Any], side: int) -> None:
        value = record[self.record_key]
        if not isinstance(value, bool):
            raise TypeError("equalised must be true or false")
        if value and side != SIDE:
            raise ValueError(f"the mean spectrum is {SIDE}×{SIDE}, the frame {side}×{side}")

    def render(self, image: np.ndarray, record: Mapping[str, Any]) -> np.ndarray:
        grey = pp.greyscale(pp.to_unit(image))
        if record["equalised"]:
            grey = pp.equalise_amplitude(grey, pp.mean_amplitude_spectrum())
        return pp.to_uint8(grey)

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        import torch

        grey = pp.greyscale_batch(pp.unit_batch(originals))
        rows = [i for i, record in enumerate(records) if record["equalised"]]
        if rows:
            amplitude = torch.tensor(pp.mean_amplitude_spectrum(), dtype=torch.float32,
                                        device=originals.device)
            grey[rows] = pp.equalise_amplitude_batch(grey[rows], amplitude)
        return pp.like_originals(grey, originals)
