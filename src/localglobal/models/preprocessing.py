"""How images are fed to a model: the normalisation constants and resampling filters.

Defined here once; the model specs, the LRP input bounds and the toy world's training
import them, and every model input is made by :func:`normalise`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from localglobal.errors import ConfigError

if TYPE_CHECKING:  # numpy and torch are imported where a model is fed, not by the specs
    import numpy as np
    import torch

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
"""Per-channel mean of ImageNet's [0, 1] RGB images (torchvision's normalisation)."""

IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""Per-channel standard deviation of ImageNet's [0, 1] RGB images."""

INTERPOLATIONS: tuple[str, ...] = ("bilinear", "bicubic", "nearest")
"""Resampling filters a model's preprocessing may name."""

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "INTERPOLATIONS", "checked_images", "model_input",
           "normalise"]


def normalise(images: np.ndarray | torch.Tensor, mean: Sequence[float], std: Sequence[float],
              device: torch.device | str | None = None, *,
              channels_last: bool = True) -> torch.Tensor:
    """N×H×W×3 uint8 RGB images as a model's N×3×H×W float32 input: ``(x / 255 − mean) / std``.

    The one conversion every model input goes through (evaluation, attribution, the
    Python API, the toy world's training). It runs where the images are, after moving
    them to ``device``: uint8 batches are four times cheaper to move than float ones.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor
        N×H×W×3 uint8 (an array, or a tensor on any device).
    mean, std : sequence of float
        The model's per-channel normalisation of [0, 1] images.
    device : torch.device or str, optional
        Where the result goes; default where the images are (the CPU for an array).
    channels_last : bool
        Keep the images' NHWC memory layout (a view of the order they arrived in),
        which convolutions prefer; else make the result NCHW-contiguous.

    Returns
    -------
    torch.Tensor
        N×3×H×W float32 on ``device``.

    Examples
    --------
    >>> import numpy as np
    >>> x = normalise(np.full((1, 2, 2, 3), 255, np.uint8), (0.5,) * 3, (0.5,) * 3)
    >>> tuple(x.shape), float(x.max())
    ((1, 3, 2, 2), 1.0)
    """
    import numpy as np
    import torch

    if isinstance(images, np.ndarray) and (device is None or torch.device(device).type == "cpu"):
        return _normalise_array(images, mean, std, channels_last)
    x = images if isinstance(images, torch.Tensor) \
        else torch.from_numpy(np.ascontiguousarray(images))
    if device is not None:
        x = x.to(device, non_blocking=True)
    x = x.permute(0, 3, 1, 2).float()
    if not channels_last:
        x = x.contiguous()
    x = x.div_(255.0)
    mean_t = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return x.sub_(mean_t).div_(std_t)


def _normalise_array(images: np.ndarray, mean: Sequence[float], std: Sequence[float],
                     channels_last: bool) -> torch.Tensor:
    """:func:`normalise` of an array on the CPU, through a table of its 256 × 3 values.

    An output value depends only on the pixel's value and channel, so the table holds
    every one of them, computed by the same float32 operations in the same order as
    torch's (the same values to the bit), and one look-up pass (OpenCV's, in this
    thread) makes the batch in the same memory layout: several times cheaper than four
    passes over it, and without torch's thread pool, whose synchronisation costs more
    than such passes when the model's forward passes keep the cores busy.
    """
    import cv2
    import numpy as np
    import torch

    x = np.ascontiguousarray(images)
    n, height, width, _ = x.shape
    table = _value_table(tuple(float(v) for v in mean), tuple(float(v) for v in std))
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # no OpenCV worker threads: a process forked later would hang
    try:
        values = (cv2.LUT(x.reshape(n * height, width, 3), table).reshape(x.shape) if x.size
                  else np.empty(x.shape, np.float32))
    finally:
        cv2.setNumThreads(threads)
    tensor = torch.from_numpy(values).permute(0, 3, 1, 2)  # channels-last memory
    return tensor if channels_last else tensor.contiguous()


@functools.lru_cache(maxsize=16)
def _value_table(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(1, 256, 3) float32: ``(v / 255 − mean) / std`` of every byte value and channel."""
    import numpy as np

    values = np.repeat(np.arange(256, dtype=np.float32)[:, None], 3, axis=1)
    values /= np.float32(255.0)
    values -= np.asarray(mean, dtype=np.float32)
    values /= np.asarray(std, dtype=np.float32)
    return values.reshape(1, 256, 3)


def checked_images(images: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """``images`` if a model can take them: N×H×W×3 uint8 RGB, or N×C×H×W (normalised).

    Raises
    ------
    ConfigError
        Anything else; the message says what was given.
    """
    import numpy as np
    import torch

    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ConfigError(f"images as an array must be N×H×W×3 uint8 RGB, got "
                              f"{images.shape} {images.dtype}")
    elif not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise ConfigError("images must be an N×3×H×W normalised tensor or an N×H×W×3 uint8 "
                          f"array, got {type(images).__name__} of shape "
                          f"{tuple(getattr(images, 'shape', ()))}")
    return images


def model_input(images: np.ndarray | torch.Tensor, mean: Sequence[float], std: Sequence[float],
                device: torch.device | str) -> torch.Tensor:
    """A batch as a model takes it, on ``device``: uint8 images normalised, floats as given.

    Parameters
    ----------
    images : numpy.ndarray or torch.Tensor
        N×H×W×3 uint8 RGB (an array or a tensor), or N×C×H×W normalised floats.
    mean, std : sequence of float
        The model's normalisation (see :func:`normalise`).
    device : torch.device or str
        Where the model runs.

    Returns
    -------
    torch.Tensor
        N×C×H×W float on ``device``.
    """
    import numpy as np

    if isinstance(images, np.ndarray) or not images.dtype.is_floating_point:
        return normalise(images, mean, std, device)
    return images.to(device)
