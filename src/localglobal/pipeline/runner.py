"""Running stages: ordering, locking, recording.

A stage runs unless it is up to date (:mod:`localglobal.pipeline.freshness`); since a
stage's hash includes its upstream stages' run ids, everything downstream of a stage
that ran runs again too; the rest is skipped.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from localglobal.console import log
from localglobal.errors import LocalglobalError, StageError
from localglobal.io.atomic import remove_stale_temporaries, write_table
from localglobal.pipeline.context import RunOptions, StageContext
from localglobal.pipeline.fingerprint import folder_digest, output_digest
from localglobal.pipeline.freshness import DIGESTS_FOLDER, RunState
from localglobal.pipeline.lock import holding_lock
from localglobal.pipeline.manifest import MANIFEST_NAME, Manifest, now
from localglobal.pipeline.rundir import CONFIG_NAME


class Runner(RunState):
    """Runs the stages of a registry on one run directory.

    Parameters
    ----------
    run : RunDir
        The run directory.
    config : object
        Its configuration, as the stages' functions take it.
    registry : StageRegistry, optional
        The stages; the run directory's registry by default.
    """

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
                DIGESTS_FOLDER, declared.report_name,
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
            path = self.run.path(artifact.path)
            if artifact.kind == "folder" and path.is_dir():
                # Each file's digest, recorded as it is written, so that a later check
                # reads only the files whose size or time changed.
                digest, entries = folder_digest(path)
                write_table(self.entries_path(artifact), pd.DataFrame(
                    [(file, *entry) for file, entry in sorted(entries.items())],
                    columns=["path", "size", "mtime_ns", "digest"]))
            else:
                digest = output_digest(path)
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
