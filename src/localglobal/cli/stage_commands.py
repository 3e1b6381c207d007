"""The stage commands, ``localglobal <stage>``, made from the stages' declarations.

Every stage command takes the stage's positional arguments, ``--run``, ``--config``
and ``--force``, then the options its declaration lists
(:class:`~localglobal.pipeline.stage_options.Option`). The options that set configuration
values are laid over the run's configuration (which ``config.toml`` then keeps); the
others go to the runner as they are.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from localglobal.cli.friendly_errors import friendly
from localglobal.cli.options import ConfigOption, ForceOption, RunOption, typer_annotation
from localglobal.pipeline.stage import Stage
from localglobal.pipeline.stage_options import Option, configure, runner_options

_KEYWORD = inspect.Parameter.KEYWORD_ONLY


def _parameter(option: Option) -> inspect.Parameter:
    """The typer parameter of a declared option."""
    default = inspect.Parameter.empty if option.argument else option.default
    return inspect.Parameter(option.name, _KEYWORD, default=default,
                             annotation=typer_annotation(option))


def _shared() -> list[inspect.Parameter]:
    """``--run``, ``--config`` and ``--force``: every stage command has them."""
    return [inspect.Parameter("run", _KEYWORD, annotation=RunOption),
            inspect.Parameter("config", _KEYWORD, default=None, annotation=ConfigOption),
            inspect.Parameter("force", _KEYWORD, default=False, annotation=ForceOption)]


def run_stage_command(declared: Stage, values: dict[str, Any]) -> None:
    """Run stage ``declared`` as its command does, with the command line's ``values``."""
    from localglobal.config import config_from_dict
    from localglobal.run import locked, open_run, prepare_run, run_stage, vouched_for

    run_dir: Path = values["run"]
    config_path: Path | None = values["config"]
    start = declared.start_config() if declared.start_config is not None else None
    # The lock is held before anything is written: a command refused by it (another
    # command runs on this run) leaves config.toml and every output as they were.
    with locked(open_run(run_dir, create=declared.starts_run),
                f"localglobal {declared.name}"):
        run, config = prepare_run(run_dir, config_path=config_path,
                                  create=declared.starts_run, start=start)
        given = [o for o in declared.options
                 if o.apply is not None and o.given(values.get(o.name, o.default))]
        if given:  # written to config.toml, so that the next command sees the same run
            updated = configure(config.model_copy(deep=True), declared.options,
                                {**values, "run": run})
            # Validated whole again: a model name given must not clash with the others'.
            updated = config_from_dict(updated.model_dump(mode="json", exclude_none=True),
                                       f"the options of localglobal {declared.name}")
            run, config = prepare_run(run.root, config=updated)
        extra = runner_options(declared.options, values)
        trusted = bool(extra.pop("trust_config", False)) or vouched_for(config, config_path)
        summary = run_stage(declared.name, run, config, force=values["force"],
                            trusted=trusted, **extra)
    shown = {k: v for k, v in summary.items() if not isinstance(v, dict | list)}
    if shown:
        typer.echo("  ".join(f"{k}={v}" for k, v in shown.items()))
    for artifact in run.registry.catalog.of_stage(declared.name):
        if run.path(artifact.path).exists():
            typer.echo(f"wrote {run.path(artifact.path)}")
    for line in declared.printout(run) if declared.printout is not None else ():
        typer.echo(line)


def stage_command(declared: Stage) -> Callable[..., None]:
    """The command function of stage ``declared``, ready for ``app.command(name)``."""

    def command(**values: Any) -> None:
        run_stage_command(declared, values)

    arguments = [_parameter(o) for o in declared.options if o.argument]
    options = [_parameter(o) for o in declared.options if not o.argument]
    command.__signature__ = inspect.Signature([*arguments, *_shared(), *options])  # type: ignore[attr-defined]
    command.__name__ = command.__qualname__ = declared.name
    command.__doc__ = declared.description
    return friendly(command)


def add_stage_commands(app: typer.Typer, stages: list[Stage]) -> None:
    """Register ``localglobal <stage>`` for every stage, in pipeline order."""
    for declared in stages:
        app.command(declared.name)(stage_command(declared))
