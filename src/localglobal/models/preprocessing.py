"""How images are fed to a model: the normalisation constants and resampling filters.

Defined here once; the model specs, the LRP input bounds and the toy world's training
import them.
"""

from __future__ import annotations

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""Per-channel mean of ImageNet's [0, 1] RGB images (torchvision's normalisation)."""

IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""Per-channel standard deviation of ImageNet's [0, 1] RGB images."""

INTERPOLATIONS: tuple[str, ...] = ("bilinear", "bicubic", "nearest")
"""Resampling filters a model's preprocessing may name."""

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "INTERPOLATIONS"]
