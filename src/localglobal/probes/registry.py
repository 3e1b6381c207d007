"""The probe registry: a probe is declared once, in one module, and found by name.

A probe is a subclass of :class:`Probe` decorated with :func:`register_probe`. It
declares

- its ``name`` (the ``probe`` column of every table, the key ``[probes.NAME]``);
- its parameters, a pydantic model (:class:`ProbeParams`), validated from the run's
  ``[probes.NAME]`` section;
- its levels (:meth:`Probe.levels`), each a :class:`Level` with the label shown in
  tables, figures and configurations, and which of them is the strongest;
- the items it makes per image and level (:meth:`Probe.variants`);
- a numpy function (:meth:`Probe.apply`): H×W×3 uint8 image, level, seeded generator →
  (image, record);
- optionally a batched torch function (:meth:`Probe.build`) that makes its items on
  the model's device from the original and each item's record, so that its images
  need not be stored;
- whether it works on the full-resolution image (:attr:`Probe.full_resolution`);
- a sentence for the report, the label of its curve's axis, what it keeps and what
  it destroys.

Everything downstream (the plan, perturb, on-the-fly evaluate and attribute,
``--dry-run``, contact sheets, the level curve, the report section, the accuracy
table, hypotheses, :func:`localglobal.probe`) reads the declarations through
:mod:`localglobal.probes.catalog`, so a new probe is one file.

>>> from localglobal.probes.catalog import get_probe
>>> probe = get_probe("contrast")
>>> [level.label for level in probe.levels()][:3], probe.strongest().label
(['c100', 'c50', 'c30'], 'c01')
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from localglobal.errors import BadInputError, ConfigError
from localglobal.probes.seeds import image_seed

if TYPE_CHECKING:  # torch is imported only by the stages that build probes on a device
    import torch

LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$")
"""What a level label may look like: it becomes part of item ids and file names."""


class ProbeParams(BaseModel):
    """The base of every probe's configuration section ``[probes.NAME]``.

    Unknown keys are errors, so a misspelt parameter is caught before anything runs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, order=True)
class Level:
    """One level (condition) of a probe.

    Attributes
    ----------
    code : int
        The ``level`` column of the tables: the level itself for the thesis's probes
        (block side, patch side, smoothing passes), the position in the probe's list
        of conditions otherwise.
    label : str
        The ``condition`` column, and how configurations, figures and the report name
        the level: ``"28"``, ``"c50"``, ``"8-10-10"``.
    """

    code: int
    label: str

    def __str__(self) -> str:
        return self.label


def level_label(value: object) -> str:
    """A configured level (number or text) as its label: ``3.0 -> "3.0"``, ``28 -> "28"``.

    Raises
    ------
    ValueError
        The label could not be part of a file name (see :data:`LABEL_PATTERN`).
    """
    label = str(value)
    if not LABEL_PATTERN.match(label):
        raise ValueError(f"level {value!r} is not a usable label (letters, digits, '.', '_', "
                         "'+', '-'; at most 32 characters)")
    return label


def labelled_levels(labels: Sequence[object]) -> list[Level]:
    """Levels from configured labels: integer labels keep their value as code, others
    their position.

    >>> [(level.code, level.label) for level in labelled_levels([28, 56])]
    [(28, '28'), (56, '56')]
    >>> [(level.code, level.label) for level in labelled_levels(["c100", "c50"])]
    [(0, 'c100'), (1, 'c50')]
    """
    texts = [level_label(v) for v in labels]
    if len(set(texts)) != len(texts):
        raise ValueError(f"levels repeat: {texts}")
    numeric = all(re.fullmatch(r"-?\d+", t) for t in texts)
    return [Level(int(t) if numeric else k, t) for k, t in enumerate(texts)]


@dataclass
class ImageContext:
    """One source image as the probes see it while making its items.

    Attributes
    ----------
    full : numpy.ndarray
        The full-resolution image, H×W×3 uint8 RGB.
    frame : numpy.ndarray
        The image in the model-input frame, crop×crop×3 uint8.
    image_id : str
        The image's id (seeds every random probe).
    run_seed : int
        The run's seed.
    to_frame : callable
        Takes a full-resolution image into the model-input frame.
    shared : dict
        What one probe computes and a companion reuses (smoothing passes).
    """

    full: np.ndarray
    frame: np.ndarray
    image_id: str
    run_seed: int
    to_frame: Callable[[np.ndarray], np.ndarray]
    shared: dict[str, Any] = field(default_factory=dict)

    def rng(self, probe: str, level: Level, variant: str) -> np.random.Generator:
        """The generator of one item: seeded by run seed, image, probe, level and variant,
        so an image's items do not depend on what else is in the run."""
        return np.random.default_rng(image_seed(self.run_seed, self.image_id, probe,
                                                level.label, variant))


