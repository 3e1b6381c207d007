"""The ``localglobal`` command line: argument handling only; the work lives in the stages.

A stage's command is made from its declaration (:mod:`localglobal.cli.stage_commands`);
the commands that are not stages (``run``, ``stages``, ``models``, ``show``, ``demo``,
``toyworld``, ``fetch``) are written here. Each loads what it runs when it runs.

Every command turns a user's mistake into one ``error:`` line and a non-zero exit:
2 for a wrong path, key or configuration, 1 for a stage that failed, 130 when
interrupted. No traceback reaches the terminal; an unexpected error names the file
where its traceback was kept.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from localglobal import __version__
from localglobal.cli.friendly_errors import OneLineGroup, fail, friendly
from localglobal.cli.options import (
    ChecksumsOption,
    DeviceOption,
    ForceOption,
    MirrorOption,
    RunOption,
    WorkersOption,
)
from localglobal.cli.stage_commands import add_stage_commands
from localglobal.errors import UnknownNameError
from localglobal.stages import REGISTRY

if TYPE_CHECKING:
    from localglobal.pipeline.rundir import RunDir

# Help is printed as plain text: Rich markup would take "[default: ...]" and
# "[models.NAME]" in the help for tags and drop them, and Rich's option table gives a
# flag a "<bool>" metavar, where plain text prints "--force / --no-force".
_PLAIN = {"rich_markup_mode": None, "pretty_exceptions_enable": False}

app = typer.Typer(
    cls=OneLineGroup,
    add_completion=False,
    no_args_is_help=True,
    help="Measure how much image classifiers rely on local features versus global shape.",
    **_PLAIN,
)
toyworld_app = typer.Typer(no_args_is_help=True, help="The procedural toy world.", **_PLAIN)
app.add_typer(toyworld_app, name="toyworld")
fetch_app = typer.Typer(no_args_is_help=True, help="Download public data sets once, verified.",
                        **_PLAIN)
app.add_typer(fetch_app, name="fetch")

def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"localglobal {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_print_version,
                                          is_eager=True, help="print the version and exit")]
    = False,
) -> None:
    """Measure how much image classifiers rely on local features versus global shape."""


add_stage_commands(app, [REGISTRY[name] for name in REGISTRY.order()])


def _print_use(root: Path) -> None:
    """How to run the benchmark on what a fetch put under ``root``."""
    typer.echo(f"use: localglobal geirhos --run DIR --stimuli {root} --humans {root}")


@fetch_app.command("geirhos")
@friendly
def fetch_geirhos_command(
    to: Annotated[Path | None, typer.Option(
        metavar="DIR", show_default=False,
        help="folder to keep the data in [default: <cache>/geirhos]")] = None,
    mirror: MirrorOption = None,
    checksums: ChecksumsOption = None,
) -> None:
    """The Geirhos stimuli and human raw data: downloaded once, verified, then offline."""
    from localglobal.data.geirhos_fetch import fetch_geirhos

    paths = fetch_geirhos(to, mirror=mirror, checksums=checksums)
    typer.echo(f"stimuli: {paths.stimuli}")
    typer.echo(f"human raw data: {paths.raw_data}")
    _print_use(paths.root)


@fetch_app.command("model-vs-human")
@friendly
def fetch_model_vs_human_command(
    datasets: Annotated[str | None, typer.Option(
        metavar="A,B", show_default=False,
        help="which of the 17 datasets, comma-separated [default: all]")] = None,
    to: Annotated[Path | None, typer.Option(
        metavar="DIR", show_default=False,
        help="folder to keep the data in [default: <cache>/model-vs-human]")] = None,
    mirror: MirrorOption = None,
    checksums: ChecksumsOption = None,
) -> None:
    """model-vs-human's datasets and human raw data: downloaded once, verified, then offline.

    No checksums of the release archives are published: each archive's SHA-256 is
    recorded at its first download and every later use is checked against it.
    """
    from localglobal.data.model_vs_human_fetch import fetch_model_vs_human

    names = [n.strip() for n in datasets.split(",") if n.strip()] if datasets else None
    try:
        paths = fetch_model_vs_human(to, names, mirror=mirror, checksums=checksums)
    except UnknownNameError as error:
        raise UnknownNameError(f"--datasets: {error}") from None
    said = {"recorded": "SHA-256 recorded now (first download); later uses are checked "
                        "against it",
            "verified": "SHA-256 verified against the digest recorded at first download",
            "cached": "unpacked earlier from the archive with the recorded SHA-256"}
    for entry in paths.datasets:
        typer.echo(f"{entry.name}: {entry.images} images in {entry.folder}")
        typer.echo(f"  {entry.name}.tar.gz {entry.sha256}: {said[entry.status]}")
    typer.echo(f"human raw data: {paths.raw_data} (every file verified against the shipped "
               "checksum list)")
    _print_use(paths.root)


@app.command()
@friendly
def stages(run: RunOption) -> None:
    """List the stages of a run: status (and why), outputs, time."""
    from localglobal.config import RunConfig, load_config
    from localglobal.run import open_run, stage_states

    opened = open_run(run)
    # Read only: listing the stages changes nothing in the run, config.toml included.
    config = load_config(opened.config_path) if opened.config_path.exists() else RunConfig()
    for state in stage_states(opened, config):
        seconds = state.record.get("seconds")
        timing = f"  {seconds:.1f} s, {state.record.get('finished', '')}" if seconds else ""
        why = f" ({state.reason})" if state.reason and state.status != "done" else ""
        typer.echo(f"{state.name:<12} {state.status}{why}{timing}")
        for artifact in REGISTRY.catalog.of_stage(state.name):
            present = opened.path(artifact.path).exists()
            typer.echo(f"    {'✓' if present else '·'} {artifact.path}")


@app.command("run")
@friendly
def run_command(
    config: Annotated[Path, typer.Argument(metavar="CONFIG",
                                           help="run configuration (TOML), taken whole")],
    run: Annotated[Path | None, typer.Option(
        "--run", "-r", metavar="DIR", show_default=False,
        help="run directory [default: runs/<CONFIG's stem>, e.g. runs/thesis for "
        "thesis.toml]")] = None,
    force: ForceOption = False,
    device: DeviceOption = None,
    workers: WorkersOption = None,
    trust_config: Annotated[bool, typer.Option(
        "--trust-config/--no-trust-config", show_default=False,
        help="let Python code the configuration's model entries name (module = ...) run "
        "[default: trust-config: the file is yours]")] = True,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", show_default=False,
        help="print each stage's items, disk and estimated time; run nothing "
        "[default: run them]")] = False,
) -> None:
    """Run the whole pipeline from a configuration file; stop at a stage that fails."""
    from localglobal.config import load_config
    from localglobal.pipeline.estimate import format_estimates
    from localglobal.run import (
        check_config,
        estimate_run,
        locked,
        open_run,
        prepare_run,
        run_pipeline,
    )

    run_dir = run or Path("runs") / config.stem
    loaded = load_config(config)
    check_config(loaded)  # before the run directory is made
    if dry_run:
        typer.echo(format_estimates(estimate_run(loaded)))
        return
    with locked(open_run(run_dir, create=True), "localglobal run"):
        run_obj, loaded = prepare_run(run_dir, config=loaded, create=True)
        run_pipeline(run_obj, loaded, force=force, device=device, workers=workers,
                     trusted=trust_config)
    _print_final(run_obj)


def _print_final(run: RunDir) -> None:
    summary = run.path("report", "summary.md")
    if summary.exists():
        typer.echo(summary.read_text(encoding="utf-8"))
    typer.echo(f"run directory: {run.root}")
    typer.echo(f"report: {run.path('report', 'index.html')}")


@app.command()
@friendly
def demo(
    run: Annotated[Path, typer.Option("--run", "-r", metavar="DIR",
                                      help="run directory")] = Path("runs/demo"),
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", metavar="TOML", show_default=False,
        help="run settings, taken whole (e.g. configs/demo-ci.toml); the data paths point "
        "at the built world [default: the packaged configs/demo.toml]")] = None,
    force: ForceOption = False,
) -> None:
    """Run the whole pipeline on the embedded toy world: no network, no downloads."""
    from localglobal.demo import run_demo

    _print_final(run_demo(run, force=force, config_path=config))


@app.command()
@friendly
def models(config: Annotated[Path | None, typer.Option(
        "--config", "-c", metavar="TOML", show_default=False,
        help="a run configuration: its [models.NAME] entries and the models its stages "
        "name are listed too [default: none, the registry alone]")] = None) -> None:
    """List the model registry: architecture, weights, cache state, label space, LRP."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from localglobal.config import load_config
    from localglobal.models.describe import describe_models

    loaded = load_config(config) if config else None  # None: the registry alone
    table = Table(title="localglobal models")
    rows = describe_models(loaded)
    if rows:
        for column in rows[0]:
            table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(v)) for v in row.values()))
    console = Console()
    if not console.is_terminal:
        # Piped into a file or pager: print whole cells rather than fold them to 80 columns.
        console = Console(width=200)
    console.print(table)


