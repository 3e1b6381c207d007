"""Uniform noise: model-vs-human's ``uniform-noise`` dataset (width ``0.00`` … ``0.90``).

The image is turned grey and its contrast set to 30 %, then every pixel gets noise
drawn uniformly from [−w, w] (on [0, 1]), and the result is clipped to [0, 1]. The
noise comes from a seed drawn from the item's generator and kept in the record, so
the on-the-fly image has the same noise.

>>> probe = UniformNoiseProbe()
>>> image = np.full((8, 8, 3), 128, np.uint8)
>>> out, record = probe.apply(image, probe.level("0.10"), np.random.default_rng(0))
>>> sorted(record), record["width"], record["contrast"]
(['contrast', 'seed', 'width'], 0.1, 0.3)
>>> bool(np.abs(out.astype(int) - 128).max() <= 0.1 * 255 + 1)
True
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
from localglobal.probes.registry import Level, register_probe

if TYPE_CHECKING:
    import torch

CONDITIONS = ("0.00", "0.03", "0.05", "0.10", "0.20", "0.35", "0.60", "0.90")


class UniformNoiseParams(RandomConditionParams):
    """``[probes.uniform-noise]``: ``levels``, the noise widths, and the ``contrast`` of
    the image the noise is added to."""

    levels: list[str] = Field(default_factory=lambda: list(CONDITIONS),
                              description="noise widths w: noise uniform in [-w, w] on [0, 1]")
    contrast: float = Field(pp.NOISE_CONTRAST, ge=0.0, le=1.0,
                            description="contrast of the grey image before the noise (0.3 "
                            "in model-vs-human)")
    parse: ClassVar = staticmethod(lambda label: number(label, high=1.0, what="noise width"))


@register_probe
class UniformNoiseProbe(ConditionProbe):
    """Greyscale at 30 % contrast plus uniform noise."""

    name = "uniform-noise"
    title = "Uniform noise"
    description = ("The image in greyscale at 30 % contrast plus noise drawn uniformly from "
                   "± the given width, clipped, as in model-vs-human's uniform-noise "
                   "experiment.")
    axis_label = "uniform noise width"
    keeps = "the image beneath the noise: shape and coarse texture"
    destroys = "fine detail and contrast, drowned in pixel noise"
    dataset = "uniform-noise"
    Params = UniformNoiseParams
    params: UniformNoiseParams
    record_key = "width"
    random = True

    def strength(self, value: Any) -> float:
        return float(value)

    def record(self, level: Level, rng: np.random.Generator) -> dict[str, Any]:
        record = super().record(level, rng)
        return {"width": record["width"], "contrast": float(self.params.contrast),
                "seed": record["seed"]}

    def check_record(self, record: Mapping[str, Any], side: int) -> None:
        width, contrast = record["width"], record.get("contrast")
        if not is_number(width) or not 0.0 <= width <= 1.0:
            raise ValueError(f"width {width!r} is not a number in [0, 1]")
        if not is_number(contrast) or not 0.0 <= contrast <= 1.0:
            raise ValueError(f"contrast {contrast!r} is not a number in [0, 1]")

    def render(self, image: np.ndarray, record: Mapping[str, Any]) -> np.ndarray:
        grey = pp.adjust_contrast(pp.greyscale(pp.to_unit(image)), float(record["contrast"]))
        noise = pp.uniform_noise(grey.shape, float(record["width"]), int(record["seed"]))
        return pp.to_uint8(grey + noise)

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        import torch

        grey = pp.greyscale_batch(pp.unit_batch(originals))
        shape = tuple(grey.shape[1:])
        noise = np.stack([pp.uniform_noise(shape, float(r["width"]), int(r["seed"]))
                          for r in records])
        contrast = torch.as_tensor([float(r["contrast"]) for r in records],
                                   dtype=torch.float32, device=originals.device)[:, None, None]
        noisy = (1.0 - contrast) / 2.0 + contrast * grey \
            + torch.as_tensor(noise, dtype=torch.float32, device=originals.device)
        return pp.like_originals(noisy, originals)
