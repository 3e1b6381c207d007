"""Smoothing: apply an edge-preserving operator k times, and show the detail it removed.

:func:`smooth_passes` applies an operator (:mod:`localglobal.probes.smoothers`) ``k``
times, each pass on the previous (uint8) output, at whatever resolution it is given; the
pipeline gives it the full-resolution image and preprocesses every pass into the
model-input frame afterwards. :func:`smooth` returns the last pass and
:func:`removed_detail` what one pass takes away. In the pipeline the removed detail
``|original − smooth₁|`` is computed **in the frame**, between the original and the
first pass as stored, so that
``smooth_diff_inv = 255 − smooth_diff`` holds exactly between the PNGs and the image
shows what the model actually loses.

>>> rng = np.random.default_rng(0)
>>> image = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
>>> passes, record = smooth_passes(image, "l0", iterations=2)
>>> len(passes), passes[0].shape, record.params()["operator"]
(2, (32, 48, 3), 'l0')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from localglobal.errors import BadInputError, ConfigError, is_machine_error
from localglobal.probes.registry import (
    ImageContext,
    Item,
    Level,
    Probe,
    ProbeParams,
    register_probe,
)
from localglobal.probes.smoothers import (
    OPERATORS,
    TORCHSCRIPT,
    ParamValue,
    Smoother,
    get_smoother,
)


@dataclass(frozen=True)
class SmoothRecord:
    """What a smoothing run did.

    Attributes
    ----------
    operator : str
        Registry name or TorchScript path.
    iterations : int
        Number of passes.
    operator_params : Mapping[str, ParamValue]
        The operator's parameters.
    sha256 : str, optional
        Checksum of a TorchScript file, else None.
    """

    operator: str
    iterations: int
    operator_params: Mapping[str, ParamValue]
    sha256: str | None = None

    def params_for(self, iterations: int) -> dict[str, Any]:
        """``{"operator", "iterations", "params"}`` for the image after ``iterations`` passes."""
        out: dict[str, Any] = {"operator": self.operator, "iterations": int(iterations),
                               "params": dict(self.operator_params)}
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        return out

    def params(self) -> dict[str, Any]:
        """:meth:`params_for` the last pass."""
        return self.params_for(self.iterations)


def smooth_passes(image: np.ndarray, operator: str | Smoother = "l0", iterations: int = 1,
                  params: Mapping[str, ParamValue] | None = None,
                  ) -> tuple[list[np.ndarray], SmoothRecord]:
    """Apply a smoothing operator ``iterations`` times, each pass on the previous output.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB, at the resolution to smooth at (the pipeline passes the
        full-resolution image).
    operator : str or Smoother
        Registry name, TorchScript path, or a :class:`Smoother`.
    iterations : int
        Number of passes, ≥ 1.
    params : mapping, optional
        Operator parameters (ignored when ``operator`` is a :class:`Smoother`).

    Returns
    -------
    (list of numpy.ndarray, SmoothRecord)
        The image after pass 1, 2, …, ``iterations`` (each H×W×3 uint8), and the record.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    smoother = operator if isinstance(operator, Smoother) else get_smoother(operator, params)
    passes: list[np.ndarray] = []
    current = np.asarray(image)
    for _ in range(iterations):
        current = smoother(current)
        passes.append(current)
    record = SmoothRecord(smoother.operator, int(iterations), dict(smoother.params),
                          smoother.sha256)
    return passes, record


def smooth(image: np.ndarray, iterations: int = 1, operator: str | Smoother = "l0",
           params: Mapping[str, ParamValue] | None = None) -> tuple[np.ndarray, SmoothRecord]:
    """Apply an edge-preserving smoothing operator ``iterations`` times.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB of any size (the pipeline smooths the full-resolution image,
        then brings each pass into the model-input frame).
    iterations : int
        Passes k ≥ 1, each on the previous output.
    operator : str or Smoother
        ``"l0"`` (L0 gradient minimisation), ``"rolling-guidance"``,
        ``"bilateral-texture"``, ``"fast-global"``, a TorchScript file or a
        :class:`Smoother`.
    params : mapping, optional
        The operator's parameters.

    Returns
    -------
    (numpy.ndarray, SmoothRecord)
        The image after the k-th pass (H×W×3 uint8) and the record.

    Examples
    --------
    >>> image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    >>> out, record = smooth(image, iterations=2)
    >>> out.shape, record.iterations
    ((16, 16, 3), 2)
    """
    passes, record = smooth_passes(image, operator, iterations, params)
    return passes[-1], record