@app.command()
@friendly
def probes(config: Annotated[Path | None, typer.Option(
        "--config", "-c", metavar="TOML", show_default=False,
        help="a run configuration: its probes, with the levels and plugins it sets, "
        "are listed [default: none, every built-in probe with its default levels]")] = None,
           ) -> None:
    """List the probes: levels, strongest level, built on the fly or stored, dataset."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from localglobal.config import load_config
    from localglobal.probes.catalog import describe_probes

    rows = describe_probes(load_config(config) if config else None)
    table = Table(title="localglobal probes")
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*(escape(str(v)) for v in row.values()))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)


@app.command()
@friendly
def show(
    image_id: Annotated[str, typer.Argument(metavar="IMAGE_ID",
                                            help="image id as in samples.parquet")],
    run: RunOption,
    out: Annotated[Path | None, typer.Option(
        metavar="PNG", show_default=False,
        help="where to write the PNG [default: <run>/contact/<image id>.png]")] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", metavar="TOML", show_default=False,
        help="TOML laid over the run's config.toml for this sheet only: its [edges] "
        "settings draw an image the edges stage has not run on; nothing is written to "
        "the run [default: none, the run's config.toml alone]")] = None,
) -> None:
    """Write a contact sheet of one image's probes, edges, box and heat maps; print its path."""
    from localglobal.config import load_config, overlay_config
    from localglobal.report.contact_sheet import write_contact_sheet
    from localglobal.run import open_run

    opened = open_run(run)
    settings = None
    if config is not None:
        settings = overlay_config(load_config(opened.config_path), config)
    typer.echo(str(write_contact_sheet(opened, image_id, out, config=settings)))


