"""Declaring a stage: its name, what it reads and writes, its parameters, its version,
its command's options and its estimate.

>>> from localglobal.pipeline.artifacts import Artifact
>>> registry = StageRegistry()
>>> @stage("count", reads=(), writes=(Artifact("counts", "counts.parquet"),),
...        params=lambda config: {"seed": config.run.seed}, registry=registry)
... def count(ctx):
...     ...
>>> registry.order()
['count']

The body is a function of a :class:`~localglobal.pipeline.context.StageContext`
returning the stage's summary (a small dict of counts kept in the manifest). The
configuration is the application's own object: the kernel hands it to the stage's
functions and never looks inside.

A declaration is all the command line and ``--dry-run`` need: the command
``localglobal <name>`` is made from its ``options``, the estimate from its
``estimate``. A stage module therefore imports only light modules at its top; what its
body needs (pandas, torch, the domain) it imports in the body, so that a command loads
only the stage it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from localglobal.pipeline.artifacts import Artifact, Catalog
from localglobal.pipeline.estimate import Estimate
from localglobal.pipeline.stage_options import Option

# The body takes a StageContext, which is built on this module: naming it here would
# make the two import each other.
StageBody = Callable[[Any], dict[str, Any]]
ParamsFunction = Callable[[Any], dict[str, Any]]
EstimateFunction = Callable[[Any, dict[str, Estimate]], Estimate | None]
"""``estimate(config, earlier)``: the stage's :class:`Estimate` (None: nothing to do),
given the estimates of the stages before it, by name."""


def _no_params(config: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Stage:
    """A declared stage.

    Attributes
    ----------
    name : str
        The command and manifest name (``"evaluate"``).
    body : callable
        ``body(ctx) -> summary``.
    reads : tuple of str
        Artifacts the stage needs; their producers must have finished first.
    optional_reads : tuple of str
        Artifacts read when present; a change to them makes the stage out of date.
    writes : tuple of Artifact
        Every file and folder the stage writes.
    params : callable
        ``params(config) -> dict``: every configuration value the outputs depend on;
        it goes into the stage's hash.
    version : int
        Bump when the stage's code changes what it writes; old results and shards are
        then redone.
    description : str
        One line for ``localglobal stages`` and ``--help`` (default: the first line of
        the body's docstring).
    check : callable, optional
        ``check(config)``, run before any stage of a pipeline starts, to refuse a
        configuration that would fail this stage hours later.
    options : tuple of Option
        The options of the stage's command beyond ``--run``, ``--config`` and
        ``--force``, which every stage command has.
    estimate : callable, optional
        ``estimate(config, earlier) -> Estimate | None`` for ``--dry-run``.
    starts_run : bool
        Whether the stage's command may create the run directory (a first stage).
    start_config : callable, optional
        ``start_config() -> config``: what a run the command creates starts from (None:
        the application's default configuration).
    printout : callable, optional
        ``printout(run) -> lines`` the command prints after the stage ran (its headline
        figures), besides the summary and the files written.
    """

    name: str
    body: StageBody
    reads: tuple[str, ...] = ()
    optional_reads: tuple[str, ...] = ()
    writes: tuple[Artifact, ...] = ()
    params: ParamsFunction = _no_params
    version: int = 1
    description: str = ""
    check: Callable[[Any], None] | None = None
    options: tuple[Option, ...] = ()
    estimate: EstimateFunction | None = None
    starts_run: bool = False
    start_config: Callable[[], Any] | None = None
    printout: Callable[[Any], Iterable[str]] | None = None

    def __post_init__(self) -> None:
        # Declarations may list what they read and write in any iterable.
        for name in ("reads", "optional_reads", "writes", "options"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.description:
            object.__setattr__(self, "description",
                               (self.body.__doc__ or "").strip().split("\n")[0])

    @property
    def report_name(self) -> str:
        """The path of the stage's report inside the run directory."""
        return f"{self.name}-report.json"


class StageRegistry:
    """The stages of a pipeline and the catalog of the artifacts they write.

    Stages are kept in the order they were registered; :meth:`order` sorts them so
    that every stage comes after the producers of what it reads.
    """

    def __init__(self) -> None:
        self._stages: dict[str, Stage] = {}
        self.catalog = Catalog()

    def register(self, declared: Stage) -> Stage:
        """Add a stage and its report and artifacts to the catalog."""
        if declared.name in self._stages:
            raise ValueError(f"stage {declared.name!r} is already registered")
        report = Artifact(f"{declared.name}_report", declared.report_name, "json",
                          f"what {declared.name} did: counts, failures, executor, time")
        self.catalog.update((*declared.writes, report), declared.name)
        self._stages[declared.name] = declared
        return declared

    def __getitem__(self, name: str) -> Stage:
        try:
            return self._stages[name]
        except KeyError:
            raise KeyError(f"unknown stage {name!r}; stages: {', '.join(self.order())}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._stages

    def upstream(self, name: str, *, optional: bool = True) -> list[str]:
        """The stages whose artifacts stage ``name`` reads (required first)."""
        declared = self[name]
        names = list(declared.reads) + (list(declared.optional_reads) if optional else [])
        producers: list[str] = []
        for artifact in names:
            producer = self.catalog.producer(artifact)
            if producer not in producers and producer != name:
                producers.append(producer)
        return producers

    def required_upstream(self, name: str) -> list[str]:
        """The stages that must have finished before stage ``name`` runs."""
        return self.upstream(name, optional=False)

    def downstream(self, name: str) -> list[str]:
        """Every stage that reads, directly or through others, what ``name`` writes."""
        found: list[str] = []
        for other in self.order():
            ups = self.upstream(other)
            if name in ups or any(u in found for u in ups):
                found.append(other)
        return found

    def order(self) -> list[str]:
        """Stage names, each after the producers of what it reads (registration order
        breaks ties)."""
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in ordered:
                return
            if name in visiting:
                raise ValueError(f"stages read each other's outputs in a circle at {name!r}")
            visiting.add(name)
            for dep in self.upstream(name):
                visit(dep)
            visiting.discard(name)
            ordered.append(name)

        for name in self._stages:
            visit(name)
        return ordered


REGISTRY = StageRegistry()
"""The registry the pipeline's own stages are declared in (see :mod:`localglobal.stages`)."""


def stage(name: str, *, registry: StageRegistry | None = None,
          **declared: Any) -> Callable[[StageBody], StageBody]:
    """Declare and register a stage; use as a decorator on its body.

    Parameters
    ----------
    name : str
        The command and manifest name.
    registry : StageRegistry, optional
        Where to register; the pipeline's :data:`REGISTRY` by default (tests pass
        their own).
    **declared
        The other fields of :class:`Stage` by name (``reads``, ``writes``, ``params``,
        ``version``, ``options``, ``estimate``, …); one not given keeps its default.

    Returns
    -------
    callable
        The decorator; it returns the body unchanged.
    """

    def register(body: StageBody) -> StageBody:
        declaration = Stage(name=name, body=body, **declared)
        (registry if registry is not None else REGISTRY).register(declaration)
        return body

    return register
