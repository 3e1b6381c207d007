"""Stage ordering, caching by parameter hash, resume, and the run manifest.

A stage is a function ``stage(ctx: StageContext) -> dict`` that reads its inputs
from the run directory and writes its outputs there; the dict it returns is a short
summary (counts) kept in ``manifest.json``. Its *parameter hash* covers the
configuration values it depends on and the hashes of the stages it reads from, so
a stage whose inputs and parameters are unchanged is skipped, and changing an
early parameter re-runs everything downstream.

Long stages store finished shards through :meth:`StageContext.shards`; after an
interruption the stage is re-run and skips the shards that are already there.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from localglobal.config import RunConfig, load_config, to_toml
from localglobal.store import RunDir, ShardStore, read_json, write_json, write_text_atomic

console = Console(stderr=True)


class StageError(RuntimeError):
    """A stage could not run (missing input, bad parameter); the message says why."""


@dataclass(frozen=True)
class Stage:
    """A pipeline stage: where its code lives, what it reads and what it writes."""

    name: str
    function: str  # "module:function", imported only when the stage runs
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: Callable[[RunConfig], dict[str, Any]]
    description: str = ""
    optional: tuple[str, ...] = ()  # read when present, never required

    def load(self) -> Callable[[StageContext], dict[str, Any]]:
        module_name, _, attr = self.function.partition(":")
        return getattr(importlib.import_module(module_name), attr)


def _file_fingerprint(path: str | None) -> dict[str, Any] | None:
    """Size and modification time of a file or of every file under a folder."""
    if not path:
        return None
    target = Path(path)
    if not target.exists():
        return {"path": str(target), "missing": True}
    if target.is_file():
        stat = target.stat()
        return {"path": str(target), "size": stat.st_size, "mtime": int(stat.st_mtime)}
    total, newest, count = 0, 0, 0
    for root, _dirs, files in os.walk(target):
        for name in files:
            stat = os.stat(os.path.join(root, name))
            total += stat.st_size
            newest = max(newest, int(stat.st_mtime))
            count += 1
    return {"path": str(target), "files": count, "size": total, "mtime": newest}


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json")


def _model_entries(config: RunConfig, names: list[str]) -> dict[str, Any]:
    """Each model's configuration entry and what identifies its weights file.

    A retrained or replaced checkpoint at the same path makes the results out of date.
    """
    from localglobal.models.registry import resolve_model

    entries: dict[str, Any] = {}
    for name in names:
        try:
            weights = resolve_model(name, config).fingerprint()
        except Exception as error:  # the stage itself reports a model it cannot resolve
            weights = {"unresolved": f"{type(error).__name__}: {error}"}
        entries[name] = {"entry": _dump(config.models[name]) if name in config.models else None,
                         "spec": weights}
    return entries


def _smoother_fingerprint(config: RunConfig) -> dict[str, Any] | None:
    """The TorchScript smoother's file, when the operator is one (a path, not a name)."""
    operator = config.probes.smooth.operator
    path = Path(operator).expanduser()
    return _file_fingerprint(str(path)) if path.suffix or path.exists() else None


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in [
        Stage(
            "annotations",
            "localglobal.data.annotations:annotations_stage",
            inputs=(),
            outputs=("boxes.parquet", "annotations-report.json"),
            params=lambda c: {"source": _file_fingerprint(c.data.annotations)},
            description="read bounding-box annotations into boxes.parquet",
        ),
        Stage(
            "index",
            "localglobal.data.index:index_stage",
            inputs=("annotations",),
            outputs=("samples.parquet", "index-report.json"),
            params=lambda c: {
                "images": _file_fingerprint(c.data.images),
                "label_space": c.data.label_space,
                "frame": _dump(c.frame),
                "index": _dump(c.index),
                "seed": c.run.seed,
            },
            description="scan images, map boxes into the input frame, draw the sample",
        ),
        Stage(
            "edges",
            "localglobal.probes.generate:edges_stage",
            inputs=("index",),
            outputs=("edges.parquet", "edges.npz"),
            params=lambda c: {"edges": _dump(c.edges), "frame": _dump(c.frame)},
            description="Canny edges (the shape proxy) in the model-input frame",
        ),
        Stage(
            "perturb",
            "localglobal.probes.generate:perturb_stage",
            inputs=("index",),
            outputs=("perturbations.parquet",),
            params=lambda c: {"probes": _dump(c.probes), "frame": _dump(c.frame),
                              "seed": c.run.seed, "smoother": _smoother_fingerprint(c)},
            description="scrambled, patched and smoothed images",
        ),
        Stage(
            "evaluate",
            "localglobal.evaluate:evaluate_stage",
            inputs=("perturb",),
            outputs=("predictions.parquet",),
            params=lambda c: {"evaluate": _dump(c.evaluate),
                              "cue_conflict": _file_fingerprint(c.data.cue_conflict),
                              "models": _model_entries(c, c.evaluate.models)},
            description="every model on every image",
        ),
        Stage(
            "attribute",
            "localglobal.attribution.attribute:attribute_stage",
            inputs=("index", "edges"),
            optional=("perturb",),
            outputs=("attributions.parquet",),
            params=lambda c: {"attribute": _dump(c.attribute), "seed": c.run.seed,
                              "models": _model_entries(c, c.attribute.models)},
            description="LRP relevance versus edges and boxes",
        ),
        Stage(
            "analyze",
            "localglobal.analysis.analyze:analyze_stage",
            inputs=("evaluate",),
            # edges feed the density maps, samples and perturbations the contact sheets
            optional=("attribute", "edges", "index", "perturb"),
            outputs=("hypotheses.parquet",),
            params=lambda c: {"analysis": _dump(c.analysis), "seed": c.run.seed,
                              "gallery": c.report.gallery_images},
            description="hypothesis tests, patch interaction, figures",
        ),
        Stage(
            "report",
            "localglobal.analysis.report:report_stage",
            inputs=(),
            optional=("annotations", "index", "edges", "perturb", "evaluate", "attribute",
                      "analyze"),
            outputs=("report/index.html", "report/summary.md"),
            params=lambda c: {"report": _dump(c.report)},
            description="HTML and Markdown report",
        ),
    ]
}