def removed_detail(image: np.ndarray, operator: str | Smoother = "l0",
                   params: Mapping[str, ParamValue] | None = None, *,
                   inverted: bool = False) -> tuple[np.ndarray, SmoothRecord]:
    """What one smoothing pass removes: ``|image − smooth(image)|`` per channel.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB of any size.
    operator, params
        As for :func:`smooth`.
    inverted : bool
        Return ``255 −`` the removed detail (dark detail on white).

    Returns
    -------
    (numpy.ndarray, SmoothRecord)
        H×W×3 uint8 detail, and the record of the one pass.

    Examples
    --------
    >>> image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    >>> detail, _ = removed_detail(image)
    >>> light, _ = removed_detail(image, inverted=True)
    >>> bool(np.all(light == 255 - detail))
    True
    """
    smoothed, record = smooth(image, 1, operator, params)
    detail = difference(image, smoothed)
    return (invert(detail) if inverted else detail), record


def difference(original: np.ndarray, smoothed: np.ndarray) -> np.ndarray:
    """What smoothing took away: ``|original − smoothed|`` per channel.

    Parameters
    ----------
    original, smoothed : numpy.ndarray
        uint8 arrays of one shape.

    Returns
    -------
    numpy.ndarray
        uint8 array of the same shape (0 where nothing changed).
    """
    a, b = np.asarray(original), np.asarray(smoothed)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).astype(np.uint8)


def invert(image: np.ndarray) -> np.ndarray:
    """``255 − image`` for uint8 (removed detail shown dark on white)."""
    return (255 - np.asarray(image, dtype=np.uint8)).astype(np.uint8)


class SmoothParams(ProbeParams):
    """``[probes.smooth]``: the operator, its passes and the removed detail."""

    operator: str = Field("l0", description="l0, rolling-guidance, bilateral-texture, fgs, "
                          "or a path to a TorchScript image-to-image model")
    iterations: int = Field(5, ge=1, description="passes; each is one level")
    params: dict[str, dict[str, float | int | str]] = Field(
        default_factory=dict, description="per-operator parameters, e.g. params.l0.lam")
    removed_detail: bool = Field(True, description="also the removed detail and its "
                                 "inversion (probes smooth_diff and smooth_diff_inv)")


REMOVED_DETAIL = "removed detail"
"""The shared entry of an image's first pass and original, for the removed detail."""


def _smoothed(smoother: Smoother, iterations: int, full: np.ndarray
              ) -> tuple[list[np.ndarray], SmoothRecord]:
    """Every smoothing pass of the full-resolution image, and the record.

    A user's TorchScript smoother that refuses an image (an unsupported size, say) makes
    the image bad input for this run rather than a failure to retry; an error of a
    built-in operator is a bug and propagates.
    """
    try:
        return smooth_passes(full, smoother, iterations)
    except Exception as error:
        if not smoother.is_torchscript or is_machine_error(error) \
                or isinstance(error, MemoryError) or "out of memory" in str(error):
            raise
        raise BadInputError(f"the TorchScript smoother {smoother.operator} failed on "
                            f"this image: {type(error).__name__}: {error}") from None


