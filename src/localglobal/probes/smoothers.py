"""Edge-preserving smoothing operators: take away texture and fine detail, keep outlines.

A registry of operators, each an ``image -> image`` function on H×W×3 uint8 RGB with
named parameters (``probes.smooth.params.<operator>`` in the configuration):

``l0`` (default)
    L0 gradient minimisation (Xu, Lu, Xu & Jia 2011, "Image smoothing via L0
    gradient minimization"), solved as in the paper by alternating a hard threshold
    on the gradients with an FFT solve, ``beta`` going from ``2·lam`` to ``beta_max``
    by factors of ``kappa``. Implemented here with ``scipy.fft`` in single precision:
    OpenCV's ``cv2.ximgproc.l0Smooth`` was measured slower on a 500×375 image
    (0.5 s against 0.25 s) and its output departs from the reference algorithm (a
    mean shift of several grey levels and a ramp along the first rows and columns),
    whereas the FFT solve with periodic boundaries keeps the image mean exactly.
    Parameters: ``lam`` (0.02), ``kappa`` (2.0), ``beta_max`` (1e5).
``rolling-guidance``
    Rolling guidance filter (Zhang et al. 2014), ``cv2.ximgproc.rollingGuidanceFilter``.
    Parameters: ``d`` (−1: from ``sigma_space``), ``sigma_color`` (25), ``sigma_space``
    (3), ``num_iter`` (4).
``bilateral-texture``
    Bilateral texture filter (Cho et al. 2014), ``cv2.ximgproc.bilateralTextureFilter``.
    Parameters: ``fr`` (3), ``num_iter`` (1), ``sigma_alpha`` (−1: automatic),
    ``sigma_avg`` (−1: automatic).
``fgs``
    Fast global smoother (Min et al. 2014), ``cv2.ximgproc.fastGlobalSmootherFilter``
    guided by the image itself. Parameters: ``lam`` (900), ``sigma_color`` (20),
    ``lambda_attenuation`` (0.25), ``num_iter`` (3).
a path to a TorchScript file
    Any image-to-image network (for instance the learned smoother of Zhu et al. 2019).
    It receives a float32 tensor 1×3×H×W, RGB, values in ``[0, value_range]``, and must
    return a tensor of the same shape and range. Parameters (``params.torchscript``):
    ``value_range`` (1.0), ``device`` ("cpu"), ``pad_multiple`` (1: the input is
    reflect-padded to a multiple of this and the output cropped back). The model is
    checked once on a dummy image by :func:`get_smoother` before any real image.

The smoothing probe (:mod:`localglobal.probes.smooth`) applies an operator ``k`` times.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from localglobal.trust import register_code_key, require_trusted

ParamValue = float | int | str
TORCHSCRIPT = "torchscript"
"""Key of the TorchScript parameters in ``probes.smooth.params``."""


@dataclass(frozen=True)
class SmoothingOperator:
    """A registered smoothing operator.

    Attributes
    ----------
    name : str
        Registry key (the ``probes.smooth.operator`` value).
    function : Callable[..., numpy.ndarray]
        ``function(image, **params) -> image`` on H×W×3 uint8 RGB.
    defaults : Mapping[str, ParamValue]
        Every parameter the function takes, with its default.
    description : str
        One line for listings.
    """

    name: str
    function: Callable[..., np.ndarray]
    defaults: Mapping[str, ParamValue]
    description: str = ""


OPERATORS: dict[str, SmoothingOperator] = {}


def register_operator(name: str, function: Callable[..., np.ndarray],
                      defaults: Mapping[str, ParamValue], description: str = "") -> None:
    """Add a smoothing operator to the registry (``function`` must be importable)."""
    OPERATORS[name] = SmoothingOperator(name, function, dict(defaults), description)


# --------------------------------------------------------------------------- operators


def l0_smooth(image: np.ndarray, lam: float = 0.02, kappa: float = 2.0,
              beta_max: float = 1e5) -> np.ndarray:
    """L0 gradient minimisation (Xu et al. 2011) of an image.

    Minimises ``Σ (S − I)² + lam · #{p : ∇S_p ≠ 0}`` over S, with intensities scaled
    to [0, 1] and periodic boundaries (as the paper's FFT solver assumes).

    Parameters
    ----------
    image : numpy.ndarray
        H×W×C or H×W uint8.
    lam : float
        Weight of the gradient count; larger gives flatter regions.
    kappa : float
        Factor by which the coupling ``beta`` grows each round (> 1).
    beta_max : float
        ``beta`` at which to stop.

    Returns
    -------
    numpy.ndarray
        The smoothed image, same shape, uint8.
    """
    if kappa <= 1:
        raise ValueError(f"l0: kappa must be greater than 1, got {kappa}")
    if lam <= 0:
        raise ValueError(f"l0: lam must be positive, got {lam}")
    import scipy.fft as sfft

    source = np.asarray(image)
    flat_input = source.ndim == 2
    # Channels first, so every FFT and difference runs over contiguous rows.
    channels = source[None] if flat_input else np.moveaxis(source, 2, 0)
    s = np.ascontiguousarray(channels, dtype=np.float32) / np.float32(255.0)
    height, width = s.shape[1:]
    # Fourier transform of the circular forward-difference operators, squared.
    fy = 2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(height) / height)
    fx = 2.0 - 2.0 * np.cos(2.0 * np.pi * np.arange(width // 2 + 1) / width)
    gradient_otf = (fy[:, None] + fx[None, :]).astype(np.float32)
    data_term = sfft.rfft2(s)
    h, v, divergence = np.empty_like(s), np.empty_like(s), np.empty_like(s)
    beta = 2.0 * lam
    while beta < beta_max:
        # Circular forward differences along columns (h) and rows (v).
        np.subtract(s[:, :, 1:], s[:, :, :-1], out=h[:, :, :-1])
        np.subtract(s[:, :, 0], s[:, :, -1], out=h[:, :, -1])
        np.subtract(s[:, 1:, :], s[:, :-1, :], out=v[:, :-1, :])
        np.subtract(s[:, 0, :], s[:, -1, :], out=v[:, -1, :])
        flat_here = (h * h + v * v).sum(axis=0) < lam / beta
        h[:, flat_here] = 0.0
        v[:, flat_here] = 0.0
        # Adjoint of the difference operators applied to the thresholded gradients.
        np.subtract(h[:, :, :-1], h[:, :, 1:], out=divergence[:, :, 1:])
        np.subtract(h[:, :, -1], h[:, :, 0], out=divergence[:, :, 0])
        divergence[:, 1:, :] += v[:, :-1, :] - v[:, 1:, :]
        divergence[:, 0, :] += v[:, -1, :] - v[:, 0, :]
        numerator = data_term + np.float32(beta) * sfft.rfft2(divergence)
        s = sfft.irfft2(numerator / (1.0 + np.float32(beta) * gradient_otf),
                        s=(height, width)).astype(np.float32)
        beta *= kappa
    out = np.clip(np.rint(s * 255.0), 0, 255).astype(np.uint8)
    return out[0] if flat_input else np.ascontiguousarray(np.moveaxis(out, 0, 2))


def rolling_guidance(image: np.ndarray, d: int = -1, sigma_color: float = 25.0,
                     sigma_space: float = 3.0, num_iter: int = 4) -> np.ndarray:
    """Rolling guidance filter (``cv2.ximgproc.rollingGuidanceFilter``), uint8 in and out."""
    import cv2

    return cv2.ximgproc.rollingGuidanceFilter(
        np.ascontiguousarray(image), d=int(d), sigmaColor=float(sigma_color),
        sigmaSpace=float(sigma_space), numOfIter=int(num_iter))


def bilateral_texture(image: np.ndarray, fr: int = 3, num_iter: int = 1,
                      sigma_alpha: float = -1.0, sigma_avg: float = -1.0) -> np.ndarray:
    """Bilateral texture filter (``cv2.ximgproc.bilateralTextureFilter``), uint8 in and out."""
    import cv2

    return cv2.ximgproc.bilateralTextureFilter(
        np.ascontiguousarray(image), fr=int(fr), numIter=int(num_iter),
        sigmaAlpha=float(sigma_alpha), sigmaAvg=float(sigma_avg))


def fast_global_smoother(image: np.ndarray, lam: float = 900.0, sigma_color: float = 20.0,
                         lambda_attenuation: float = 0.25, num_iter: int = 3) -> np.ndarray:
    """Fast global smoother (``cv2.ximgproc.fastGlobalSmootherFilter``) guided by the image."""
    import cv2

    image = np.ascontiguousarray(image)
    return cv2.ximgproc.fastGlobalSmootherFilter(
        image, image, float(lam), float(sigma_color), float(lambda_attenuation), int(num_iter))


register_operator("l0", l0_smooth, {"lam": 0.02, "kappa": 2.0, "beta_max": 1e5},
                  "L0 gradient minimisation (Xu et al. 2011)")
register_operator("rolling-guidance", rolling_guidance,
                  {"d": -1, "sigma_color": 25.0, "sigma_space": 3.0, "num_iter": 4},
                  "rolling guidance filter (Zhang et al. 2014)")
register_operator("bilateral-texture", bilateral_texture,
                  {"fr": 3, "num_iter": 1, "sigma_alpha": -1.0, "sigma_avg": -1.0},
                  "bilateral texture filter (Cho et al. 2014)")
register_operator("fgs", fast_global_smoother,
                  {"lam": 900.0, "sigma_color": 20.0, "lambda_attenuation": 0.25, "num_iter": 3},
                  "fast global smoother (Min et al. 2014)")

TORCHSCRIPT_DEFAULTS: dict[str, ParamValue] = {"value_range": 1.0, "device": "cpu",
                                               "pad_multiple": 1}


# --------------------------------------------------------------------------- TorchScript

_MODULES: dict[tuple[str, str], Any] = {}


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _load_torchscript(path: str, device: str) -> Any:
    key = (path, device)
    if key not in _MODULES:
        import torch

        try:
            with warnings.catch_warnings():
                # TorchScript is deprecated upstream but remains the portable format for
                # shape-agnostic image-to-image networks.
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(path, map_location=device)
        except Exception as error:  # torch raises RuntimeError or ValueError variants
            raise ValueError(f"{path}: not a loadable TorchScript model: {error}") from None
        module.eval()
        _MODULES[key] = module
    return _MODULES[key]


def _run_torchscript(image: np.ndarray, path: str, value_range: float, device: str,
                     pad_multiple: int) -> np.ndarray:
    """Apply a TorchScript model to an H×W×3 uint8 image; check and convert its output."""
    import torch
    import torch.nn.functional as tf

    module = _load_torchscript(path, device)
    height, width = image.shape[:2]
    x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None].float()
    x = (x * (float(value_range) / 255.0)).to(device)
    multiple = max(int(pad_multiple), 1)
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        x = tf.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    with torch.inference_mode():
        y = module(x)
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"TorchScript smoother {path} returned {type(y).__name__}, "
                         "not a tensor")
    if tuple(y.shape) != tuple(x.shape):
        raise ValueError(
            f"TorchScript smoother {path} returned shape {tuple(y.shape)} for an input of "
            f"shape {tuple(x.shape)}; it must return the input's shape (1×3×H×W)"
        )
    y = y.detach().float()[..., :height, :width]
    low, high = float(y.min()), float(y.max())
    tolerance = 0.02 * float(value_range)
    if not (np.isfinite(low) and np.isfinite(high)) or low < -tolerance \
            or high > float(value_range) + tolerance:
        raise ValueError(
            f"TorchScript smoother {path} returned values in [{low:.4g}, {high:.4g}]; "
            f"expected [0, {value_range:g}] (set probes.smooth.params.torchscript.value_range "
            "to the range the model works in)"
        )
    out = (y[0].permute(1, 2, 0).cpu().numpy() * (255.0 / float(value_range)))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- smoother


def _coerce_params(where: str, given: Mapping[str, ParamValue] | None,
                   defaults: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    """Defaults overlaid with ``given``, each cast to its default's type."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {unknown}; accepted: {sorted(defaults)}")
    params: dict[str, ParamValue] = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        try:
            if isinstance(default, str):
                value = str(value)
            elif isinstance(default, int):
                if float(value) != int(float(value)):
                    raise ValueError
                value = int(float(value))
            else:
                value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where}.{key}: expected {type(default).__name__}, "
                             f"got {value!r}") from None
        params[key] = value
    return params


