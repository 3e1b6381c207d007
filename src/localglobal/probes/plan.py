"""The probe plan: which probe images one source image gets, and what each one records.

=================  ==============  ==================  =====================================
probe              level           variant             params (JSON)
=================  ==============  ==================  =====================================
original           0               "0"                 ``{}``
scramble           block side      "0" … "v−1"         the scramble record (``block``,
                                                       ``permutation``, ``fixed_blocks``)
patch              patch side      patch index, "all"  ``{"size", "fill", "rects"}``
smooth             passes 1 … k    "0"                 ``{"operator", "iterations", "params"}``
smooth_diff        1               "0"                 as smooth, plus ``"frame"``
smooth_diff_inv    1               "0"                 as smooth_diff
=================  ==============  ==================  =====================================

Smoothing runs on the full-resolution image; every pass is then taken into the frame.
The removed detail is computed **in the frame**, between the original and the first
pass as stored: ``smooth_diff = |original − smooth₁|`` and ``smooth_diff_inv = 255 −
smooth_diff`` hold exactly between the PNGs, and the image shows what the model
actually loses, not detail that resizing would have averaged away anyway.

Scramble permutations are seeded per image (:func:`~localglobal.probes.scramble.image_seed`),
so the same configuration and seed give the same images whatever else is in the run.
Everything here is pure: arrays in, arrays and records out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from localglobal.config import RunConfig
from localglobal.data.geometry import to_input_frame
from localglobal.errors import BadInputError, ConfigError, is_machine_error
from localglobal.probes.patch import fill_colour, patch_images, patch_rects
from localglobal.probes.scramble import block_grid, scramble_variants
from localglobal.probes.smooth import OPERATORS, TORCHSCRIPT, Smoother, get_smoother, invert
from localglobal.probes.smooth import removed_detail as removed_detail_image
from localglobal.probes.smooth import smooth as smooth_passes

PROBE_FORMAT = 2
"""Bump when the stored images or params change for unchanged parameters (2: scramble
params carry ``fixed_blocks``)."""

PROBES = ("original", "scramble", "patch", "smooth", "smooth_diff", "smooth_diff_inv")
"""Every probe name of ``perturbations.parquet``, in the order an image's items come."""


def params_json(params: dict[str, Any]) -> str:
    """The ``params`` column's text: compact JSON, keys in the record's order."""
    return json.dumps(params, separators=(",", ":"))


@dataclass(frozen=True)
class ProbeItem:
    """One probe image of one source image, without its pixels.

    Attributes
    ----------
    probe : str
        One of :data:`PROBES`.
    level : int
        Block side, patch side or smoothing passes (0 for the original).
    variant : str
        Scramble variant, patch index or ``"all"``; ``"0"`` otherwise.
    params : dict
        What the probe did (see the module docstring).
    """

    probe: str
    level: int
    variant: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def params_json(self) -> str:
        """:attr:`params` as the table stores them."""
        return params_json(self.params)

    def item_id(self, image_id: str) -> str:
        """``<image_id>/<probe>/<level>/<variant>``, the item's id in every table."""
        return f"{image_id}/{self.probe}/{self.level}/{self.variant}"

    def path(self, wnid: str, image_id: str) -> str:
        """Where the PNG goes, relative to the run directory."""
        return f"perturbations/{self.probe}/{wnid}/{image_id}_{self.level}_{self.variant}.png"


BUILT_PROBES = ("scramble", "patch")
"""Probes that ``materialize = false`` does not store: built from the original and params."""


def original_path(wnid: str, image_id: str) -> str:
    """Where an image's original (input frame) PNG goes, relative to the run directory."""
    return ProbeItem("original", 0, "0").path(wnid, image_id)


def is_built(probe: str, path: str) -> bool:
    """Whether a row of ``perturbations.parquet`` has no PNG of its own.

    Such a row (``materialize = false``) names its image's original as ``path``: the
    probe is that original with the row's ``params`` applied
    (:func:`localglobal.probes.batched.build_probes`).
    """
    return probe in BUILT_PROBES and "perturbations/original/" in str(path).replace("\\", "/")