@register_probe
class SmoothProbe(Probe):
    """Edge-preserving smoothing, pass after pass, on the full-resolution image."""

    name = "smooth"
    title = "Smoothing"
    description = ("An edge-preserving smoothing operator is applied k times to the "
                   "full-resolution image, each pass on the previous output, before the "
                   "image is taken into the input frame.")
    axis_label = "smoothing passes"
    keeps = "outlines and large regions: shape"
    destroys = "texture and fine detail"
    Params = SmoothParams
    levels_key = None
    full_resolution = True
    params: SmoothParams

    def __init__(self, params: SmoothParams | None = None, crop: int = 224) -> None:
        super().__init__(params, crop)
        self.smoother: Smoother | None = None

    def levels(self) -> list[Level]:
        return [Level(k, str(k)) for k in range(1, self.params.iterations + 1)]

    def level(self, label: object) -> Level:
        """Pass ``label`` (any count of passes ≥ 1, also beyond ``iterations``)."""
        passes = int(str(label))
        if passes < 1:
            raise KeyError(f"probe smooth has no level {label!r}: passes start at 1")
        return Level(passes, str(passes))

    def tile(self, level: Level, variants: Sequence[str], record: Mapping[str, Any]
             ) -> tuple[str, str]:
        operator = Path(str(record.get("operator", ""))).name
        return str(variants[0]), f"smooth k={level.code} ({operator})"

    def strength_text(self, level: Level) -> str:
        return f"{level.code} smoothing pass{'es' if level.code != 1 else ''} (the most)"

    def companions(self) -> list[str]:
        return ["smooth_diff", "smooth_diff_inv"] if self.params.removed_detail else []

    def items_per_image(self) -> int:
        return self.params.iterations + len(self.companions())

    def settle(self, validate: bool = True) -> Smoother:
        """Settle (and for TorchScript, check) the operator; kept for :meth:`items`.

        Raises
        ------
        ConfigError
            An unknown operator or parameter, or a TorchScript model that fails its
            check; the message names the key.
        """
        known = set(OPERATORS) | {TORCHSCRIPT}
        unknown = sorted(set(self.params.params) - known)
        if unknown:
            raise ConfigError(f"probes.smooth.params: unknown operator(s) {unknown}; "
                              f"known: {sorted(known)}")
        key = self.params.operator if self.params.operator in OPERATORS else TORCHSCRIPT
        try:
            self.smoother = get_smoother(self.params.operator, self.params.params.get(key),
                                         validate=validate, trusted=self.trusted)
        except ConfigError:
            raise
        except (ValueError, RuntimeError, OSError) as error:
            if is_machine_error(error):
                raise
            text = str(error)
            raise ConfigError(text if text.startswith("probes.")
                              else f"probes.smooth.operator: {text}") from None
        return self.smoother

    def check(self, validate: bool = True) -> None:
        self.settle(validate)

    def code_paths(self) -> list[tuple[str, str]]:
        if self.params.operator in OPERATORS:
            return []
        return [("probes.smooth.operator", self.params.operator)]

    def apply(self, image: np.ndarray, level: Level, rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, Any]]:
        passes, record = smooth_passes(image, self.smoother or self.settle(), level.code)
        return passes[-1], record.params_for(level.code)

    def items(self, context: ImageContext) -> Iterator[tuple[Item, np.ndarray]]:
        smoother = self.smoother or self.settle()
        passes, record = _smoothed(smoother, self.params.iterations, context.full)
        framed = [context.to_frame(p) for p in passes]
        for level, smoothed in zip(self.levels(), framed, strict=True):
            yield Item(self.name, level, "0", record.params_for(level.code)), smoothed
        if self.params.removed_detail:
            detail = difference(context.frame, framed[0])
            params = dict(record.params_for(1), frame="input")
            yield Item("smooth_diff", Level(1, "1"), "0", params), detail
            yield Item("smooth_diff_inv", Level(1, "1"), "0", dict(params)), invert(detail)

    def key(self) -> dict[str, Any]:
        smoother = self.smoother or self.settle(validate=False)
        return {"smoother": smoother.describe(), "iterations": self.params.iterations,
                "removed_detail": self.params.removed_detail}


class _RemovedDetail(Probe):
    """What the first smoothing pass took away; made by :class:`SmoothProbe`."""

    levels_key = None

    axis_label = "removed detail"
    section = "removed_detail"
    keeps = "only what smoothing removed: texture and fine detail"
    destroys = "the smoothed content: regions and shape"
    selectable = False

    inverted: ClassVar[bool] = False

    def levels(self) -> list[Level]:
        return [Level(1, "1")]

    def apply(self, image: np.ndarray, level: Level, rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """What one pass of the default smoother removes from ``image`` (in a run,
        :class:`SmoothProbe` makes it from the run's own smoother and first pass)."""
        detail, record = removed_detail(image, inverted=self.inverted)
        return detail, record.params_for(1)

    def strength_text(self, level: Level) -> str:
        return f"{self.heading.lower()}, level 1 (the highest)"

    def tile(self, level: Level, variants: Sequence[str], record: Mapping[str, Any]
             ) -> tuple[str, str]:
        return str(variants[0]), self.heading.lower()


@register_probe
class RemovedDetailProbe(_RemovedDetail):
    """``|original − smooth₁|`` per channel, in the input frame."""

    name = "smooth_diff"
    title = "Removed detail"
    description = ("The detail the first smoothing pass removed, |original − smoothed| per "
                   "channel in the input frame: texture without the regions it sat on.")


@register_probe
class InvertedRemovedDetailProbe(_RemovedDetail):
    """``255 − smooth_diff``: the removed detail dark on white."""

    name = "smooth_diff_inv"
    title = "Removed detail, inverted"
    inverted = True
    description = ("The removed detail inverted (255 − removed detail), dark on white, as "
                   "the thesis showed it.")