PIPELINE: tuple[str, ...] = tuple(STAGES)


def params_hash(params: Any) -> str:
    """A stable hash of JSON-serialisable parameters."""
    text = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class StageContext:
    """Everything a stage function gets: the run, the configuration and run options."""

    run: RunDir
    config: RunConfig
    stage: str
    params_hash: str
    force: bool = False
    device: str | None = None
    models: list[str] | None = None
    workers: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def n_workers(self) -> int:
        """Process-pool size: the override, else the config, else one per core."""
        chosen = self.workers if self.workers is not None else self.config.run.workers
        return chosen or (os.cpu_count() or 1)

    def shards(self, **key_params: Any) -> ShardStore:
        """The shard store for this stage under a key derived from ``key_params``.

        Pass every parameter that changes a shard's content; shards made under other
        parameters are kept apart and never mixed in.
        """
        key = params_hash(key_params)[:16]
        store = ShardStore(self.run.shard_dir(self.stage, key))
        if self.force and not self.options.get("_shards_cleared_" + key):
            store.clear()
            self.options["_shards_cleared_" + key] = True
        return store

    def log(self, message: str) -> None:
        console.print(message)


# --------------------------------------------------------------------------- manifest


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_versions() -> dict[str, str]:
    """Versions of Python, the platform and the packages that shape the numbers."""
    from importlib import metadata

    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in ["localglobal", "torch", "torchvision", "timm", "zennit", "numpy", "pandas",
                 "scipy", "opencv-contrib-python-headless", "pillow"]:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Manifest:
    """``manifest.json``: configuration, versions, commit, seed and per-stage status."""

    def __init__(self, run: RunDir):
        self.run = run
        path = run.manifest_path
        self.data: dict[str, Any] = read_json(path) if path.exists() else {"stages": {}}

    def save(self) -> None:
        """Write ``manifest.json`` (atomically)."""
        write_json(self.run.manifest_path, self.data)

    def record_run(self, config: RunConfig) -> None:
        """Record the configuration, seed, package versions and git commit of this run."""
        self.data.setdefault("created", _now())
        self.data["updated"] = _now()
        self.data["config"] = config.model_dump(mode="json")
        self.data["seed"] = config.run.seed
        self.data["versions"] = package_versions()
        self.data["git_commit"] = _git_commit()
        self.save()

    def stage(self, name: str) -> dict[str, Any]:
        """The record of stage ``name`` (status, hash, timestamps, summary); empty if never run."""
        return self.data.setdefault("stages", {}).get(name, {})

    def set_stage(self, name: str, **values: Any) -> None:
        """Update the record of stage ``name`` with ``values`` and save the manifest."""
        self.data.setdefault("stages", {}).setdefault(name, {}).update(values)
        self.save()


