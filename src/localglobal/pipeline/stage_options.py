"""The options of a stage's command, declared with the stage.

``localglobal <stage>`` is made from its declaration: every stage command has
``--run``, ``--config`` and ``--force``; the options a stage declares come after them.
An option either changes the configuration (``apply``: ``--label-space`` sets
``data.label_space``) or is handed to the runner as it is (``--workers``,
``--device``): the first kind changes what the stage computes, the second only how.

>>> LABEL_SPACE = Option("label_space", ("--label-space",), str | None, "the label space",
...                      metavar="NAME", apply=lambda config, value, given: config)
>>> LABEL_SPACE.given("imagenette"), LABEL_SPACE.given(None)
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from localglobal.errors import LocalglobalError

Apply = Callable[[Any, Any, Mapping[str, Any]], Any]
"""``apply(config, value, given) -> config``: the configuration with the option's value
set; ``given`` holds the values of all the command's options, and ``given["run"]`` the
opened :class:`~localglobal.pipeline.rundir.RunDir`."""


@dataclass(frozen=True)
class Option:
    """One option (or positional argument) of a stage's command.

    Attributes
    ----------
    name : str
        The parameter's name (``"label_space"``); runner options are passed to the
        runner under this name.
    flags : tuple of str
        ``("--label-space",)``, ``("--models", "-m")``, ``("--require-box/--no-require-box",)``
        for a switch; empty for a positional argument.
    type : type
        The value's type as the command line parses it (``str | None``, ``Path``,
        ``bool``, ``int | None``).
    help : str
        The help text; an option whose default is not a value says it as
        ``[default: ...]`` at the end.
    metavar : str, optional
        The value's name in the help (``DIR``, ``A,B``).
    default : object
        The value when the option is not given.
    show_default : bool
        Whether the help prints the default (for defaults that are values).
    apply : callable, optional
        ``apply(config, value, given) -> config``, called when the option is given
        (see :meth:`given`); without it the option is a runner option.
    """

    name: str
    flags: tuple[str, ...]
    type: Any
    help: str
    metavar: str | None = None
    default: Any = None
    show_default: bool = False
    apply: Apply | None = None

    @property
    def argument(self) -> bool:
        """Whether this is a positional argument (it has no flags)."""
        return not self.flags

    def given(self, value: Any) -> bool:
        """Whether ``value`` was given on the command line (an argument always is)."""
        return self.argument or (value is not None and value != self.default)


def configure(config: Any, options: tuple[Option, ...], values: Mapping[str, Any]) -> Any:
    """``config`` with every given configuration option applied, in declaration order."""
    for option in options:
        value = values.get(option.name, option.default)
        if option.apply is not None and option.given(value):
            config = option.apply(config, value, values)
    return config


def runner_options(options: tuple[Option, ...], values: Mapping[str, Any]) -> dict[str, Any]:
    """The values of the options the runner takes as they are (no ``apply``)."""
    return {o.name: values.get(o.name, o.default) for o in options if o.apply is None}


WORKERS = Option("workers", ("--workers", "-j"), int | None,
                 "processes [default: run.workers, else one per core]", metavar="N")
"""Processes of the CPU stages."""

DEVICE = Option("device", ("--device",), str | None,
                "auto, cpu, cuda, cuda:N or mps [default: the configuration's, else auto]",
                metavar="DEVICE")
"""The device of the model stages."""

TRUST = Option("trust_config", ("--trust-config/--no-trust-config",), bool,
               "let Python code a model entry of the run's config.toml names (module = ...) "
               "run [default: no-trust-config: only code named by --config]", default=False)
"""Whether code named by the run's own configuration may run."""


def model_list(value: str | None) -> list[str]:
    """``"a, b,"`` → ``["a", "b"]``."""
    return [m.strip() for m in value.split(",") if m.strip()] if value else []


def with_models(config: Any, section: str, names: list[str], *, replace: bool = False,
                computed: bool = True) -> Any:
    """The configuration with ``names`` added to (or replacing) ``[section].models``.

    Adding keeps every model the run already has, so their results are kept and only
    the new ones are computed; removing a model is explicit (``replace``). A stage
    that has computed nothing yet (``computed`` false) has no results to keep:
    ``names`` are then its whole list, so a fresh run computes exactly what was named.
    """
    updated = config.model_copy(deep=True)
    target = getattr(updated, section)
    target.models = list(names) if replace or not computed else \
        list(dict.fromkeys([*target.models, *names]))
    return updated


def model_options(stage: str) -> tuple[Option, Option]:
    """``--models`` and ``--replace`` of stage ``stage``, whose models are ``[stage].models``."""

    def add(config: Any, value: str, given: Mapping[str, Any]) -> Any:
        # A stage without results has none to keep: --models is then its whole list.
        computed = given["run"].has_results(stage)
        return with_models(config, stage, model_list(value),
                           replace=bool(given.get("replace")), computed=computed)

    def check_replace(config: Any, value: bool, given: Mapping[str, Any]) -> Any:
        if not model_list(given.get("models")):
            raise LocalglobalError("--replace needs --models: the models to keep")
        return config

    models = Option("models", ("--models", "-m"), str | None,
                    "comma-separated model names, added to the run's models (only new ones "
                    "are computed); while the stage has no results, the whole list [default: "
                    "the configuration's]", metavar="A,B", apply=add)
    replace = Option("replace", ("--replace/--no-replace",), bool,
                     "make --models the run's whole model list; the tables and everything "
                     "downstream are redone without the others", default=False,
                     show_default=True, apply=check_replace)
    return models, replace
