"""Running stages: ordering, what is up to date and why, locking, recording.

A stage is up to date when it finished (``done``) with the same hash — its
parameters, its version and the runs of the stages it reads — and every output it
wrote still exists with the digest recorded in the manifest. Otherwise it runs
again, and since a stage's hash includes its upstream stages' run ids, everything
downstream of it runs again too; the rest is skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localglobal.config import RunConfig
from localglobal.console import log
from localglobal.errors import LocalglobalError, StageError
from localglobal.io.atomic import remove_stale_temporaries
from localglobal.pipeline.context import RunOptions, StageContext
from localglobal.pipeline.fingerprint import output_digest, params_hash
from localglobal.pipeline.lock import is_locked, run_lock
from localglobal.pipeline.manifest import MANIFEST_NAME, Manifest, now
from localglobal.pipeline.rundir import CONFIG_NAME, RunDir
from localglobal.pipeline.stage import StageRegistry

_HELD: set[str] = set()


def holds_lock(run: RunDir) -> bool:
    """Whether this process holds the run's lock (:func:`holding_lock`)."""
    return str(run.root) in _HELD


@contextlib.contextmanager
def holding_lock(run: RunDir, command: str) -> Iterator[None]:
    """Hold the run's lock unless this process already does (a pipeline of stages)."""
    key = str(run.root)
    if key in _HELD:
        yield
        return
    with run_lock(run.root, command=command):
        _HELD.add(key)
        try:
            yield
        finally:
            _HELD.discard(key)


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