# --------------------------------------------------------------------------- running


def stage_hash(name: str, config: RunConfig, manifest: Manifest,
               extra: dict[str, Any] | None = None) -> str:
    """The parameter hash of a stage: its own parameters plus its inputs' hashes."""
    stage = STAGES[name]
    upstream = {dep: manifest.stage(dep).get("hash") for dep in stage.inputs + stage.optional}
    return params_hash({"params": stage.params(config), "upstream": upstream,
                        "extra": extra or {}})


def is_up_to_date(name: str, run: RunDir, manifest: Manifest, digest: str) -> bool:
    """Whether a stage finished with parameter hash ``digest`` and its outputs exist.

    A stage whose summary asks for a ``retry`` (a model that could not be loaded, its
    weights not downloaded yet, say) is not up to date; running it again reuses the
    finished shards of everything else.
    """
    record = manifest.stage(name)
    if record.get("status") != "done" or record.get("summary", {}).get("retry"):
        return False
    if record.get("hash") != digest:
        return False
    return all(run.path(output).exists() for output in STAGES[name].outputs)


def prepare_run(run_dir: str | os.PathLike[str], config: RunConfig | None = None,
                config_path: str | os.PathLike[str] | None = None) -> tuple[RunDir, RunConfig]:
    """Open (or create) a run directory and settle its configuration.

    The configuration is, in order of preference: ``config`` as given, the file at
    ``config_path``, the run's own ``config.toml``, the thesis defaults. It is written
    to the run's ``config.toml`` so later stages read the same values.
    """
    run = RunDir(run_dir).ensure()
    if config is None:
        if config_path is not None:
            config = load_config(config_path)
        elif run.config_path.exists():
            config = load_config(run.config_path)
        else:
            config = RunConfig()
    write_text_atomic(run.config_path, to_toml(config))
    return run, config


def run_stage(name: str, run: RunDir, config: RunConfig, *, force: bool = False,
              device: str | None = None, models: list[str] | None = None,
              workers: int | None = None, options: dict[str, Any] | None = None) -> dict:
    """Run one stage unless it is up to date; return its summary.

    ``models`` and ``device`` override the configuration for this call. ``models``
    is part of the stage's hash; ``device`` is not, since results do not depend on
    where they were computed (beyond floating-point rounding).
    """
    if name not in STAGES:
        raise StageError(f"unknown stage {name!r}; stages: {', '.join(PIPELINE)}")
    manifest = Manifest(run)
    manifest.record_run(config)
    extra = {"models": models} if models else None
    digest = stage_hash(name, config, manifest, extra)
    if not force and is_up_to_date(name, run, manifest, digest):
        console.print(f"[dim]{name}: up to date (parameters unchanged), skipped[/dim]")
        return dict(manifest.stage(name).get("summary", {}), skipped=True)
    missing = [dep for dep in STAGES[name].inputs if manifest.stage(dep).get("status") != "done"]
    if missing:
        raise StageError(
            f"{name} needs {', '.join(missing)} first; run "
            + " and ".join(f"`localglobal {dep} --run {run.root}`" for dep in missing)
        )
    ctx = StageContext(run=run, config=config, stage=name, params_hash=digest, force=force,
                       device=device, models=models, workers=workers,
                       options=dict(options or {}))
    started = time.perf_counter()
    manifest.set_stage(name, status="running", hash=digest, started=_now())
    try:
        summary = STAGES[name].load()(ctx) or {}
    except BaseException as error:
        manifest.set_stage(name, status="failed", error=f"{type(error).__name__}: {error}",
                           finished=_now(), seconds=round(time.perf_counter() - started, 3))
        raise
    manifest.set_stage(name, status="done", finished=_now(), summary=summary,
                       seconds=round(time.perf_counter() - started, 3), error=None)
    return summary


def run_pipeline(run: RunDir, config: RunConfig, *, stages: tuple[str, ...] = PIPELINE,
                 force: bool = False, device: str | None = None) -> dict[str, dict]:
    """Run the given stages in order, skipping those that are up to date.

    Settings that can be checked without data (a TorchScript smoother's output shape
    and range) are checked first, so that a mistake stops the run before hours of
    earlier stages rather than after.
    """
    if "perturb" in stages:
        from localglobal.probes.generate import ProbePlan

        ProbePlan.from_config(config)
    summaries: dict[str, dict] = {}
    for name in stages:
        console.rule(f"[bold]{name}")
        summaries[name] = run_stage(name, run, config, force=force, device=device)
    return summaries
