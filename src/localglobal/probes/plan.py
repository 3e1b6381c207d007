"""The probe plan: which probe images one source image gets, and what each one records.

Every image gets its original first, then the items of each configured probe in the
configuration's order (:mod:`localglobal.probes.catalog`). One row per item:

=================  ===================  ==================  ==============================
probe              level (condition)    variant             params (JSON)
=================  ===================  ==================  ==============================
original           0                    "0"                 ``{}``
scramble           block side           "0" … "v−1"         ``block``, ``permutation``,
                                                            ``fixed_blocks``
patch              patch side           patch index, "all"  ``{"size", "fill", "rects"}``
smooth             passes 1 … k         "0"                 ``{"operator", "iterations",
                                                            "params"}``
smooth_diff        1                    "0"                 as smooth, plus ``"frame"``
smooth_diff_inv    1                    "0"                 as smooth_diff
any other probe    its position; its    "0" … "v−1"         what the probe records
                   condition string
=================  ===================  ==================  ==============================

``level`` is an integer column (the thesis probes' own numbers, the position in the
list of conditions for the others); ``condition`` holds the level's label (``"28"``,
``"c50"``, ``"8-10-10"``), which is how configurations, figures and the report name it.
Random probes are seeded per item (:func:`~localglobal.probes.seeds.image_seed`), so
the same configuration and seed give the same images whatever else is in the run.
Everything here is pure: arrays in, arrays and records out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from localglobal.config import RunConfig
from localglobal.io.images import to_input_frame
from localglobal.probes.catalog import ProbeSet, configured_probes, on_the_fly
from localglobal.probes.registry import ImageContext, Item, Level, Probe

PROBE_FORMAT = 3
"""Bump when the stored images or params change for unchanged parameters (2: scramble
params carry ``fixed_blocks``; 3: probes from the registry, with a condition column)."""

ORIGINAL = Item("original", Level(0, "0"), "0", {})
"""The original's item: every image has it, first."""


def original_path(wnid: str, image_id: str) -> str:
    """Where an image's original (input frame) PNG goes, relative to the run directory."""
    return ORIGINAL.path(wnid, image_id)


def is_built(probe: str, path: str) -> bool:
    """Whether a row of ``perturbations.parquet`` has no PNG of its own.

    Such a row (``materialize = false``) names its image's original as ``path``: the
    probe is that original with the row's ``params`` applied
    (:func:`localglobal.probes.batched.build_probes`).
    """
    return probe != "original" and on_the_fly(probe) \
        and "perturbations/original/" in str(path).replace("\\", "/")


@dataclass(frozen=True)
class ProbePlan:
    """Everything that decides the probe images of one source image (picklable).

    Build it with :meth:`from_config`, which settles and checks every probe's
    parameters on the crop (and a TorchScript smoother on a dummy image) before any
    image is touched.
    """

    probe_set: ProbeSet = field(default_factory=lambda: ProbeSet(()))
    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    seed: int = 1
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
            Whether the configuration was handed over by the user; an untrusted one
            that names code (a plugin, a TorchScript file) is refused.

        Raises
        ------
        ConfigError
            A parameter that cannot work on the crop, an unknown probe or key, or code
            in an untrusted configuration; the message names the key.
        """
        probe_set = configured_probes(config, trusted=trusted, check=True, validate=validate)
        return cls(probe_set=probe_set, resize=config.frame.resize, crop=config.frame.crop,
                   interpolation=config.frame.interpolation, seed=config.run.seed,
                   min_side=config.probes.min_side, materialize=config.probes.materialize)

    @property
    def probes(self) -> tuple[str, ...]:
        """The configured probes' names, in order."""
        return tuple(probe.name for probe in self.probe_set.probes)

    def key(self) -> dict[str, Any]:
        """The parameters as JSON-able data (the shard key, the stage report)."""
        return {
            "frame": [self.resize, self.crop, self.interpolation], "seed": self.seed,
            "probes": {probe.name: probe.key() for probe in self.probe_set.probes},
            "min_side": self.min_side, "format": self.format,
            # absent when true, so that runs from before the option keep their shards
            **({} if self.materialize else {"materialize": False}),
        }

    def items_per_image(self) -> int:
        """How many probe images (table rows) each source image gets."""
        return 1 + sum(probe.items_per_image() for probe in self.probe_set.probes)

    def stores(self, probe: str) -> bool:
        """Whether ``probe``'s items are written as PNGs (else built where the model runs)."""
        return self.materialize or probe == "original" or not on_the_fly(probe)

    def frame(self, image: np.ndarray) -> np.ndarray:
        """``image`` taken into this plan's model-input frame."""
        return to_input_frame(image, self.resize, self.crop, self.interpolation)

    def probe(self, name: str) -> Probe:
        """The plan's probe named ``name`` (see :meth:`ProbeSet.get`)."""
        return self.probe_set.get(name)


def probe_images(plan: ProbePlan, image: np.ndarray, image_id: str
                 ) -> Iterator[tuple[Item, np.ndarray]]:
    """Every probe image of one source image, in the model-input frame.

    Parameters
    ----------
    plan : ProbePlan
        What to generate.
    image : numpy.ndarray
        The full-resolution source image, H×W×3 uint8 RGB.
    image_id : str
        Seeds the random probes.

    Yields
    ------
    (Item, numpy.ndarray)
        Each item and its crop×crop×3 uint8 image: the original, then each probe's
        items in the configuration's order.

    Raises
    ------
    BadInputError
        A probe refused the image (a TorchScript smoother or a plugin that failed on it).
    """
    full = np.asarray(image)
    frame = plan.frame(full)
    yield ORIGINAL, frame
    context = ImageContext(full=full, frame=frame, image_id=image_id, run_seed=plan.seed,
                           to_frame=plan.frame)
    for probe in plan.probe_set.probes:
        yield from probe.items(context)
