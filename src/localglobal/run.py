"""Running the pipeline's stages on a run directory: the entry point of the CLI and API.

Importing this module declares every stage (:mod:`localglobal.stages`, light: no
stage's libraries are loaded); the kernel's :class:`~localglobal.pipeline.runner.Runner`
then orders them from their declarations, and runs them with the executor settings
of ``[run]`` (:func:`run_options`). The runner and the libraries of a stage are
loaded when a stage runs.

>>> run, config = prepare_run("runs/demo", config=RunConfig())   # doctest: +SKIP
>>> run_stage("index", run, config)                              # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from localglobal.config import (
    RunConfig,
    config_changes,
    config_from_dict,
    load_config,
    overlay_config,
    to_toml,
)
from localglobal.console import log
from localglobal.io.atomic import write_text_atomic
from localglobal.pipeline.estimate import Estimate, estimate_stages
from localglobal.pipeline.freshness import RunState, StageState
from localglobal.pipeline.lock import holding_lock
from localglobal.pipeline.rundir import CONFIG_NAME, RunDir
from localglobal.pipeline.stage_options import with_models
from localglobal.stages import REGISTRY
from localglobal.trust import code_references, refuse_untrusted
from localglobal.trust import vouched_for as _vouched_for

if TYPE_CHECKING:
    from localglobal.pipeline.context import RunOptions

PIPELINE: tuple[str, ...] = tuple(REGISTRY.order())
"""Every stage, in the order the pipeline runs them."""


def open_run(run_dir: str | os.PathLike[str], *, create: bool = False) -> RunDir:
    """Open a run directory; with ``create``, make it (saying so) when it does not exist.

    Raises
    ------
    MissingInputError
        Without ``create``: the folder is missing or not a run directory.
    """
    if not create:
        return RunDir.existing(run_dir)
    run = RunDir(run_dir)
    if not run.root.exists():
        run.ensure()
        log(f"created run directory {run.root}")
    return run.ensure()


def prepare_run(run_dir: str | os.PathLike[str], config: RunConfig | None = None,
                config_path: str | os.PathLike[str] | None = None, *,
                create: bool = True, start: RunConfig | None = None
                ) -> tuple[RunDir, RunConfig]:
    """Open (or create) a run directory and settle its configuration.

    Parameters
    ----------
    run_dir : path-like
        The run directory.
    config : RunConfig, optional
        A whole configuration (``localglobal run CONFIG``): it replaces the run's.
    config_path : path-like, optional
        A TOML file laid over the run's ``config.toml`` (tables merged, keys
        replaced); the changes are printed, one line each.
    create : bool
        Whether a missing run directory is created (else it is an error).
    start : RunConfig, optional
        What a run without a ``config.toml`` starts from (default: ``RunConfig()``);
        ``config_path`` is laid over it.

    Returns
    -------
    (RunDir, RunConfig)
        The run and the configuration its ``config.toml`` now holds.
    """
    run = open_run(run_dir, create=create)
    current = load_config(run.config_path) if run.config_path.exists() else None
    if config is None:
        config = current if current is not None else (start or RunConfig())
        if config_path is not None:
            config = overlay_config(config, config_path)
    # The probe registry loads every probe module: only commands that settle a run do.
    from localglobal.probes.catalog import check_sections

    check_sections(config)
    changes = config_changes(current, config) if current is not None else None
    if current is None or changes:
        # Written only by the holder of the run's lock: a command refused by the lock
        # leaves the configuration as it was.
        with holding_lock(run, "localglobal"):
            run.refuse_links([CONFIG_NAME])
            if changes:
                log(f"updated {run.config_path}: " + "; ".join(changes[:8])
                    + (f"; and {len(changes) - 8} more" if len(changes) > 8 else ""))
            write_text_atomic(run.config_path, to_toml(config))
    return run, config


def locked(run: RunDir, command: str) -> contextlib.AbstractContextManager[None]:
    """Hold ``run``'s lock for a whole command, so that nothing changes before it is held.

    Re-entrant: the stages the command runs find the lock held by their own process.

    Raises
    ------
    RunLockedError
        Another command holds it; nothing was changed.
    """
    return holding_lock(run, command)


def add_models(config: RunConfig, section: str, names: list[str], *, replace: bool = False,
               computed: bool = True) -> RunConfig:
    """The configuration with ``names`` added to (or replacing) ``[section].models``.

    Adding keeps every model the run already has, so their results are kept and only
    the new ones are computed; removing a model is explicit (``replace``). A stage
    that has computed nothing yet (``computed`` false) has no results to keep:
    ``names`` are then its whole list, so a fresh run computes exactly what was named.
    """
    updated = with_models(config, section, names, replace=replace, computed=computed)
    # Validated whole again: the new names must not clash with the others' file names.
    return config_from_dict(updated.model_dump(mode="json", exclude_none=True),
                            f"--models of {section}")


def has_results(run: RunDir, stage: str) -> bool:
    """Whether ``stage`` has written any of its outputs into ``run``."""
    return run.has_results(stage)


def vouched_for(config: RunConfig, config_path: str | os.PathLike[str] | None) -> bool:
    """Whether every key of ``config`` that names code came from ``config_path``.

    The user gave ``config_path`` on this command line; code the run's own
    ``config.toml`` names alone is not vouched for (:mod:`localglobal.trust`).
    """
    if not code_references(config):
        return True
    return _vouched_for(config, load_config(config_path) if config_path is not None else None)


PROBE_STAGES = ("perturb", "evaluate", "attribute", "geirhos")
"""Stages that build probe images, and so load the code probe keys name."""


def references_used(config: RunConfig, stages: list[str]) -> dict[str, str]:
    """The code references (``{key: value}``) the given stages would load.

    A model's keys count when a stage runs that model; every other key (probes.*) when
    a stage that builds probes runs.
    """
    models: set[str] = set()
    for name in stages:
        section = getattr(config, name, None)
        models.update(getattr(section, "models", None) or [])
        if name == "geirhos" and config.geirhos.models is None:
            models.update(config.evaluate.models)
    builds_probes = any(name in PROBE_STAGES for name in stages)
    used = {}
    for key, value in code_references(config).items():
        if key.startswith("models."):
            # The last part is the field; a model's name may hold dots (timm tags).
            if key[len("models."):].rpartition(".")[0] in models:
                used[key] = value
        elif builds_probes:
            used[key] = value
    return used


def _refuse_untrusted(config: RunConfig, stages: list[str], trusted: bool) -> None:
    """Refuse to start when a stage would load code the user did not vouch for."""
    refuse_untrusted(references_used(config, stages), trusted)


def run_options(config: RunConfig, *, force: bool = False, device: str | None = None,
                workers: int | None = None, trusted: bool = False,
                extra: dict[str, Any] | None = None) -> RunOptions:
    """The kernel's options for one command: its own, and ``[run]``'s executor settings.

    ``workers`` (the command's ``--workers``) wins over ``run.workers``.
    """
    from localglobal.pipeline.context import RunOptions

    settings = config.run
    return RunOptions(force=force, device=device,
                      workers=workers if workers is not None else settings.workers,
                      extra=dict(extra or {}), trusted=trusted, executor=settings.executor,
                      ray_address=settings.ray_address, shard_size=settings.shard_size)


def run_stage(name: str, run: RunDir, config: RunConfig, *, force: bool = False,
              device: str | None = None, workers: int | None = None,
              trusted: bool = False, **extra: Any) -> dict[str, Any]:
    """Run one stage unless it is up to date; return its summary.

    ``trusted`` lets Python code named by the configuration (``[models.NAME]
    module``) run, for the models the stage runs; without it such a model is refused.

    Raises
    ------
    StageError
        An upstream stage has not finished, or the stage failed (also partly: a failed
        model or item; the tables then hold what succeeded).
    ConfigError
        A model of the stage names Python code and ``trusted`` is false.
    """
    from localglobal.pipeline.runner import Runner

    _refuse_untrusted(config, [name], trusted)
    options = run_options(config, force=force, device=device, workers=workers,
                          trusted=trusted, extra=extra)
    return Runner(run, config, REGISTRY).run_stage(name, options)


def check_config(config: RunConfig, stages: tuple[str, ...] | None = None) -> None:
    """Run every stage's configuration check, so that a mistake stops a run before it starts.

    Raises
    ------
    ConfigError
        A setting that would make a stage fail; the message names the key.
    """
    for name in stages or PIPELINE:
        check = REGISTRY[name].check
        if check is not None:
            check(config)


def run_pipeline(run: RunDir, config: RunConfig, *, stages: tuple[str, ...] | None = None,
                 force: bool = False, device: str | None = None,
                 workers: int | None = None, trusted: bool = False
                 ) -> dict[str, dict[str, Any]]:
    """Run the given stages (default all) in order; stop at the first that fails.

    ``trusted`` as for :func:`run_stage`.
    """
    from localglobal.pipeline.runner import Runner

    _refuse_untrusted(config, list(stages) if stages is not None else list(PIPELINE), trusted)
    options = run_options(config, force=force, device=device, workers=workers,
                          trusted=trusted)
    return Runner(run, config, REGISTRY).run_pipeline(
        list(stages) if stages is not None else None, options)


def stage_states(run: RunDir, config: RunConfig) -> list[StageState]:
    """Every stage's state (done, out of date and why, failed, not run)."""
    return RunState(run, config, REGISTRY).states()


def estimate_run(config: RunConfig) -> list[Estimate]:
    """Every stage's estimate for ``config`` (``localglobal run --dry-run``): items, disk
    and time on this machine, from each stage's declared ``estimate``; nothing is written.

    Raises
    ------
    MissingInputError
        The image root or a split folder does not exist.
    """
    return estimate_stages(PIPELINE, lambda name: REGISTRY[name].estimate, config)
