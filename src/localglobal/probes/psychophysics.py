"""The image steps of Geirhos et al.'s parametric manipulations, in numpy and in torch.

Geirhos et al. (NeurIPS 2018, "Generalisation in humans and deep neural networks")
made the stimuli of model-vs-human's twelve parametric datasets with a handful of
steps on images as floats in [0, 1]: greyscale (scikit-image's ``rgb2gray``
luminance weights), contrast reduction towards mid-grey, Gaussian filtering padded
with the mean grey of their images, phase noise and amplitude replacement in the
Fourier domain, and an opponent-colour transform through the lab monitor's measured
gamma. This module holds those steps and their constants once, for the probes in
``probes/`` that apply them: the numpy functions make stored images, the torch
functions (suffix ``_batch``) make the same images, within one grey level, on a batch
of originals on the model's device.

Images are rounded to 8 bits once, at the end (:func:`to_uint8`); every step in
between works on floats, as the original did.

>>> image = np.full((2, 2, 3), 255, np.uint8)
>>> to_uint8(adjust_contrast(greyscale(to_unit(image)), 0.5))[0, 0].tolist()
[191, 191, 191]
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

GREY_WEIGHTS = (0.2125, 0.7154, 0.0721)
"""Luminance weights of R, G, B (ITU-R BT.709, as scikit-image's ``rgb2gray``)."""

BACKGROUND_GREY = 0.4423
"""The mean grey of the 2018 stimuli: the filters pad with it, and the high-pass
filter's output is centred on it."""

NOISE_CONTRAST = 0.3
"""The contrast of the images the uniform noise is added to."""

TRUNCATE = 4.0
"""The Gaussian kernel's radius in standard deviations (scipy's default, used in 2018)."""

CONE_FROM_RGB = np.array([[0.1619982647, 0.208049264, 0.0389347448],
                          [0.0330275785, 0.2496504557, 0.0618343518],
                          [0.0015524055, 0.0198861001, 0.1890224274]])
"""L, M, S cone activations of the lab monitor's linear R, G, B (rows: L, M, S)."""

CONE_WHITE = np.array([0.20449114, 0.17225619, 0.10523047])
"""The cone activations of the background, around which the opponent axes turn."""

OPPONENT_FROM_CONE = np.array([[9.27590805, 9.27590805, 0.0],
                               [7.86421647, -9.33587662, 0.0],
                               [-3.39709047, -3.39709047, 12.16230246]])
"""Luminance, L − M and S − (L + M) from cone contrasts (Brainard 1996)."""

DATA = files("localglobal.probes") / "data"
"""The shipped 2018 constants (``data/README.md`` gives their source and licence)."""


# -- numpy ---------------------------------------------------------------------------------
def to_unit(image: np.ndarray) -> np.ndarray:
    """An H×W×3 uint8 image as float64 in [0, 1]."""
    return np.asarray(image, dtype=np.float64) / 255.0


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] (H×W grey or H×W×3) as H×W×3 uint8: clipped, then rounded.

    A grey image is repeated into three channels, as the 2018 stimuli were stored.
    """
    out = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=2) if out.ndim == 2 else out


def greyscale(image: np.ndarray) -> np.ndarray:
    """H×W×3 floats in [0, 1] to H×W luminance with :data:`GREY_WEIGHTS`."""
    return np.asarray(image, dtype=np.float64) @ np.asarray(GREY_WEIGHTS)


def adjust_contrast(image: np.ndarray, contrast: float) -> np.ndarray:
    """``(1 − c)/2 + c·image``: contrast ``c`` around mid-grey, on [0, 1]."""
    if not 0.0 <= contrast <= 1.0:
        raise ValueError(f"contrast must be in [0, 1], got {contrast}")
    return (1.0 - contrast) / 2.0 + contrast * image


def gaussian_kernel(sigma: float) -> np.ndarray:
    """The normalised 1-D Gaussian of standard deviation ``sigma``, radius
    ``int(TRUNCATE·sigma + 0.5)`` (the kernel scipy's ``gaussian_filter`` uses)."""
    radius = int(TRUNCATE * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (x / float(sigma)) ** 2)
    return weights / weights.sum()


def low_pass(grey: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` (pixels), the outside being
    :data:`BACKGROUND_GREY`; ``sigma = 0`` returns the image."""
    from scipy import ndimage  # scipy is loaded by the probe that blurs, not the registry

    if sigma == 0:
        return np.array(grey, dtype=np.float64, copy=True)
    return ndimage.gaussian_filter(np.asarray(grey, dtype=np.float64), float(sigma),
                                   mode="constant", cval=BACKGROUND_GREY, truncate=TRUNCATE)


def high_pass(grey: np.ndarray, sigma: float) -> np.ndarray:
    """``grey − low_pass(grey)``, shifted so that its mean is :data:`BACKGROUND_GREY`
    (not yet clipped)."""
    detail = np.asarray(grey, dtype=np.float64) - low_pass(grey, sigma)
    return detail + (BACKGROUND_GREY - detail.mean())


def phase_shifts(shape: tuple[int, int], width: float, seed: int) -> np.ndarray:
    """The random phase shifts, in radians, of an fftshift-ed spectrum of ``shape``.

    Each shift is uniform in [−width, width] degrees. The spectrum's point-symmetric
    part (all but the Nyquist row and column of an even side) gets them in
    conjugate pairs, the frequency opposite a shift ``s`` getting ``−s``, and the
    mean (the centre) none, so the scrambled image is real and its amplitude
    spectrum unchanged. The draws come from ``numpy.random.default_rng(seed)``, so the
    stored and the on-the-fly image get the same noise.
    """
    height, width_px = shape
    top, left = 1 - height % 2, 1 - width_px % 2
    n = (height - top) * (width_px - left)
    draws = np.random.default_rng(seed).uniform(-width, width, n // 2) * (np.pi / 180.0)
    shifts = np.zeros(shape, dtype=np.float64)
    shifts[top:, left:] = np.concatenate([draws, [0.0], -draws[::-1]]).reshape(
        height - top, width_px - left)
    return shifts


def scramble_phase(grey: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """``grey`` with each frequency's phase moved by ``shifts`` (see :func:`phase_shifts`)."""
    spectrum = np.fft.fftshift(np.fft.fft2(grey))
    return np.fft.ifft2(np.fft.ifftshift(spectrum * np.exp(1j * shifts))).real


def equalise_amplitude(grey: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """``grey`` with its amplitude spectrum replaced by ``amplitude`` (fftshift-ed), its
    phases kept."""
    if grey.shape != amplitude.shape:
        raise ValueError(f"the amplitude spectrum is {amplitude.shape[0]}×{amplitude.shape[1]}; "
                         f"the image is {grey.shape[0]}×{grey.shape[1]}")
    phase = np.angle(np.fft.fftshift(np.fft.fft2(grey)))
    return np.fft.ifft2(np.fft.ifftshift(amplitude * np.exp(1j * phase))).real


def uniform_noise(shape: tuple[int, int], width: float, seed: int) -> np.ndarray:
    """Noise uniform in [−width, width), one value per pixel, from
    ``numpy.random.default_rng(seed)``."""
    return np.random.default_rng(seed).uniform(-width, width, shape)


@cache
def mean_amplitude_spectrum() -> np.ndarray:
    """The 2018 stimuli's mean amplitude spectrum (greyscale, fftshift-ed), 224×224."""
    with (DATA / "mean_power_spectrum_grey.npy").open("rb") as handle:
        spectrum = np.load(handle, allow_pickle=False)
    spectrum.setflags(write=False)
    return spectrum


@cache
def gamma_table() -> np.ndarray:
    """The lab monitor's normalised output for each 8-bit value, 256 increasing floats."""
    with (DATA / "x_gamma_function.npy").open("rb") as handle:
        table = np.load(handle, allow_pickle=False).reshape(-1)
    table.setflags(write=False)
    return table


def opponent_transform() -> tuple[np.ndarray, np.ndarray]:
    """``(A, b)`` such that ``A·rgb + b`` swaps the opponent colours of linear ``rgb``.

    Cone activations relative to the background are turned into luminance and the two
    opponent axes, the two colour axes are negated, and the result is turned back into
    linear monitor R, G, B: luminance is kept, red–green and blue–yellow swap.
    """
    cone_map = np.linalg.inv(OPPONENT_FROM_CONE) @ np.diag([1.0, -1.0, -1.0]) \
        @ OPPONENT_FROM_CONE
    rgb_from_cone = np.linalg.inv(CONE_FROM_RGB)
    matrix = rgb_from_cone @ cone_map @ CONE_FROM_RGB
    offset = rgb_from_cone @ (CONE_WHITE - cone_map @ CONE_WHITE)
    return matrix, offset


def nearest_level(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """For each value, the index of the nearest entry of the increasing ``table`` (the
    lower one on a tie)."""
    upper = np.clip(np.searchsorted(table, values), 1, len(table) - 1)
    lower = upper - 1
    return np.where(values - table[lower] <= table[upper] - values, lower, upper)


def false_colour(image: np.ndarray) -> np.ndarray:
    """An H×W×3 uint8 image in opponent colours, H×W×3 uint8.

    The 8-bit values are linearised through :func:`gamma_table`, transformed
    (:func:`opponent_transform`), clipped to [0, 1] and mapped back to the 8-bit value
    whose monitor output is nearest.
    """
    table = gamma_table()
    matrix, offset = opponent_transform()
    linear = table[np.asarray(image, dtype=np.uint8)]
    swapped = np.clip(linear @ matrix.T + offset, 0.0, 1.0)
    return nearest_level(swapped, table).astype(np.uint8)


# -- torch ---------------------------------------------------------------------------------
def unit_batch(originals: torch.Tensor) -> torch.Tensor:
    """N×3×H×W originals (uint8, or floats in 0–255) as float32 in [0, 1]."""
    import torch

    return originals.to(torch.float32) / 255.0


def like_originals(images: torch.Tensor, originals: torch.Tensor) -> torch.Tensor:
    """Floats in [0, 1] (N×H×W grey or N×3×H×W) as ``originals`` hold them: clipped,
    rounded to 8-bit levels, 3 channels, the originals' dtype."""
    out = torch_round(images)
    if out.ndim == 3:
        out = out[:, None].expand(-1, 3, -1, -1)
    return out.to(originals.dtype).contiguous()


def torch_round(images: torch.Tensor) -> torch.Tensor:
    """Floats in [0, 1], clipped and rounded to the nearest of the 256 levels (0–255)."""
    return (images.clamp(0.0, 1.0) * 255.0).round()


def greyscale_batch(images: torch.Tensor) -> torch.Tensor:
    """N×3×H×W floats to N×H×W luminance (:data:`GREY_WEIGHTS`)."""
    import torch

    weights = torch.as_tensor(GREY_WEIGHTS, dtype=images.dtype, device=images.device)
    return torch.einsum("nchw,c->nhw", images, weights)


def low_pass_batch(grey: torch.Tensor, sigmas: Sequence[float]) -> torch.Tensor:
    """Each N×H×W image blurred with its own ``sigma`` as :func:`low_pass` does.

    A separable convolution of the image padded with :data:`BACKGROUND_GREY` (the blur of
    a constant is the constant, so padding once in both directions is scipy's
    axis-by-axis constant mode). TensorFloat-32 is kept off so that the sums keep full
    float32 precision on any GPU.
    """
    import torch
    from torch.nn import functional

    out = grey.clone()
    for sigma in dict.fromkeys(float(s) for s in sigmas):
        if sigma == 0:
            continue
        rows = torch.as_tensor([i for i, s in enumerate(sigmas) if float(s) == sigma],
                               device=grey.device)
        kernel = torch.as_tensor(gaussian_kernel(sigma), dtype=grey.dtype, device=grey.device)
        radius = (kernel.numel() - 1) // 2
        padded = functional.pad(grey.index_select(0, rows)[:, None],
                                (radius, radius, radius, radius), value=BACKGROUND_GREY)
        cudnn = torch.backends.cudnn
        with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark,
                         deterministic=cudnn.deterministic, allow_tf32=False):
            blurred = functional.conv2d(padded, kernel.view(1, 1, 1, -1))
            blurred = functional.conv2d(blurred, kernel.view(1, 1, -1, 1))
        out[rows] = blurred[:, 0]
    return out


def high_pass_batch(grey: torch.Tensor, sigmas: Sequence[float]) -> torch.Tensor:
    """:func:`high_pass` of each N×H×W image with its own ``sigma``."""
    detail = grey - low_pass_batch(grey, sigmas)
    return detail + (BACKGROUND_GREY - detail.mean(dim=(1, 2), keepdim=True))


def _shifted_spectrum(grey: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.fft.fftshift(torch.fft.fft2(grey), dim=(-2, -1))


def _from_shifted(spectrum: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.fft.ifft2(torch.fft.ifftshift(spectrum, dim=(-2, -1))).real


def scramble_phase_batch(grey: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """:func:`scramble_phase` of each N×H×W image with its N×H×W ``shifts`` (radians)."""
    import torch

    rotation = torch.polar(torch.ones_like(shifts), shifts)
    return _from_shifted(_shifted_spectrum(grey) * rotation)


def equalise_amplitude_batch(grey: torch.Tensor, amplitude: torch.Tensor) -> torch.Tensor:
    """:func:`equalise_amplitude` of each N×H×W image with one H×W ``amplitude``."""
    import torch

    phase = torch.angle(_shifted_spectrum(grey))
    return _from_shifted(torch.polar(amplitude.expand_as(phase), phase))


def false_colour_batch(originals: torch.Tensor) -> torch.Tensor:
    """:func:`false_colour` of N×3×H×W originals (uint8 or floats in 0–255), as 8-bit
    levels in float32."""
    import torch

    table = torch.tensor(gamma_table(), dtype=torch.float32, device=originals.device)
    matrix, offset = (torch.as_tensor(a, dtype=torch.float32, device=originals.device)
                      for a in opponent_transform())
    linear = table[originals.round().clamp(0, 255).to(torch.long)]
    swapped = (torch.einsum("ij,njhw->nihw", matrix, linear) + offset[:, None, None]
               ).clamp(0.0, 1.0)
    upper = torch.searchsorted(table, swapped.contiguous()).clamp(1, table.numel() - 1)
    lower = upper - 1
    nearer_lower = swapped - table[lower] <= table[upper] - swapped
    return torch.where(nearer_lower, lower, upper).to(torch.float32)
