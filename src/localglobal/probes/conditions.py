"""Probes whose levels are model-vs-human's condition strings (``c50``, ``3.0``, ``pow``).

Geirhos et al.'s parametric manipulations share one shape, held here: a level is a
condition string, which stands for one value of the manipulation (``c50`` is 50 %
contrast); the item's record holds that value (and, for a random probe, its seed), so
that the record alone rebuilds the image; and the same record drives the numpy
function that makes stored images (:meth:`ConditionProbe.render`) and the batched
torch function that makes them on the model's device (:meth:`Probe.build`).

A probe of this kind declares its default conditions, how a condition string reads
as a value (``parse``), the record key of that value, how strong a value is, and the
two functions.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from localglobal.errors import BadInputError, ConfigError
from localglobal.probes.registry import (
    Level,
    Probe,
    ProbeParams,
    labelled_levels,
    level_label,
)

SEED_BOUND = 2**32
"""Seeds of random probes are drawn in [0, 2³²): exact in JSON and in every reader."""


class ConditionParams(ProbeParams):
    """``[probes.NAME]`` of a condition probe: its ``levels``, as condition strings.

    Numbers are read as their text (``3.0`` is the condition ``"3.0"``); each level
    must be a condition the probe knows (``parse``), so a typing error is caught when
    the configuration is read.
    """

    levels: list[str]
    parse: ClassVar[Callable[[str], Any]] = staticmethod(str)

    @field_validator("levels", mode="before")
    @classmethod
    def _conditions(cls, value: Any) -> list[str]:
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("give a non-empty list of conditions")
        labels = [level_label(v) for v in value]
        values = [cls.parse(label) for label in labels]
        labelled_levels(labels)  # no repeated label
        for k, v in enumerate(values):
            if v in values[:k]:
                raise ValueError(f"levels repeat a condition: {labels[values.index(v)]!r} "
                                 f"and {labels[k]!r}")
        return labels


class RandomConditionParams(ConditionParams):
    """The section of a random condition probe: its ``levels`` and ``variants``, the
    noise draws per image and level, each with its own recorded seed."""

    variants: int = Field(1, ge=1, le=100, description="noise draws per image and level "
                          "(each its own seed): more give a steadier per-image mean")


class ConditionProbe(Probe):
    """A probe whose levels are condition strings standing for one value each.

    Subclasses set ``Params`` (a :class:`ConditionParams` with its ``parse`` and
    default levels), ``record_key``, and define :meth:`strength`, :meth:`render`
    and :meth:`build`; a random probe also sets ``random = True`` (its record gets a
    ``seed`` drawn from the item's generator).
    """

    Params: ClassVar[type[ConditionParams]] = ConditionParams
    params: ConditionParams
    record_key: ClassVar[str] = "value"
    """The record key holding the condition's value."""
    random: ClassVar[bool] = False

    # -- levels -----------------------------------------------------------------------
    @classmethod
    def value(cls, label: str) -> Any:
        """The value the condition ``label`` stands for.

        Raises
        ------
        ValueError
            Not a condition of this probe.
        """
        return cls.Params.parse(str(label))

    @abstractmethod
    def strength(self, value: Any) -> float:
        """How much of the image the value takes away (larger: stronger)."""

    def levels(self) -> list[Level]:
        return labelled_levels(self.params.levels)

    def strongest(self) -> Level:
        levels = self.levels()
        return max(reversed(levels), key=lambda lv: self.strength(self.value(lv.label)))

    def curve_levels(self) -> list[Level]:
        return sorted(self.levels(), key=lambda lv: self.strength(self.value(lv.label)))

    def check(self, validate: bool = True) -> None:
        super().check(validate)
        for level in self.levels():
            try:
                self.check_value(self.value(level.label), self.crop)
            except ValueError as error:
                raise ConfigError(f"probes.{self.name}.levels: {error}") from None

    def check_value(self, value: Any, side: int) -> None:
        """Refuse a value that cannot be applied to a ``side``×``side`` frame.

        Raises
        ------
        ValueError
            Saying why.
        """

    # -- items ------------------------------------------------------------------------
    def record(self, level: Level, rng: np.random.Generator) -> dict[str, Any]:
        """The record of one item at ``level``: its value, and a seed if random."""
        record: dict[str, Any] = {self.record_key: self.value(level.label)}
        if self.random:
            record["seed"] = int(rng.integers(0, SEED_BOUND))
        return record

    @abstractmethod
    def render(self, image: np.ndarray, record: Mapping[str, Any]) -> np.ndarray:
        """The item an H×W×3 uint8 image gives under ``record``, H×W×3 uint8."""

    def apply(self, image: np.ndarray, level: Level, rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, Any]]:
        record = self.record(level, rng)
        return self.render(np.asarray(image, dtype=np.uint8), record), record

    # -- records ----------------------------------------------------------------------
    def validate(self, record: Mapping[str, Any], level: Level | None, side: int) -> None:
        super().validate(record, level, side)
        if self.record_key not in record:
            raise BadInputError(f"{self.name} params: no {self.record_key!r}")
        value = record[self.record_key]
        try:
            self.check_record(record, side)
            if level is not None and not same_value(value, self.value(level.label)):
                raise ValueError(f"{self.record_key} {value!r} is not the row's condition "
                                 f"{level.label!r}")
        except (TypeError, ValueError) as error:
            raise BadInputError(f"{self.name} params: {error}") from None
        if self.random:
            seed = record.get("seed")
            if not (is_int(seed) and 0 <= seed < SEED_BOUND):
                raise BadInputError(f"{self.name} params: seed {seed!r} is not an integer "
                                    f"in [0, 2^32)")

    def check_record(self, record: Mapping[str, Any], side: int) -> None:
        """Refuse a record whose values :meth:`build` must not use (TypeError or
        ValueError, saying why); by default its value must be one a condition gives."""
        self.check_value(record[self.record_key], side)


def is_int(value: object) -> bool:
    """An integer that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A finite int or float that is not a bool."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def same_value(a: object, b: object) -> bool:
    """Whether a record's value is a condition's: equal, or the same float to 1e-9."""
    if is_number(a) and is_number(b):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)  # type: ignore[arg-type]
    return type(a) is type(b) and a == b


def number(label: str, *, low: float = 0.0, high: float = math.inf, what: str = "value"
           ) -> float:
    """A condition string as a finite number in [low, high].

    Raises
    ------
    ValueError
        Not a number, or outside the range.
    """
    try:
        value = float(label)
    except ValueError:
        raise ValueError(f"condition {label!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"condition {label!r}: the {what} must be in [{low:g}, {high:g}]")
    return value


def choice(label: str, values: Mapping[str, Any]) -> Any:
    """The value of a condition string from a fixed set (``cr`` and ``bw``).

    Raises
    ------
    ValueError
        Not one of them; the message lists them.
    """
    if label not in values:
        raise ValueError(f"condition {label!r} is not one of {', '.join(values)}")
    return values[label]