@toyworld_app.command("build")
@friendly
def toyworld_build(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="output folder")],
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", metavar="TOML", show_default=False,
        help="world settings TOML ([world] table) [default: the built-in world]")] = None,
) -> None:
    """Write the toy world in ImageNet format (images, Annotation.tar.gz, cue conflict)."""
    from localglobal.toyworld.build import build_world, load_world_config

    typer.echo(f"wrote {build_world(out, load_world_config(config))}")


@toyworld_app.command("train")
@friendly
def toyworld_train(
    out: Annotated[Path | None, typer.Option(
        metavar="DIR", show_default=False,
        help="weights folder [default: the package's toyworld/weights]")] = None,
    world: Annotated[Path | None, typer.Option(
        metavar="DIR", show_default=False,
        help="an already built world to train on [default: a default world built in a "
        "temporary folder]")] = None,
) -> None:
    """Train the toy-texture and toy-shape models and write their weights."""
    from localglobal.toyworld.train import train_models

    if world is not None and not (world / "train").is_dir():
        fail(f"{world}: not a built toy world (no train/ folder); build one with "
              f"`localglobal toyworld build {world}`")
    for path in train_models(out=out, world=world):
        typer.echo(f"wrote {path}")


def main() -> None:  # pragma: no cover - console-script entry point
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    app()


__all__ = ["app"]