class Runner:
    """Runs the stages of a registry on one run directory.

    Parameters
    ----------
    run : RunDir
        The run directory.
    config : RunConfig
        Its configuration.
    registry : StageRegistry, optional
        The stages; the run directory's registry by default.
    """

    def __init__(self, run: RunDir, config: RunConfig, registry: StageRegistry | None = None):
        self.run = run
        self.config = config
        self.registry = registry if registry is not None else run.registry

    # ------------------------------------------------------------------ state

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
                   and output_digest(self.run.path(artifact.path)) != recorded[artifact.name]
                   for artifact in self.registry.catalog.of_stage(name))

    def _output_problem(self, name: str, record: dict[str, Any]) -> str:
        recorded = record.get("outputs", {})
        for artifact in self.registry.catalog.of_stage(name):
            path = self.run.path(artifact.path)
            expected = recorded.get(artifact.name)
            if expected is None:
                if artifact.always:
                    return f"output {artifact.path} was never recorded"
                continue
            actual = output_digest(path)
            if actual is None:
                return f"output {artifact.path} is missing"
            if actual != expected:
                return f"output {artifact.path} changed since it was written"
        return ""

    def states(self) -> list[StageState]:
        """Every stage's state, in pipeline order."""
        manifest = Manifest(self.run.root)
        return [self.state(name, manifest) for name in self.registry.order()]

    # ------------------------------------------------------------------ running

    def run_stage(self, name: str, options: RunOptions | None = None) -> dict[str, Any]:
        """Run stage ``name`` unless it is up to date; return its summary.

        Raises
        ------
        StageError
            An upstream stage has not finished, the stage failed, or it finished with
            failed models or items (its outputs then hold what succeeded).
        """
        options = options or RunOptions()
        declared = self.registry[name]
        with holding_lock(self.run, f"localglobal {name}"):
            self.run.refuse_links(self.paths_written(name))
            manifest = Manifest(self.run.root)
            manifest.record_run(self.config)
            state = self.state(name, manifest)
            if not options.force and self._folder_changed(name, state.record):
                # Which shard wrote a damaged file is not known: redo the stage whole.
                log(f"{name}: an output folder changed since it was written; redoing it",
                    style="dim")
                options = dataclasses.replace(options, force=True)
            if state.up_to_date and not options.force:
                log(f"{name}: up to date, skipped", style="dim")
                return dict(state.record.get("summary", {}), skipped=True)
            self._require_upstream(name, manifest)
            if state.status != "not run":
                log(f"{name}: {state.status}: {state.reason}" if not options.force
                    else f"{name}: forced", style="dim")
            self._remove_stale_temporaries(name)
            digest, parts = self.stage_hash(name, manifest)
            context = StageContext(self.run, self.config, declared, digest, options,
                                   upstream_runs=parts["upstream"])
            manifest.set_stage(name, status="running", hash=digest, parts=parts,
                               started=now(), error=None)
            return self._execute(context, manifest)

    def paths_written(self, name: str) -> list[str]:
        """Every path (relative to the run) that running stage ``name`` writes or deletes."""
        declared = self.registry[name]
        return [MANIFEST_NAME, CONFIG_NAME, ".shards", str(Path(".shards", name)),
                declared.report_name,
                *(a.path for a in self.registry.catalog.of_stage(name))]

    def _remove_stale_temporaries(self, name: str) -> None:
        """Drop the half-written files a killed run of the stage left in its outputs."""
        paths = [self.run.path(a.path) for a in self.registry.catalog.of_stage(name)]
        removed = sum(remove_stale_temporaries(p) for p in
                      [*paths, self.run.path(".shards", name)])
        if removed:
            log(f"{name}: removed {removed} half-written files of an interrupted run",
                style="dim")

    def _require_upstream(self, name: str, manifest: Manifest) -> None:
        states = [self.state(dep, manifest) for dep in self.registry.required_upstream(name)]
        stale = [s for s in states if not s.up_to_date]
        if stale:
            raise StageError(
                f"{name} needs {', '.join(s.name for s in stale)} first: "
                + "; ".join(f"{s.name} is {s.status}" + (f" ({s.reason})" if s.reason else "")
                            for s in stale)
                + "; run " + " and ".join(f"`localglobal {s.name} --run {self.run.root}`"
                                          for s in stale)
            )

    def _execute(self, context: StageContext, manifest: Manifest) -> dict[str, Any]:
        name = context.stage.name
        started = time.perf_counter()
        try:
            summary = context.finish(context.stage.body(context) or {})
        except BaseException as error:
            message = str(error) if isinstance(error, LocalglobalError) \
                else f"{type(error).__name__}: {error}"
            if isinstance(error, KeyboardInterrupt):
                message = "interrupted; finished shards are kept, run the stage again"
            manifest.set_stage(name, status="failed", error=message, finished=now(),
                               seconds=round(time.perf_counter() - started, 3),
                               traceback=None if isinstance(error, LocalglobalError)
                               else traceback.format_exc())
            if isinstance(error, LocalglobalError | KeyboardInterrupt):
                raise
            raise StageError(f"{name} failed unexpectedly: {message} (the traceback is in "
                             f"{manifest.path}; please report it)") from error
        outputs = self._record_outputs(name)
        failed = summary["status"] == "failed"
        manifest.set_stage(name, status=summary["status"], finished=now(), summary=summary,
                           seconds=round(time.perf_counter() - started, 3), outputs=outputs,
                           run_id=uuid.uuid4().hex[:16],
                           error=context.failure_message() if failed else None)
        if failed:
            raise StageError(context.failure_message())
        return summary

    def _record_outputs(self, name: str) -> dict[str, Any]:
        outputs: dict[str, Any] = {}
        for artifact in self.registry.catalog.of_stage(name):
            digest = output_digest(self.run.path(artifact.path))
            if digest is not None:
                outputs[artifact.name] = digest
            elif artifact.always:
                raise StageError(f"{name} did not write {artifact.path}, which it declares")
        return outputs

    def run_pipeline(self, stages: list[str] | None = None,
                     options: RunOptions | None = None) -> dict[str, dict[str, Any]]:
        """Run the given stages (default all) in pipeline order; stop at a failed one.

        Every stage's configuration check runs first, so that a mistake stops the run
        before hours of earlier stages rather than after.
        """
        order = [n for n in self.registry.order() if stages is None or n in stages]
        for name in order:
            check = self.registry[name].check
            if check is not None:
                check(self.config)
        summaries: dict[str, dict[str, Any]] = {}
        with holding_lock(self.run, "localglobal run"):
            for name in order:
                log(f"── {name}", style="bold")
                summaries[name] = self.run_stage(name, options)
        return summaries