@dataclass(frozen=True)
class Smoother:
    """A smoothing operator with its parameters settled; call it on an image.

    Attributes
    ----------
    operator : str
        Registry name, or the absolute path of a TorchScript file.
    params : Mapping[str, ParamValue]
        Every parameter, defaults filled in.
    sha256 : str, optional
        Checksum of the TorchScript file (None for registry operators).
    """

    operator: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    sha256: str | None = None

    @property
    def is_torchscript(self) -> bool:
        return self.sha256 is not None

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """One pass over an H×W×3 uint8 RGB image; returns the same shape, uint8."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"smoothing needs an H×W×3 uint8 image, got {image.shape} "
                             f"{image.dtype}")
        if self.is_torchscript:
            out = _run_torchscript(image, self.operator, **self.params)  # type: ignore[arg-type]
        else:
            out = OPERATORS[self.operator].function(image, **self.params)
        out = np.asarray(out)
        if out.shape != image.shape or out.dtype != np.uint8:
            raise ValueError(f"smoothing operator {self.operator} returned {out.shape} "
                             f"{out.dtype} for an input of {image.shape} uint8")
        return out

    def describe(self) -> dict[str, Any]:
        """``{"operator", "params"}`` (plus ``"sha256"`` for a TorchScript file)."""
        out: dict[str, Any] = {"operator": self.operator, "params": dict(self.params)}
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        return out


def _dummy_image(height: int = 45, width: int = 67) -> np.ndarray:
    """A deterministic test card: two flat regions, a ramp and some texture."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.where(xx < width // 2, 60.0, 190.0) + 40.0 * yy / height
    texture = rng.normal(0.0, 15.0, (height, width, 3))
    return np.clip(base[..., None] + texture, 0, 255).astype(np.uint8)