def _config_error(key: str, error: Exception) -> ConfigError:
    """``error`` as a ConfigError naming ``key`` (unless its message names a key already)."""
    text = str(error)
    return ConfigError(text if text.startswith("probes.") else f"{key}: {text}")


def _smoother(config: RunConfig, validate: bool, trusted: bool) -> Smoother | None:
    """The configured smoother, settled and (for TorchScript) checked; None without smooth."""
    smooth = config.probes.smooth
    if "smooth" not in config.probes.probes:
        return None
    known = set(OPERATORS) | {TORCHSCRIPT}
    unknown = sorted(set(smooth.params) - known)
    if unknown:
        raise ConfigError(f"probes.smooth.params: unknown operator(s) {unknown}; "
                          f"known: {sorted(known)}")
    key = smooth.operator if smooth.operator in OPERATORS else TORCHSCRIPT
    try:
        return get_smoother(smooth.operator, smooth.params.get(key), validate=validate,
                            trusted=trusted)
    except ConfigError:
        raise
    except (ValueError, RuntimeError, OSError) as error:
        if is_machine_error(error):
            raise
        raise _config_error("probes.smooth.operator", error) from None


@dataclass(frozen=True)
class ProbePlan:
    """Everything that decides the probe images of one source image (picklable).

    Build it with :meth:`from_config`, which checks the parameters (block sides that
    divide the crop, patch sides that fit it, the smoothing operator and, for a
    TorchScript smoother, the model itself) before any image is touched.
    """

    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    seed: int = 1
    probes: tuple[str, ...] = ("scramble", "patch", "smooth")
    blocks: tuple[int, ...] = (28, 32, 56, 112)
    variants: int = 3
    derangement: bool = False
    patch_sizes: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70)
    fill: str | tuple[int, int, int] = "black"
    smoother: Smoother | None = None
    iterations: int = 5
    removed_detail: bool = True
    min_side: int = 16
    format: int = PROBE_FORMAT
    materialize: bool = True

    @classmethod
    def from_config(cls, config: RunConfig, *, validate: bool = True,
                    trusted: bool = True) -> ProbePlan:
        """The plan a run configuration asks for.

        Parameters
        ----------
        config : RunConfig
            The run's configuration (``frame``, ``probes``, ``run.seed``).
        validate : bool
            Run a TorchScript smoother once on a dummy image.
        trusted : bool
            Whether code the configuration names (a TorchScript smoother) may be loaded:
            the configuration came from the user (:mod:`localglobal.trust`).

        Raises
        ------
        ConfigError
            A block side that does not divide the crop (naming both), a patch side
            larger than the crop, an unknown fill, smoothing operator or parameter, or a
            TorchScript model that fails its check; the message names the key.
        """
        probes = config.probes
        fill = probes.patch.fill
        plan = cls(
            resize=config.frame.resize, crop=config.frame.crop,
            interpolation=config.frame.interpolation, seed=config.run.seed,
            probes=tuple(dict.fromkeys(probes.probes)),
            blocks=tuple(probes.scramble.blocks), variants=probes.scramble.variants,
            derangement=probes.scramble.derangement,
            patch_sizes=tuple(probes.patch.sizes),
            fill=fill if isinstance(fill, str) else tuple(int(v) for v in fill),
            smoother=_smoother(config, validate, trusted), iterations=probes.smooth.iterations,
            removed_detail=probes.smooth.removed_detail, min_side=probes.min_side,
            materialize=probes.materialize,
        )
        plan.check()
        return plan

    def check(self) -> None:
        """Refuse parameters that cannot give valid probes on the crop.

        Raises
        ------
        ConfigError
            Naming the key (``probes.scramble.blocks``, ``probes.patch.sizes``, …).
        """
        if "scramble" in self.probes:
            for block in self.blocks:
                try:
                    rows, cols = block_grid(self.crop, self.crop, block)
                except ValueError as error:
                    raise _config_error("probes.scramble.blocks", error) from None
                if rows * cols < 2:
                    raise ConfigError(f"probes.scramble.blocks: block side {block} leaves a "
                                      f"single block of the {self.crop}-pixel input; nothing "
                                      "to scramble")
        if "patch" in self.probes:
            for size in self.patch_sizes:
                try:
                    patch_rects(self.crop, size)
                except ValueError as error:
                    raise _config_error("probes.patch.sizes", error) from None
            try:
                fill_colour(np.zeros((1, 1, 3), np.uint8), self.fill)
            except ValueError as error:
                raise _config_error("probes.patch.fill", error) from None

    def key(self) -> dict[str, Any]:
        """The parameters as JSON-able data (the shard key, the stage report)."""
        return {
            "frame": [self.resize, self.crop, self.interpolation], "seed": self.seed,
            "probes": list(self.probes), "blocks": list(self.blocks),
            "variants": self.variants, "derangement": self.derangement,
            "patch_sizes": list(self.patch_sizes),
            "fill": self.fill if isinstance(self.fill, str) else list(self.fill),
            "smoother": self.smoother.describe() if self.smoother else None,
            "iterations": self.iterations, "removed_detail": self.removed_detail,
            "min_side": self.min_side, "format": self.format,
            # absent when true, so that runs from before the option keep their shards
            **({} if self.materialize else {"materialize": False}),
        }

    def items_per_image(self) -> int:
        """How many probe images (table rows) each source image gets."""
        count = 1
        if "scramble" in self.probes:
            count += len(self.blocks) * self.variants
        if "patch" in self.probes:
            count += sum(len(patch_rects(self.crop, size)) + 1 for size in self.patch_sizes)
        if "smooth" in self.probes and self.smoother is not None:
            count += self.iterations + (2 if self.removed_detail else 0)
        return count

    def frame(self, image: np.ndarray) -> np.ndarray:
        """``image`` taken into this plan's model-input frame."""
        return to_input_frame(image, self.resize, self.crop, self.interpolation)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def record_params(record: Any) -> dict[str, Any]:
    """A scramble record as params: every field of the record, then its ``params()``.

    Copying the fields lets a field added to the record reach the table even before
    ``params()`` names it; ``params()`` adds what is computed (``fixed_blocks``).
    """
    out = {f.name: _jsonable(getattr(record, f.name)) for f in fields(record)}
    out.update(record.params())
    return out


