"""The options the commands share: the run, a configuration overlay, --force, workers, …"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# An option whose default is not a value (None: "the configuration's") says its default
# in its help text; show_default=False keeps typer from printing a second one.
RunOption = Annotated[Path, typer.Option("--run", "-r", metavar="DIR", help="run directory")]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", metavar="TOML", show_default=False,
                 help="TOML laid over the run's config.toml (tables merged, keys replaced); "
                 "the changes are printed [default: none, the run's config.toml alone]"),
]
ForceOption = Annotated[bool, typer.Option("--force/--no-force",
                                           help="redo the stage even if up to date")]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", "-j", metavar="N", show_default=False,
                             help="processes [default: run.workers, else one per core]")
]
ModelsOption = Annotated[
    str | None, typer.Option("--models", "-m", metavar="A,B", show_default=False,
                             help="comma-separated model names, added to the run's models "
                             "(only new ones are computed); while the stage has no results, "
                             "the whole list [default: the configuration's]")
]
ReplaceOption = Annotated[bool, typer.Option(
    "--replace/--no-replace", help="make --models the run's whole model list; the tables and "
    "everything downstream are redone without the others")]
DeviceOption = Annotated[str | None, typer.Option(
    "--device", metavar="DEVICE", show_default=False,
    help="auto, cpu, cuda, cuda:N or mps [default: the configuration's, else auto]")]
TrustOption = Annotated[bool, typer.Option(
    "--trust-config/--no-trust-config", show_default=False,
    help="let Python code a model entry of the run's config.toml names (module = ...) run "
    "[default: no-trust-config: only code named by --config]")]