OPERATOR_KEY = "probes.smooth.operator"
register_code_key(OPERATOR_KEY, "a TorchScript smoothing model (loaded and run)",
                  lambda operator: operator not in OPERATORS)


def get_smoother(operator: str = "l0", params: Mapping[str, ParamValue] | None = None, *,
                 validate: bool = True, trusted: bool = True) -> Smoother:
    """Settle an operator and its parameters, checking both.

    Parameters
    ----------
    operator : str
        A registry name (``l0``, ``rolling-guidance``, ``bilateral-texture``,
        ``fgs``) or the path of a TorchScript file.
    params : Mapping[str, ParamValue], optional
        The operator's parameters; unknown names are errors.
    validate : bool
        Run a TorchScript model once on a 45×67 dummy image and refuse it if
        its output has another shape or leaves the value range.
    trusted : bool
        Whether a TorchScript file may be loaded
        (:func:`localglobal.trust.require_trusted`): false when the name comes from
        a configuration the user did not give on this command line.

    Raises
    ------
    ValueError
        unknown operator, missing file, unknown parameter, or a TorchScript
        model that fails the check (the message gives the shape it returned).
    ConfigError
        a TorchScript file, and ``trusted`` is false.
    """
    if operator in OPERATORS:
        spec = OPERATORS[operator]
        return Smoother(operator, _coerce_params(f"probes.smooth.params.{operator}", params,
                                                 spec.defaults))
    require_trusted(OPERATOR_KEY, operator, trusted)
    path = Path(operator).expanduser()
    if not path.is_file():
        raise ValueError(
            f"smoothing operator {operator!r} is neither a registered operator "
            f"({', '.join(sorted(OPERATORS))}) nor an existing TorchScript file"
        )
    path = path.resolve()
    settled = _coerce_params(f"probes.smooth.params.{TORCHSCRIPT}", params, TORCHSCRIPT_DEFAULTS)
    if float(settled["value_range"]) <= 0:
        raise ValueError("probes.smooth.params.torchscript.value_range must be positive")
    smoother = Smoother(str(path), settled, _file_sha256(path))
    if validate:
        smoother(_dummy_image())
    return smoother
