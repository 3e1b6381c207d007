"""Where each stage of a run stands: up to date, or not and why.

A stage is up to date when it finished (``done``) with the same hash — its
parameters, its version and the runs of the stages it reads — and every output it
wrote still exists with the digest recorded in the manifest. Reading where a run
stands needs neither the stages' bodies nor their libraries: ``localglobal stages``
is quick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from localglobal.errors import LocalglobalError
from localglobal.io.atomic import read_table
from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.fingerprint import FileEntries, output_digest, params_hash
from localglobal.pipeline.lock import holds_lock, is_locked
from localglobal.pipeline.manifest import Manifest
from localglobal.pipeline.rundir import RunDir
from localglobal.pipeline.stage import StageRegistry

DIGESTS_FOLDER = ".digests"
"""Per-file digests of each output folder, ``<artifact>.parquet``, recorded at write time."""


@dataclass(frozen=True)
class StageState:
    """Where a stage stands: ``done``, ``out of date``, ``failed``, ``running`` or ``not run``."""

    name: str
    status: str
    reason: str
    record: dict[str, Any]

    @property
    def up_to_date(self) -> bool:
        return self.status == "done"


class RunState:
    """Where the stages of a registry stand on one run directory.

    Parameters
    ----------
    run : RunDir
        The run directory.
    config : object
        Its configuration, as the stages' ``params`` take it.
    registry : StageRegistry, optional
        The stages; the run directory's registry by default.
    """

    def __init__(self, run: RunDir, config: Any, registry: StageRegistry | None = None):
        self.run = run
        self.config = config
        self.registry = registry if registry is not None else run.registry

    def stage_hash(self, name: str, manifest: Manifest) -> tuple[str, dict[str, Any]]:
        """The stage's hash and its parts (the parameters' hash, the upstream run ids)."""
        declared = self.registry[name]
        parts = {
            "version": declared.version,
            "params": params_hash(declared.params(self.config)),
            "upstream": {dep: manifest.stage(dep).get("run_id")
                         for dep in self.registry.upstream(name)},
        }
        return params_hash(parts), parts

    def state(self, name: str, manifest: Manifest | None = None) -> StageState:
        """Whether stage ``name`` is up to date, and if not, why."""
        manifest = manifest or Manifest(self.run.root)
        record = manifest.stage(name)
        status = record.get("status")
        if not record:
            return StageState(name, "not run", "never run", record)
        if status == "running":
            # This process's own lock is no other command running the stage.
            running = is_locked(self.run.root) and not holds_lock(self.run)
            reason = "running now" if running else "interrupted; run it again"
            return StageState(name, "running" if "now" in reason else "out of date", reason,
                              record)
        if status == "failed":
            return StageState(name, "failed", (record.get("error") or "").split("\n")[0],
                              record)
        digest, parts = self.stage_hash(name, manifest)
        if record.get("hash") != digest:
            return StageState(name, "out of date", self._why_changed(record, parts), record)
        problem = self._output_problem(name, record)
        if problem:
            return StageState(name, "out of date", problem, record)
        return StageState(name, "done", "", record)

    def _why_changed(self, record: dict[str, Any], parts: dict[str, Any]) -> str:
        old = record.get("parts", {})
        if old.get("version") != parts["version"]:
            return "the stage's code changed (new version)"
        if old.get("params") != parts["params"]:
            return "its parameters changed"
        changed = [dep for dep, run_id in parts["upstream"].items()
                   if old.get("upstream", {}).get(dep) != run_id]
        return f"{', '.join(changed) or 'an upstream stage'} ran again since"

    def _folder_changed(self, name: str, record: dict[str, Any]) -> bool:
        """Whether a folder a finished stage wrote no longer matches its digest."""
        if record.get("status") != "done":
            return False
        recorded = record.get("outputs", {})
        return any(artifact.kind == "folder" and artifact.name in recorded
                   and self.digest(artifact) != recorded[artifact.name]
                   for artifact in self.registry.catalog.of_stage(name))

    def entries_path(self, artifact: Artifact) -> Any:
        """Where the per-file digests of output folder ``artifact`` are kept."""
        return self.run.path(DIGESTS_FOLDER, f"{artifact.name}.parquet")

    def _known_entries(self, artifact: Artifact) -> FileEntries | None:
        """The per-file digests recorded when a folder was written (None: none usable)."""
        path = self.entries_path(artifact)
        if not path.is_file() or path.is_symlink():
            return None
        try:
            table = read_table(path)
            return {str(r.path): (int(r.size), int(r.mtime_ns), str(r.digest))
                    for r in table.itertuples(index=False)}
        except (LocalglobalError, AttributeError, ValueError):
            return None  # then every file is read again

    def digest(self, artifact: Artifact) -> dict[str, Any] | None:
        """An output's digest now; a folder's files unchanged since written are not read."""
        known = self._known_entries(artifact) if artifact.kind == "folder" else None
        return output_digest(self.run.path(artifact.path), known)

    def _output_problem(self, name: str, record: dict[str, Any]) -> str:
        recorded = record.get("outputs", {})
        for artifact in self.registry.catalog.of_stage(name):
            expected = recorded.get(artifact.name)
            if expected is None:
                if artifact.always:
                    return f"output {artifact.path} was never recorded"
                continue
            actual = self.digest(artifact)
            if actual is None:
                return f"output {artifact.path} is missing"
            if actual != expected:
                return f"output {artifact.path} changed since it was written"
        return ""

    def states(self) -> list[StageState]:
        """Every stage's state, in pipeline order."""
        manifest = Manifest(self.run.root)
        return [self.state(name, manifest) for name in self.registry.order()]