def _smoothed(smoother: Smoother, iterations: int, full: np.ndarray
              ) -> tuple[list[np.ndarray], Any]:
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


def probe_images(plan: ProbePlan, image: np.ndarray, image_id: str
                 ) -> Iterator[tuple[ProbeItem, np.ndarray]]:
    """Every probe image of one source image, in the model-input frame.

    Parameters
    ----------
    plan : ProbePlan
        What to generate.
    image : numpy.ndarray
        The full-resolution source image, H×W×3 uint8 RGB.
    image_id : str
        Seeds the scrambles.

    Yields
    ------
    (ProbeItem, numpy.ndarray)
        Each item and its crop×crop×3 uint8 image, in a fixed order: original,
        scrambles, patches, smoothing passes, removed detail.

    Raises
    ------
    BadInputError
        A TorchScript smoother refused the image.
    """
    full = np.asarray(image)
    frame = plan.frame(full)
    yield ProbeItem("original", 0, "0", {}), frame
    if "scramble" in plan.probes:
        for block in plan.blocks:
            variants = scramble_variants(frame, block, plan.variants, plan.seed, image_id,
                                         derangement=plan.derangement)
            for variant, (scrambled, record) in enumerate(variants):
                yield ProbeItem("scramble", int(block), str(variant),
                                record_params(record)), scrambled
    if "patch" in plan.probes:
        for size in plan.patch_sizes:
            for variant, patched, record in patch_images(frame, size, plan.fill):
                yield ProbeItem("patch", int(size), variant, record.params()), patched
    if "smooth" in plan.probes and plan.smoother is not None:
        passes, record = _smoothed(plan.smoother, plan.iterations, full)
        framed = [plan.frame(p) for p in passes]
        for k, smoothed in enumerate(framed, start=1):
            yield ProbeItem("smooth", k, "0", record.params_for(k)), smoothed
        if plan.removed_detail:
            detail = removed_detail_image(frame, framed[0])
            params = dict(record.params_for(1), frame="input")
            yield ProbeItem("smooth_diff", 1, "0", params), detail
            yield ProbeItem("smooth_diff_inv", 1, "0", dict(params)), invert(detail)
