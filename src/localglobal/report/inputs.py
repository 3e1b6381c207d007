"""What the report is made from: the run's tables as far as they exist, and why the rest
do not.

The report stage reads the artifacts and fills :class:`ReportInputs`; the sections
take what they need from it and, for an absent input, say which file is missing and
which stage writes it (and, from the manifest, whether that stage failed or never ran).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from localglobal.config import RunConfig


@dataclass
class ReportInputs:
    """The run as the report sees it.

    Attributes
    ----------
    root : Path
        The run directory (figure paths are relative to it).
    config : RunConfig
        The run's configuration.
    config_text : str
        Its ``config.toml`` as written.
    tables : dict
        Artifact name → table, None when absent or unreadable.
    sources : dict
        Artifact name → (file in the run directory, the stage that writes it).
    manifest : dict
        ``manifest.json`` (empty when there is none).
    analysis : dict or None
        The analyze stage's record (``details`` of ``analyze-report.json``).
    errors : list of str
        Inputs that exist but could not be read, and why.
    """

    root: Path
    config: RunConfig
    config_text: str = ""
    tables: dict[str, pd.DataFrame | None] = field(default_factory=dict)
    sources: dict[str, tuple[str, str]] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)

    def table(self, name: str) -> pd.DataFrame | None:
        """Artifact ``name``'s table, or None."""
        return self.tables.get(name)

    def stage_state(self, stage: str) -> str:
        """Why a stage's outputs may be absent, from the manifest."""
        record = self.manifest.get("stages", {}).get(stage)
        command = f"`localglobal {stage} --run {self.root}`"
        if not record:
            return f"the {stage} stage has not run ({command})"
        status = record.get("status")
        if status == "failed":
            return f"the {stage} stage failed: {record.get('error') or 'no message'}"
        if status == "running":
            return f"the {stage} stage did not finish ({command})"
        return f"the {stage} stage reported {status or 'no status'}"

    def missing(self, name: str) -> str:
        """``<file> is missing: <why>`` for artifact ``name``."""
        path, stage = self.sources.get(name, (name, "unknown"))
        return f"{path} is missing: {self.stage_state(stage)}"

    def analysis_reason(self) -> str:
        """Why the analysis's record is absent ("" when it is there)."""
        return "" if self.analysis is not None else self.missing("analyze_report")

    def figures(self, section: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The embedded figures of ``section`` and the reasons for those not drawn."""
        if self.analysis is None:
            return [], []
        shown, skipped = [], []
        for entry in self.analysis.get("figures", []):
            if entry.get("section") != section or "png" not in entry:
                continue
            path = self.root / entry["png"]
            title = entry.get("title", entry["name"])
            if not path.exists():
                skipped.append({"title": title,
                                "reason": f"{entry['png']} is missing; re-run the analyze stage"})
                continue
            shown.append({"title": title, "caption": entry.get("caption", ""),
                          "src": embed_png(path), "pdf": entry.get("pdf", "")})
        for entry in self.analysis.get("figures_skipped", []):
            if entry.get("section") == section:
                skipped.append({"title": entry.get("title", entry["name"]),
                                "reason": entry.get("reason", "")})
        return shown, skipped


def embed_png(path: Path) -> str:
    """A PNG file as a ``data:`` URI, so that the page needs no other file."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"
