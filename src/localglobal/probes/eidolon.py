"""Eidolons: the image's scale layers displaced at a chosen reach and coherence.

The ``eidolon`` probe makes the images of model-vs-human's three eidolon experiments
(Geirhos et al. 2018, "Generalisation in humans and deep neural networks"), which used
the Eidolon toolbox's *partially coherent disarray* (:mod:`localglobal.probes.disarray`)
through the wrapper of github.com/rgeirhos/generalisation-humans-DNNs:

1. the input (the crop×crop image of the model-input frame) is turned grey as that
   pipeline turns its stimuli grey, skimage's ``rgb2gray`` (0.2125 R + 0.7154 G +
   0.0721 B on [0, 1]), times 255, truncated to uint8;
2. the toolbox resizes it (Lanczos) so that its longer side is 256 pixels, the
   wrapper's ``SZ``, and works there: the reach is in pixels of that 256-pixel image;
3. the 256-pixel grey eidolon is resized (Lanczos) back to the input's size, and its
   grey copied into the three channels.

A level is model-vs-human's condition string ``R-C-G``: reach ``R`` (pixels), coherence
``C/10`` and grain ``G`` (pixels). Geirhos et al. showed reaches 1, 2, 4, …, 128 at grain
10 with coherence 1.0 (eidolon I), 0.3 (eidolon II) or 0.0 (eidolon III); which of the
three datasets a level belongs to is :meth:`EidolonProbe.dataset_of`.

The default levels are the eidolon I series, ``1-10-10`` … ``128-10-10``. Full
coherence is the probe's local-versus-global dial: coarse layers drag the fine ones with
them, so local structure (edges, texture, parts) moves together while the image's
arrangement is bent at the scale of the reach; at lower coherence the fine layers come
apart from the coarse ones, and local structure is destroyed along with global. The
eight reaches are the conditions the humans saw, so the curve can be set beside theirs.

The probe is random: each item draws a 63-bit seed from its own generator and records
it, and :func:`eidolon` with that seed makes the same image again.

>>> image = np.full((32, 32, 3), 128, np.uint8)
>>> out, record = eidolon(image, reach=8, coherence=1.0, grain=10, seed=3)
>>> out.shape, record.params()["seed"], record.params()["coherence"]
((32, 32, 3), 3, 1.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from PIL import Image
from pydantic import AfterValidator, Field

from localglobal.probes.disarray import NormalSource, partially_coherent_disarray
from localglobal.probes.psychophysics import GREY_WEIGHTS
from localglobal.probes.registry import (
    Level,
    Probe,
    ProbeParams,
    labelled_levels,
    register_probe,
)

TOOLBOX_SIDE = 256
"""The side the eidolons are made at (the wrapper's ``SZ``); the reach is in its pixels."""
"""skimage's ``rgb2gray`` weights of R, G and B, which the 2018 stimuli were made with."""
REACHES = (1, 2, 4, 8, 16, 32, 64, 128)
"""The reaches of model-vs-human's eidolon experiments, pixels."""
DATASETS = {10: "eidolonI", 3: "eidolonII", 0: "eidolonIII"}
"""model-vs-human's eidolon dataset of each coherence (in tenths), all at grain 10."""
HUMAN_GRAIN = 10
MAX_REACH, MAX_GRAIN = 128, 128
_LABEL = re.compile(r"^(\d+)-(\d+)-(\d+)$")


@dataclass(frozen=True)
class EidolonLevel:
    """One condition ``R-C-G``.

    Attributes
    ----------
    reach : int
        How far the scale layers move, pixels of the 256-pixel image (1 … 128).
    coherence_tenths : int
        The coherence across scales times 10 (0 … 10).
    grain : int
        The blur of the incoherent displacement fields, pixels (1 … 128).
    """

    reach: int
    coherence_tenths: int
    grain: int

    @property
    def coherence(self) -> float:
        """The coherence, 0.0 … 1.0."""
        return self.coherence_tenths / 10

    @property
    def label(self) -> str:
        """``"R-C-G"``, model-vs-human's condition string."""
        return f"{self.reach}-{self.coherence_tenths}-{self.grain}"

    @property
    def dataset(self) -> str | None:
        """The model-vs-human dataset whose humans saw this condition, or None."""
        if self.grain != HUMAN_GRAIN or self.reach not in REACHES:
            return None
        return DATASETS.get(self.coherence_tenths)


def parse_level(label: object) -> EidolonLevel:
    """An ``R-C-G`` label as its condition.

    Parameters
    ----------
    label : object
        The label, e.g. ``"8-10-10"``.

    Returns
    -------
    EidolonLevel

    Raises
    ------
    ValueError
        Not ``R-C-G`` in canonical form, or a number out of its range.

    >>> parse_level("8-3-10").coherence, parse_level("8-3-10").dataset
    (0.3, 'eidolonII')
    """
    match = _LABEL.match(str(label)) if isinstance(label, str) else None
    if match is None:
        raise ValueError(f"eidolon level {label!r} is not 'reach-coherence-grain' such as "
                         "'8-10-10' (reach in pixels, coherence in tenths, grain in pixels)")
    level = EidolonLevel(*(int(part) for part in match.groups()))
    if not 1 <= level.reach <= MAX_REACH:
        raise ValueError(f"eidolon level {label!r}: reach must be 1 to {MAX_REACH} pixels")
    if not 0 <= level.coherence_tenths <= 10:
        raise ValueError(f"eidolon level {label!r}: coherence must be 0 to 10 (tenths)")
    if not 1 <= level.grain <= MAX_GRAIN:
        raise ValueError(f"eidolon level {label!r}: grain must be 1 to {MAX_GRAIN} pixels")
    if level.label != label:
        raise ValueError(f"eidolon level {label!r}: write it {level.label!r}")
    return level


@dataclass(frozen=True)
class EidolonRecord:
    """What an eidolon was made with: enough to make it again.

    Attributes
    ----------
    reach, coherence, grain
        The condition (pixels, 0–1, pixels).
    seed : int
        The seed of the generator its noise was drawn from.
    side : int
        The side it was made at, pixels.
    """

    reach: int
    coherence: float
    grain: int
    seed: int
    side: int = TOOLBOX_SIDE

    def params(self) -> dict[str, Any]:
        """The record as ``perturbations.parquet`` stores it."""
        return {"reach": self.reach, "coherence": self.coherence, "grain": self.grain,
                "seed": self.seed, "side": self.side, "grey": "rgb2gray"}


def to_grey(image: np.ndarray) -> np.ndarray:
    """``rgb2gray`` on [0, 1], times 255, truncated: the 2018 stimuli's grey, H×W uint8."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.uint8)
    return ((image[..., :3] / 255.0) @ np.asarray(GREY_WEIGHTS) * 255.0).astype(np.uint8)


def toolbox_size(height: int, width: int, side: int = TOOLBOX_SIDE) -> tuple[int, int]:
    """The (height, width) the toolbox resizes an image to: the longer side ``side``,
    the other rounded half up (the toolbox ran on Python 2)."""
    aspect = height / width
    if aspect <= 1:
        return math.floor(aspect * side + 0.5), side
    return side, math.floor(side / aspect + 0.5)


def _resize(grey: np.ndarray, height: int, width: int) -> np.ndarray:
    if grey.shape == (height, width):
        return grey
    return np.asarray(Image.fromarray(grey, "L").resize((width, height),
                                                        Image.Resampling.LANCZOS))


def toolbox_eidolon(image: np.ndarray, level: EidolonLevel, rng: NormalSource,
                    side: int = TOOLBOX_SIDE) -> np.ndarray:
    """The grey eidolon at the toolbox's size, as the 2018 wrapper returns it.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB (or H×W grey).
    level : EidolonLevel
        The condition.
    rng : numpy.random.Generator or numpy.random.RandomState
        The noise's source.
    side : int
        The toolbox's side.

    Returns
    -------
    numpy.ndarray
        uint8, its longer side ``side``.
    """
    grey = to_grey(image)
    grey = _resize(grey, *toolbox_size(*grey.shape, side))
    return partially_coherent_disarray(grey, float(level.reach), level.coherence,
                                       float(level.grain), rng, side=side)


def eidolon(image: np.ndarray, reach: int, coherence: float, grain: int, seed: int,
            side: int = TOOLBOX_SIDE) -> tuple[np.ndarray, EidolonRecord]:
    """An eidolon of ``image``, grey, at the image's own size.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB, in the model-input frame.
    reach : int
        Pixels of the ``side``-pixel image, 1 … 128.
    coherence : float
        0.0 … 1.0, in steps of 0.1.
    grain : int
        Pixels, 1 … 128.
    seed : int
        Seeds the noise (a :class:`numpy.random.Generator`).
    side : int
        The side the eidolon is made at (256, as for the human stimuli).

    Returns
    -------
    (numpy.ndarray, EidolonRecord)
        H×W×3 uint8 (three equal channels) and the record.
    """
    level = parse_level(f"{int(reach)}-{round(coherence * 10)}-{int(grain)}")
    if (level.reach, level.grain) != (reach, grain) or abs(level.coherence - coherence) > 1e-9:
        raise ValueError(f"reach {reach} and grain {grain} must be whole pixels and "
                         f"coherence {coherence} a multiple of 0.1")
    image = np.asarray(image)
    made = toolbox_eidolon(image, level, np.random.default_rng(seed), side)
    grey = _resize(made, image.shape[0], image.shape[1])
    out = np.repeat(grey[..., None], 3, axis=2)
    return out, EidolonRecord(level.reach, level.coherence, level.grain, int(seed), side)


def _checked_label(label: str) -> str:
    parse_level(label)
    return label


EIDOLON_I = [f"{reach}-10-{HUMAN_GRAIN}" for reach in REACHES]
"""The default levels: model-vs-human's eidolon I conditions."""


class EidolonParams(ProbeParams):
    """``[probes.eidolon]``: the conditions, and how many eidolons each."""

    levels: list[Annotated[str, AfterValidator(_checked_label)]] = Field(
        default_factory=lambda: list(EIDOLON_I), min_length=1,
        description="conditions 'reach-coherence-grain' (e.g. '8-10-10'); default the "
                    "eidolon I series, reaches 1 to 128 at coherence 1.0, grain 10")
    variants: int = Field(1, ge=1, description="eidolons per image and level, each with "
                          "its own seed")


@register_probe
class EidolonProbe(Probe):
    """Partially coherent disarray (Koenderink et al. 2017) as Geirhos et al. 2018 used it."""

    name = "eidolon"
    title = "Eidolons"
    description = ("The image, made grey, is taken apart into difference-of-Gaussians "
                   "layers at twelve scales; each layer is displaced by a smooth random "
                   "field of the given reach, coherent across scales to the given degree, "
                   "and the layers are added up again (the eidolons of model-vs-human's "
                   "eidolon I, II and III experiments).")
    axis_label = "reach-coherence-grain"
    keeps = ("the grey levels and, at full coherence, local structure (edges, texture, "
             "parts), which moves as a piece")
    destroys = ("colour, and the arrangement at the scale of the reach: contours and "
                "global shape are bent; at low coherence local structure too")
    dataset = DATASETS[10]
    """The dataset of the default levels; :meth:`dataset_of` gives each level's."""
    Params = EidolonParams
    params: EidolonParams

    def __init__(self, params: EidolonParams | None = None, crop: int = 224) -> None:
        super().__init__(params, crop)
        found = {parse_level(label).dataset for label in self.params.levels}
        # One dataset for the whole configured series, else the levels' own (dataset_of).
        self.dataset = found.pop() if len(found) == 1 else None  # type: ignore[misc]

    def condition(self, level: Level) -> EidolonLevel:
        """The reach, coherence and grain of ``level``."""
        return parse_level(level.label)

    def dataset_of(self, level: Level) -> str | None:
        """The model-vs-human dataset whose humans saw ``level``: ``eidolonI`` (coherence
        1.0), ``eidolonII`` (0.3) or ``eidolonIII`` (0.0), at reaches 1 … 128 and grain 10;
        None for any other condition."""
        return self.condition(level).dataset

    def levels(self) -> list[Level]:
        return labelled_levels(self.params.levels)

    def strongest(self) -> Level:
        """The largest reach; among equal reaches the least coherence, then the finest
        grain."""
        def strength(level: Level) -> tuple[int, int, int]:
            c = self.condition(level)
            return c.reach, -c.coherence_tenths, -c.grain
        return max(self.levels(), key=strength)

    def strength_text(self, level: Level) -> str:
        c = self.condition(level)
        return (f"reach {c.reach} px at coherence {c.coherence:.1f}, grain {c.grain} "
                "(the largest reach)")

    def tile(self, level: Level, variants: Sequence[str], record: Mapping[str, Any]
             ) -> tuple[str, str]:
        return str(variants[0]), f"eidolon {level.label}"

    def apply(self, image: np.ndarray, level: Level, rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, Any]]:
        c = self.condition(level)
        seed = int(rng.integers(0, 2 ** 63))
        out, record = eidolon(image, c.reach, c.coherence, c.grain, seed)
        return out, record.params()


__all__ = ["DATASETS", "EIDOLON_I", "REACHES", "TOOLBOX_SIDE", "EidolonLevel", "EidolonParams",
           "EidolonProbe", "EidolonRecord", "eidolon", "parse_level", "to_grey",
           "toolbox_eidolon", "toolbox_size"]
