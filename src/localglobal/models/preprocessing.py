"""How images are fed to a model: the normalisation constants and resampling filters.

Defined here once; the model specs, the LRP input bounds and the toy world's training
import them, and every model input is made by :func:`normalise`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported by the commands that feed a model, not by the specs
    import torch

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""Per-channel mean of ImageNet's [0, 1] RGB images (torchvision's normalisation)."""

IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""Per-channel standard deviation of ImageNet's [0, 1] RGB images."""

INTERPOLATIONS: tuple[str, ...] = ("bilinear", "bicubic", "nearest")
"""Resampling filters a model's preprocessing may name."""

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "INTERPOLATIONS", "normalise"]


def normalise(images: np.ndarray | torch.Tensor, mean: Sequence[float], std: Sequence[float],
              device: torch.device | str | None = None) -> torch.Tensor:
    """N×H×W×3 uint8 RGB images as a model's N×3×H×W float32 input: ``(x / 255 − mean) / std``.

    The one conversion every model input goes through (evaluation, attribution, the
    Python API, the toy world's training). The result keeps the images' channels-last
    memory layout, which convolutions prefer.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor
        N×H×W×3 uint8 (an array, or a tensor on any device).
    mean, std : sequence of float
        The model's per-channel normalisation of [0, 1] images.
    device : torch.device or str, optional
        Where the result goes; default where the images are (the CPU for an array).

    Returns
    -------
    torch.Tensor
        N×3×H×W float32 on ``device``.

    Examples
    --------
    >>> x = normalise(np.full((1, 2, 2, 3), 255, np.uint8), (0.5,) * 3, (0.5,) * 3)
    >>> tuple(x.shape), float(x.max())
    ((1, 3, 2, 2), 1.0)
    """
    import torch

    x = images if isinstance(images, torch.Tensor) \
        else torch.from_numpy(np.ascontiguousarray(images))
    if device is not None:
        x = x.to(device, non_blocking=True)
    x = x.permute(0, 3, 1, 2).float().div_(255.0)
    mean_t = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x.sub_(mean_t).div_(std_t)
