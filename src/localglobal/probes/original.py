"""The original: the image itself in the model-input frame, the reference of every probe."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from localglobal.probes.registry import Level, Probe, register_probe

if TYPE_CHECKING:
    import torch


@register_probe
class OriginalProbe(Probe):
    """The unchanged image; every run has it, as the first item of every image."""

    name = "original"
    description = "The image itself, resized and centre-cropped into the input frame."
    axis_label = "original"
    keeps = "everything"
    destroys = "nothing"
    selectable = False
    levels_key = None

    def levels(self) -> list[Level]:
        return [Level(0, "0")]

    def apply(self, image: np.ndarray, level: Level, rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, Any]]:
        return np.array(image, copy=True), {}

    def tile(self, level: Level, variants: Sequence[str], record: Mapping[str, Any]
             ) -> tuple[str, str]:
        return str(variants[0]), "original"

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        return originals.clone()