@dataclass(frozen=True)
class Item:
    """One probe image of one source image, without its pixels.

    Attributes
    ----------
    probe : str
        The probe's name.
    level : Level
        Its level.
    variant : str
        Which of the level's items (``"0"`` when there is one).
    params : dict
        What the probe did (JSON-able), as ``perturbations.parquet`` stores it.
    """

    probe: str
    level: Level
    variant: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def params_json(self) -> str:
        """:attr:`params` as the table stores them (compact JSON, the record's key order)."""
        return json.dumps(self.params, separators=(",", ":"))

    def item_id(self, image_id: str) -> str:
        """``<image_id>/<probe>/<level label>/<variant>``, the item's id in every table."""
        return f"{image_id}/{self.probe}/{self.level.label}/{self.variant}"

    def path(self, wnid: str, image_id: str) -> str:
        """Where the PNG goes, relative to the run directory."""
        return (f"perturbations/{self.probe}/{wnid}/"
                f"{image_id}_{self.level.label}_{self.variant}.png")


class Probe(ABC):
    """The declaration of a probe; subclass it and decorate with :func:`register_probe`.

    An instance holds the probe's settled parameters and the model-input side
    (``crop``). Override :meth:`apply` (and :meth:`levels` when the levels are not a
    ``levels`` parameter); the rest has defaults that fit most probes.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    """The heading of the probe's report section and figure (default: its name)."""
    section: ClassVar[str] = ""
    """The report section the probe belongs to (default: its name); probes that share a
    section share its figure and tables (the removed detail and its inversion)."""
    description: ClassVar[str] = ""
    """One or two sentences for the report: what the probe does to an image."""
    axis_label: ClassVar[str] = "level"
    """The x-axis label of the probe's curve."""
    keeps: ClassVar[str] = ""
    destroys: ClassVar[str] = ""
    Params: ClassVar[type[ProbeParams]] = ProbeParams
    full_resolution: ClassVar[bool] = False
    """True: :meth:`items` works on the full-resolution image, then frames the result."""
    strongest_first: ClassVar[bool] = False
    """True when the first listed level is the strongest (scramble: the smallest block)."""
    selectable: ClassVar[bool] = True
    """False for companions made by another probe (removed detail, made by smooth)."""
    levels_key: ClassVar[str | None] = "levels"
    """The parameter that lists the levels (``blocks`` for scramble), so that a level
    outside the defaults can be asked for; None when the levels are not a list."""
    dataset: ClassVar[str | None] = None
    """The model-vs-human dataset whose humans saw the same conditions, if any."""

    def __init__(self, params: ProbeParams | None = None, crop: int = 224) -> None:
        self.params = params if params is not None else self.Params()
        self.crop = int(crop)
        self.trusted = True
        """Whether code the parameters name may be loaded (:mod:`localglobal.trust`): a
        probe settled from a received configuration is not."""

    # -- presentation ------------------------------------------------------------------
    @property
    def heading(self) -> str:
        """:attr:`title`, or the name when the probe declares none."""
        return self.title or self.name

    @property
    def section_key(self) -> str:
        """:attr:`section`, or the name."""
        return self.section or self.name

    def dataset_of(self, level: Level) -> str | None:
        """The model-vs-human dataset whose humans saw ``level`` (None: none did)."""
        return self.dataset

    def group_of(self, variant: str) -> str:
        """Which group of the curve a variant belongs to (``""``: one curve).

        The patch probe draws its all-patches images and its single patches apart.
        """
        return ""

    def group_titles(self) -> dict[str, str]:
        """The curve's groups, in drawing order, with their panel titles."""
        return {"": ""}

    def curve_levels(self) -> list[Level]:
        """The levels in the order of the probe's curve, weakest first."""
        return self.levels()

    def strength_text(self, level: Level) -> str:
        """What the strongest level is, in words (the accuracy table's note)."""
        return f"{self.axis_label} {level.label} (the strongest)"

    def tile(self, level: Level, variants: Sequence[str], record: Mapping[str, Any]
             ) -> tuple[str, str]:
        """Which variant of ``level`` a contact sheet shows, and its label.

        Parameters
        ----------
        level : Level
            The level.
        variants : sequence of str
            The variants the run holds at that level.
        record : mapping
            The params of the level's first item.

        Returns
        -------
        (str, str)
            The variant and the tile's label.
        """
        return str(variants[0]), f"{self.name} {level.label}"

    def strongest_variants(self, variants: Sequence[str]) -> list[str]:
        """The variants the accuracy at the strongest level counts (default: all)."""
        return list(variants)

    # -- levels and items -------------------------------------------------------------
    def levels(self) -> list[Level]:
        """The levels this probe makes, in the order of its curve (weakest first)."""
        return labelled_levels(getattr(self.params, "levels", [0]))

    def strongest(self) -> Level:
        """The level that removes most of what the probe removes."""
        levels = self.levels()
        return levels[0] if self.strongest_first else levels[-1]

    def level(self, label: object) -> Level:
        """The level named ``label`` (its label or its code).

        Raises
        ------
        KeyError
            No such level; the message lists the probe's levels.
        """
        text = level_label(label)
        for level in self.levels():
            if text in (level.label, str(level.code)):
                return level
        raise KeyError(f"probe {self.name} has no level {label!r}; its levels are "
                       f"{[lv.label for lv in self.levels()]}")

    def variants(self, level: Level) -> list[str]:
        """The variants made at ``level`` (one item per variant)."""
        return [str(v) for v in range(int(getattr(self.params, "variants", 1)))]

    def items_per_image(self) -> int:
        """How many table rows one source image gets from this probe."""
        return sum(len(self.variants(level)) for level in self.levels())

    @abstractmethod
    def apply(self, image: np.ndarray, level: Level, rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """One item: ``image`` (H×W×3 uint8 RGB) at ``level``, and its record.

        Parameters
        ----------
        image : numpy.ndarray
            H×W×3 uint8 RGB, in the model-input frame (or at full resolution when
            :attr:`full_resolution`).
        level : Level
            The level.
        rng : numpy.random.Generator
            The item's own seeded generator; deterministic probes ignore it.

        Returns
        -------
        (numpy.ndarray, dict)
            The probe image, H×W×3 uint8, and what was done (JSON-able).
        """

    def items(self, context: ImageContext) -> Iterator[tuple[Item, np.ndarray]]:
        """Every item of one source image, each with its crop×crop×3 uint8 image."""
        source = context.full if self.full_resolution else context.frame
        for level in self.levels():
            for variant in self.variants(level):
                image, record = self.apply(source, level, context.rng(self.name, level,
                                                                      variant))
                if self.full_resolution:
                    image = context.to_frame(image)
                yield Item(self.name, level, variant, record), image

    # -- checks and keys ---------------------------------------------------------------
    def check(self, validate: bool = True) -> None:
        """Refuse parameters that cannot give valid items on the crop.

        Parameters
        ----------
        validate : bool
            Also run costly checks (a user's TorchScript model on a dummy image).

        Raises
        ------
        ConfigError
            Naming the key (``probes.NAME.KEY``).
        """
        try:
            self.levels()
        except ValueError as error:
            raise ConfigError(f"probes.{self.name}.levels: {error}") from None

    def companions(self) -> list[str]:
        """Probes whose items this probe makes too (smooth makes the removed detail)."""
        return []

    def code_paths(self) -> list[tuple[str, str]]:
        """``(key, reference)`` of every piece of code the parameters name (a TorchScript
        file, a plugin's function): loaded only from a trusted configuration."""
        return []

    def key(self) -> dict[str, Any]:
        """The parameters as JSON-able data (part of the stage's shard key)."""
        return self.params.model_dump(mode="json")

    # -- on the fly --------------------------------------------------------------------
    @property
    def on_the_fly(self) -> bool:
        """Whether the model stages can build this probe's items from their records."""
        return type(self).build is not Probe.build

    def build(self, originals: torch.Tensor, records: Sequence[Mapping[str, Any]]
              ) -> torch.Tensor:
        """Items made on the originals' device, bit-for-bit or within one grey level of
        :meth:`apply`.

        Parameters
        ----------
        originals : torch.Tensor
            N×3×S×S, uint8 (or float in 0–255), one original per item.
        records : sequence of dict
            Each item's record (``params``), checked by :meth:`validate`; it holds
            everything the item needs (a random probe records its seed).

        Returns
        -------
        torch.Tensor
            N×3×S×S, the dtype and device of ``originals``.
        """
        raise BadInputError(f"probe {self.name} cannot be built on the fly; store it")

    def validate(self, record: Mapping[str, Any], level: Level | None, side: int) -> None:
        """Refuse a record that :meth:`build` must not trust (a tampered table row).

        Parameters
        ----------
        record : mapping
            The row's ``params``.
        level : Level or None
            The row's level, which the record must match (None: not compared).
        side : int
            The frame's side, pixels.

        Raises
        ------
        BadInputError
            Naming what is wrong.
        """
        if not isinstance(record, Mapping):
            raise BadInputError(f"{self.name} params must be a JSON object, got "
                                f"{type(record).__name__}")


PROBES: dict[str, type[Probe]] = {}
"""Every registered probe class by name, in registration order."""


def register_probe(cls: type[Probe]) -> type[Probe]:
    """Class decorator: add a probe to :data:`PROBES` under its ``name``.

    Raises
    ------
    ValueError
        No name, a name that is not a usable label, or one already registered.
    """
    if not cls.name or not LABEL_PATTERN.match(cls.name) or "_" in cls.name[:1]:
        raise ValueError(f"probe class {cls.__name__} needs a name of letters, digits, "
                         f"'-' and '_', got {cls.name!r}")
    if cls.name in PROBES and PROBES[cls.name] is not cls:
        raise ValueError(f"a probe named {cls.name!r} is registered already")
    PROBES[cls.name] = cls
    return cls


def settle_params(cls: type[Probe], section: Mapping[str, Any] | None) -> ProbeParams:
    """Validate a ``[probes.NAME]`` section against the probe's parameters.

    Raises
    ------
    ConfigError
        One line naming the key and the problem (``probes.scramble.blocks.0: …``).
    """
    try:
        return cls.Params.model_validate(dict(section or {}))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in ("probes", cls.name, *first["loc"]))
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"{where}: {message}") from None
