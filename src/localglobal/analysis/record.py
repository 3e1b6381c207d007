"""The analysis's account of itself: sections done or skipped, figures drawn or skipped.

It goes into the ``details`` of ``analyze-report.json``, which the report reads to
place each figure in its section and to say why a section or figure is absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AnalysisRecord:
    """What the analyze stage did, section by section and figure by figure.

    Attributes
    ----------
    sections : dict
        Section name → ``{"status": "done" | "skipped", "reason", …counts}``.
    figures : list of dict
        Figures drawn: ``name, section, title, caption, png[, pdf]`` (paths relative to
        the run directory).
    figures_skipped : list of dict
        Figures not drawn: ``name, section, title, reason``.
    notes : list of str
        What was changed or left out of the inputs, in words.
    """

    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: list[dict[str, Any]] = field(default_factory=list)
    figures_skipped: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def section(self, name: str, status: str, reason: str = "", **extra: Any) -> None:
        """Record section ``name`` as ``done`` or ``skipped`` (with the reason)."""
        self.sections[name] = {"status": status, "reason": reason, **extra}

    def skipped(self, name: str, section: str, title: str, reason: str) -> None:
        """Record a figure that was not drawn, and why."""
        self.figures_skipped.append({"name": name, "section": section, "title": title,
                                     "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON-ready data."""
        return {"sections": self.sections, "figures": self.figures,
                "figures_skipped": self.figures_skipped, "notes": self.notes}
