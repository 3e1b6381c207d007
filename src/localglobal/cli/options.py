"""The options the commands share: the run, a configuration overlay, --force, and the
typer form of a stage's declared options (:class:`~localglobal.pipeline.stage_options.Option`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from localglobal.pipeline.stage_options import DEVICE, WORKERS, Option


def typer_annotation(option: Option) -> Any:
    """``Annotated[type, typer.Option(...)]`` (or ``typer.Argument``) of a declared option."""
    if option.argument:
        return Annotated[option.type, typer.Argument(metavar=option.metavar, help=option.help)]
    return Annotated[option.type, typer.Option(*option.flags, metavar=option.metavar,
                                               help=option.help,
                                               show_default=option.show_default)]


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
WorkersOption = typer_annotation(WORKERS)
DeviceOption = typer_annotation(DEVICE)
MirrorOption = Annotated[str | None, typer.Option(
    metavar="URL", show_default=False,
    help="base URL of the archives [default: $LOCALGLOBAL_GEIRHOS_MIRROR, else "
    "https://github.com]")]
ChecksumsOption = Annotated[Path | None, typer.Option(
    metavar="FILE", show_default=False,
    help="a checksum list of the human raw data other than the shipped one [default: the "
    "shipped geirhos-checksums.txt]")]
