"""Partially coherent disarray of a grey image: the machinery of the Eidolon factory.

Koenderink, Valsecchi, van Doorn, Wagemans and Gegenfurtner (2017, "Eidolons: novel
stimuli for vision research", JoV 17(2):7) take an image apart into a stack of
difference-of-Gaussians layers (its "boundariness" at each scale), displace every layer
by a smooth random field, and add the layers up again. This module follows the Python
Eidolon toolbox (github.com/gestaltrevision/Eidolon, with the partial-coherence fix of
its pull request 1, which Geirhos et al. 2018 used for model-vs-human's eidolon
experiments) step by step:

1. The image (side at most ``side`` after the caller's resize) is embedded in a plane
   whose sides are the powers of two at or above 1.5 times its own, its borders
   mirrored, so that the circular convolutions below do not wrap one edge into the
   other.
2. Scales ``σ_k = 2^(k/2) / √2``, ``k = 0 … L−1``, with ``L = ⌈2 log₂(side/4)⌉``
   (12 for side 256: σ from 0.71 to 32 pixels). The plane is blurred at every scale;
   layer ``k`` is the blur at ``σ_k`` minus the blur at ``σ_{k+1}``, the last layer is
   the coarsest blur, so the layers add up to the image blurred at ``σ_0``.
3. Noise planes: standard normal, scaled to ±127.5 by their largest magnitude, blurred
   at a scale, their mean divided by their standard deviation subtracted (the
   toolbox's ``c − m/v``, which centres them only roughly; kept).
   *Incoherent* fields blur at the grain; *coherent* fields are running sums over the
   scales of planes blurred at ``σ_j`` and scaled by ``σ_j / (side/4)``: layer ``k``
   is moved by the sum of the planes at its own scale and every coarser one, so
   coarse layers drag the fine ones with them.
4. Layer ``k`` moves by ``reach · ((1 − c) · incoherent_k + c · coherent_k)``, pixel
   positions rounded down and clamped to the plane; the moved layers are summed, the
   image cut out of the plane, clipped to 0–255 and truncated to uint8.

Every convolution is, as in the toolbox, the circular convolution of the row-major
flattened plane with the flattened kernel (one real FFT of the whole plane). For a
kernel offset to the left this reads the kernel one row off; the toolbox's images,
and so the conditions the humans saw, carry that slight skew, and so do these.

The random draws come in the toolbox's order (the coherent planes of x, then of y,
then the incoherent planes of x and y in turn, scale by scale), from any source with
``standard_normal(size)``: a :class:`numpy.random.Generator`, or a legacy
``RandomState`` that repeats a toolbox run drawn from the same seed.

>>> rng = np.random.default_rng(0)
>>> plane = rng.integers(0, 256, (64, 64)).astype(np.uint8)
>>> partially_coherent_disarray(plane, reach=4.0, coherence=1.0, grain=10.0,
...                             rng=rng, side=64).shape
(64, 64)
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Protocol

import numpy as np

MIN_SIGMA = 1 / math.sqrt(2)
"""The finest scale, pixels (the toolbox's ``MIN_SIGMA``)."""
SIGMA_FACTOR = math.sqrt(2)
"""The ratio of consecutive scales."""
NOISE_PEAK = 127.5
"""A noise plane's largest magnitude before it is blurred."""


class NormalSource(Protocol):
    """Anything that draws standard normal numbers (a Generator, a RandomState)."""

    def standard_normal(self, size: tuple[int, int]) -> np.ndarray: ...


def scale_levels(side: int) -> np.ndarray:
    """The scales of the layer stack for an image of ``side`` pixels.

    Parameters
    ----------
    side : int
        The side the image is worked at (the toolbox's ``SZ``).

    Returns
    -------
    numpy.ndarray
        ``σ_k = MIN_SIGMA · SIGMA_FACTOR^k`` for ``k < ⌈2 log₂(side/4)⌉``.

    >>> [round(float(s), 2) for s in scale_levels(256)[[0, 1, -1]]]
    [0.71, 1.0, 32.0]
    """
    count = math.ceil(2 * math.log(side / 4.0) / math.log(2))
    if count < 2:
        raise ValueError(f"side {side} is too small for a scale stack (at least 6 pixels)")
    sigmas = [MIN_SIGMA]
    for _ in range(count - 1):  # a running product, as the toolbox's, to the last bit
        sigmas.append(SIGMA_FACTOR * sigmas[-1])
    return np.array(sigmas)


def power_of_two_ceiling(n: float) -> int:
    """The smallest power of two at or above ``n`` (1 below 1)."""
    return 1 if n < 1 else 1 << max(0, math.ceil(math.log2(n)))


def embed(plane: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """``plane`` mirrored out to the power-of-two plane the toolbox works in.

    Parameters
    ----------
    plane : numpy.ndarray
        h×w, any real dtype.

    Returns
    -------
    (numpy.ndarray, (int, int))
        The float64 plane of side ``power_of_two_ceiling(1.5 · side)`` each way, and the
        row and column where ``plane`` starts inside it.
    """
    h, w = plane.shape
    hh, ww = power_of_two_ceiling(1.5 * h), power_of_two_ceiling(1.5 * w)
    dh, dw = (hh - h) // 2, (ww - w) // 2
    fat = np.pad(np.asarray(plane, np.float64), ((dh, hh - h - dh), (dw, ww - w - dw)),
                 mode="symmetric")
    return fat, (dh, dw)


@lru_cache(maxsize=32)
def _kernel_spectrum(h: int, w: int, sigma: float) -> np.ndarray:
    """The real FFT of the flattened h×w sampled Gaussian of ``sigma``, origin at (0, 0)."""
    def gaussian(n: int) -> np.ndarray:
        offsets = np.concatenate([np.arange(n // 2 + 1), np.arange(n // 2 - n + 1, 0)])
        return np.exp(-offsets ** 2 / (2.0 * sigma ** 2)) / (math.sqrt(2 * math.pi) * sigma)
    spectrum = np.fft.rfft((gaussian(h)[:, None] * gaussian(w)[None, :]).ravel())
    spectrum.flags.writeable = False  # shared by every call through the cache
    return spectrum


def _blur_spectrum(spectrum: np.ndarray, shape: tuple[int, int], sigma: float
                   ) -> np.ndarray:
    """Inverse of ``spectrum`` (a flattened plane's rfft) times the Gaussian's, as h×w."""
    h, w = shape
    return np.fft.irfft(spectrum * _kernel_spectrum(h, w, float(sigma)), n=h * w
                        ).reshape(h, w)


def blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    """The toolbox's Gaussian blur: flattened circular convolution.

    Parameters
    ----------
    plane : numpy.ndarray
        h×w, real.
    sigma : float
        The Gaussian's standard deviation, pixels.

    Returns
    -------
    numpy.ndarray
        h×w float64.
    """
    plane = np.asarray(plane, np.float64)
    return _blur_spectrum(np.fft.rfft(plane.ravel()), plane.shape, sigma)


def dog_layers(fat: np.ndarray, sigmas: np.ndarray) -> list[np.ndarray]:
    """The difference-of-Gaussians layers of ``fat``; they add up to its finest blur.

    Parameters
    ----------
    fat : numpy.ndarray
        The embedded plane, float64.
    sigmas : numpy.ndarray
        The scales, finest first.

    Returns
    -------
    list of numpy.ndarray
        ``blur_k − blur_{k+1}`` for every scale but the last, then the coarsest blur.
    """
    spectrum = np.fft.rfft(fat.ravel())
    blurred = [_blur_spectrum(spectrum, fat.shape, s) for s in sigmas]
    return [a - b for a, b in itertools.pairwise(blurred)] + [blurred[-1]]


def noise_plane(rng: NormalSource, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """One blurred random plane of the toolbox (its ``BlurredRandomGaussianDataPlane``).

    Parameters
    ----------
    rng : NormalSource
        Where the normal numbers come from.
    shape : (int, int)
        The plane's shape.
    sigma : float
        The blur, pixels.

    Returns
    -------
    numpy.ndarray
        The blurred plane minus (its mean / its standard deviation).
    """
    data = rng.standard_normal(shape)
    data = NOISE_PEAK * data / np.max(np.abs(data))
    np.clip(data, -127, 127, out=data)
    blurred = blur(data, sigma)
    return blurred - blurred.mean() / math.sqrt(blurred.var())


def _coherent_fields(rng: NormalSource, shape: tuple[int, int], sigmas: np.ndarray,
                     max_sigma: float, window: tuple[slice, slice], needed: bool
                     ) -> list[np.ndarray]:
    """Field ``k``: the sum over ``j ≥ k`` of the planes blurred at ``σ_j``, each scaled by
    ``σ_j / max_sigma``, inside ``window`` (the image's place in the plane: every step
    after the blur is per pixel, so the rest of the plane is never needed). The normals
    are drawn even when the fields are not ``needed`` (zero weight), so that the draws
    after them stay the toolbox's."""
    if not needed:
        for _ in sigmas:
            rng.standard_normal(shape)
        return []
    planes = [noise_plane(rng, shape, s)[window] * (s / max_sigma) for s in sigmas]
    total = np.zeros_like(planes[0])
    for plane in planes:
        total += plane
    fields = [total.copy()]
    for plane in planes[:-1]:  # the toolbox subtracts in turn; the same order rounds alike
        total -= plane
        fields.append(total.copy())
    return fields


def partially_coherent_disarray(grey: np.ndarray, reach: float, coherence: float,
                                grain: float, rng: NormalSource, side: int = 256
                                ) -> np.ndarray:
    """An eidolon of a grey image: its scale layers moved, partly coherently, and summed.

    Parameters
    ----------
    grey : numpy.ndarray
        h×w uint8 grey image, its longer side ``side`` (the caller resizes).
    reach : float
        How far the layers move: the displacement fields are multiplied by it, pixels.
    coherence : float
        In [0, 1]: 1 moves every layer with the coarse layers' field (coherent
        disarray), 0 moves each by its own field of grain ``grain`` (incoherent).
    grain : float
        The blur of the incoherent fields, pixels: how fine their wiggles are.
    rng : NormalSource
        The random source (see the module's note on the order of draws).
    side : int
        The side the toolbox works at (``SZ``, 256 in Geirhos et al.'s wrapper); the
        scales and the coherent fields' amplitude depend on it.

    Returns
    -------
    numpy.ndarray
        h×w uint8.
    """
    if not 0.0 <= coherence <= 1.0:
        raise ValueError(f"coherence must lie in [0, 1], got {coherence}")
    if reach < 0 or grain <= 0:
        raise ValueError(f"reach must be at least 0 and grain above 0, got {reach}, {grain}")
    h, w = grey.shape
    sigmas = scale_levels(side)
    fat, (dh, dw) = embed(grey)
    shape = fat.shape
    layers = dog_layers(fat, sigmas)
    window = (slice(dh, dh + h), slice(dw, dw + w))  # only the cut-out is ever read
    coherent = [_coherent_fields(rng, shape, sigmas, side / 4.0, window, coherence > 0)
                for _axis in "xy"]
    rows, cols = np.indices((h, w))
    grids = ((rows + dh, shape[0]), (cols + dw, shape[1]))
    out = np.zeros((h, w))
    for k, layer in enumerate(layers):
        moved = []
        for axis, (grid, limit) in enumerate(grids):
            # The incoherent planes are the last draws, so at full coherence, where
            # their weight is zero, they need not be drawn at all.
            field = (1 - coherence) * noise_plane(rng, shape, grain)[window] \
                if coherence < 1 else np.zeros((h, w))
            if coherence > 0:
                field = field + coherence * coherent[axis][k]
            position = np.clip(field * reach + grid, 0, limit - 1)
            moved.append(position.astype(np.intp))
        out += layer[moved[0], moved[1]]
    return np.clip(out, 0, 255).astype(np.uint8)


__all__ = ["MIN_SIGMA", "NOISE_PEAK", "SIGMA_FACTOR", "NormalSource", "blur", "dog_layers",
           "embed", "noise_plane", "partially_coherent_disarray", "power_of_two_ceiling",
           "scale_levels"]
