"""Phase scrambling: model-vs-human's ``phase-scrambling`` dataset (``0`` … ``180`` degrees).

The image is turned grey, and the phase of every frequency of its Fourier transform
is shifted by a random angle uniform in [−w, w] degrees, conjugate frequencies by
opposite angles (:func:`~localglobal.probes.psychophysics.phase_shifts`): the
amplitude spectrum, and so the power at each spatial frequency and orientation, is
kept; where things are, the global arrangement, is lost as w grows to 180. The
result is clipped to [0, 1].

The shifts come from a seed drawn from the item's generator and kept in the record,
so the on-the-fly image has the same noise.

Geirhos et al.'s own code pairs the shifts of conjugate frequencies in another order
and keeps the real part of the result, which also shrinks the amplitudes (by about
30 % in the median at 180 degrees); here each pair gets opposite shifts, so the
amplitude spectrum is kept as the method intends. At 0 degrees both give the grey
image.

>>> probe = PhaseScramblingProbe()
>>> image = np.random.default_rng(0).integers(96, 160, (16, 16, 3), dtype=np.uint8)
>>> out, record = probe.apply(image, probe.level("90"), np.random.default_rng(1))
>>> sorted(record), record["width"]
(['seed', 'width'], 90.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from localglobal.probes import psychophysics as pp
from localglobal.probes.conditions import (
    ConditionProbe,
    RandomConditionParams,
    is_number,
    number,
)
from localglobal.probes.registry import register_probe

if TYPE_CHECKING:
    import torch

CONDITIONS = ("0", "30", "60", "90", "120", "150", "180")


class PhaseScramblingParams(RandomConditionParams):
    """``[probes.phase-scrambling]``: ``levels``, the phase-noise widths in degrees."""

    levels: list[str] = Field(default_factory=lambda: list(CONDITIONS),
                              description="phase-noise widths w in degrees (0–180): "
                              "shifts uniform in [-w, w]")
    parse: ClassVar = staticmethod(
        lambda label: number(label, high=180.0, what="phase-noise width (degrees)"))


@register_probe
class PhaseScramblingProbe(ConditionProbe):
    """Greyscale with random phase shifts of every frequency; amplitudes kept."""

    name = "phase-scrambling"
    title = "Phase scrambling"
    description = ("The image in greyscale with the phase of every spatial frequency "
                   "shifted at random within ± the given width in degrees, its amplitude "
                   "spectrum kept, as in model-vs-human's phase-scrambling experiment.")
    axis_label = "phase noise width (degrees)"
    keeps = "the amplitude spectrum: the power at every spatial frequency and orientation"
    destroys = "the phases: where edges are, and so shape and the global arrangement"
    dataset = "phase-scrambling"
    Params = PhaseScramblingParams
    params: PhaseScramblingParams
    record_key = "width"
    random = True

    def strength(self, value: Any) -> float:
        return float(value)

    def check_value(self, value: Any, side: int) -> None:
        if not is_number(value) or not 0.0 <= value <= 180.0:
            raise ValueError(f"width {value!r} is not a number of degrees in [0, 180]")

    def render(self, image: np.ndarray, record: Mapping[str, Any]) -> np.ndarray:
        grey = pp.greyscale(pp.to_unit(image))
        shifts = pp.phase_shifts(grey.shape, float(record["width"]), int(record["seed"]))
        return pp.to_uint8(pp.scramble_phase(grey, shifts))

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        import torch

        grey = pp.greyscale_batch(pp.unit_batch(originals))
        shape = tuple(grey.shape[1:])
        shifts = np.stack([pp.phase_shifts(shape, float(r["width"]), int(r["seed"]))
                           for r in records])
        shifts_t = torch.as_tensor(shifts, dtype=torch.float32, device=originals.device)
        return pp.like_originals(pp.scramble_phase_batch(grey, shifts_t), originals)
