"""What a stage would do, before it does anything: ``localglobal run CONFIG --dry-run``.

Every stage declares an ``estimate(config, earlier)`` that returns its
:class:`Estimate` (items, disk, time on this machine); :func:`estimate_stages` asks
each stage in pipeline order, handing it the estimates of the stages before it, and
:func:`format_estimates` prints them as a table with totals. Nothing is written.

>>> print(format_estimates([Estimate("index", 120, 24_000, 3.5)]))
stage             items       disk       time  note
index               120    24.0 kB      3.5 s
total                      24.0 kB      3.5 s
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Estimate:
    """One stage's estimate.

    Attributes
    ----------
    stage : str
        The stage.
    items : int, optional
        Items, as the stage's report will count them (None: unknown).
    bytes : int, optional
        Bytes written to the run directory (None: unknown).
    seconds : float, optional
        Time on this machine (None: unknown).
    note : str
        What the numbers leave out or assume.
    """

    stage: str
    items: int | None
    bytes: int | None
    seconds: float | None
    note: str = ""

    @classmethod
    def per_model(cls, stage: str, items: int, seconds_per_item: Sequence[float | None],
                  row_bytes: int, extra_bytes: int = 0) -> Estimate:
        """A model stage: ``items`` for each model, one row of ``row_bytes`` per item.

        ``seconds_per_item`` holds each model's time per item (None: the model did not
        load, and the time is unknown).
        """
        total = items * len(seconds_per_item)
        known = None not in seconds_per_item
        seconds = sum(s * items for s in seconds_per_item if s is not None) if known else None
        return cls(stage, total, total * row_bytes + extra_bytes, seconds,
                   "" if known else "a model did not load: time unknown")


def estimate_stages(order: Iterable[str],
                    estimators: Callable[[str], Callable[[Any, dict[str, Estimate]],
                                                         Estimate | None] | None],
                    config: Any) -> list[Estimate]:
    """Every stage's estimate, in ``order``; a stage without an estimator is left out.

    Parameters
    ----------
    order : iterable of str
        The stages, in pipeline order.
    estimators : callable
        ``estimators(name)``: the stage's estimate function, or None.
    config : object
        The run's configuration, handed to every estimate.
    """
    earlier: dict[str, Estimate] = {}
    for name in order:
        estimate = estimators(name)
        found = estimate(config, earlier) if estimate is not None else None
        if found is not None:
            earlier[name] = found
    return list(earlier.values())


def format_estimates(estimates: list[Estimate]) -> str:
    """The estimates as a table, with totals."""
    lines = [f"{'stage':<12} {'items':>10} {'disk':>10} {'time':>10}  note"]
    for s in estimates:
        lines.append(f"{s.stage:<12} {_count(s.items):>10} {_size(s.bytes):>10} "
                     f"{_duration(s.seconds):>10}  {s.note}".rstrip())
    disk = sum(s.bytes or 0 for s in estimates)
    seconds = sum(s.seconds or 0 for s in estimates)
    lines.append(f"{'total':<12} {'':>10} {_size(disk):>10} {_duration(seconds):>10}")
    return "\n".join(lines)


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"
