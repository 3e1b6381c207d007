"""The ``localglobal`` command line: argument handling only, the work lives in the stages."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from localglobal.config import ConfigError, RunConfig, load_config
from localglobal.run import PIPELINE, STAGES, StageError, prepare_run, run_pipeline, run_stage
from localglobal.store import MissingInputError, RunDir

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Measure how much image classifiers rely on local features versus global shape.",
)
toyworld_app = typer.Typer(no_args_is_help=True, help="The procedural toy world.")


def _print_version(value: bool) -> None:
    if value:
        from localglobal import __version__

        typer.echo(f"localglobal {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_print_version,
                                          is_eager=True, help="print the version and exit")]
    = False,
) -> None:
    """Measure how much image classifiers rely on local features versus global shape."""
app.add_typer(toyworld_app, name="toyworld")

RunOption = Annotated[Path, typer.Option("--run", "-r", help="run directory")]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="configuration TOML (else the run's own)")
]
ForceOption = Annotated[bool, typer.Option("--force", help="redo the stage even if up to date")]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", "-j", help="processes (default: one per core)")
]
ModelsOption = Annotated[
    str | None, typer.Option("--models", "-m", help="comma-separated model names")
]
DeviceOption = Annotated[str | None, typer.Option("--device", help="cpu, cuda, cuda:N or mps")]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


def _stage(name: str, run_dir: Path, config_path: Path | None, *, force: bool = False,
           workers: int | None = None, models: str | None = None, device: str | None = None,
           configure=None) -> None:
    try:
        run, config = prepare_run(run_dir, config_path=config_path)
        if configure is not None:
            configure(config)
            run, config = prepare_run(run_dir, config=config)
        model_list = [m.strip() for m in models.split(",") if m.strip()] if models else None
        summary = run_stage(name, run, config, force=force, workers=workers, models=model_list,
                            device=device)
    except (ConfigError, StageError, MissingInputError, FileNotFoundError, KeyError,
            ValueError) as error:
        _fail(str(error).strip("'\""))
        return
    _print_summary(summary)
    for output in STAGES[name].outputs:
        typer.echo(f"wrote {run.path(output)}")


def _print_summary(summary: dict) -> None:
    shown = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
    if shown:
        typer.echo("  ".join(f"{k}={v}" for k, v in shown.items()))


@app.command()
def annotations(
    source: Annotated[Path, typer.Argument(help="Annotation.tar.gz, or a folder of archives "
                                           "or of VOC XML files")],
    run: RunOption,
    config: ConfigOption = None,
    force: ForceOption = False,
    workers: WorkersOption = None,
) -> None:
    """Read ImageNet bounding boxes into boxes.parquet (one row per object)."""

    def configure(c: RunConfig) -> None:
        c.data.annotations = str(source.expanduser().resolve())

    _stage("annotations", run, config, force=force, workers=workers, configure=configure)


@app.command()
def index(
    root: Annotated[Path, typer.Argument(help="image root with <split>/<wnid>/<image> folders")],
    run: RunOption,
    config: ConfigOption = None,
    force: ForceOption = False,
    workers: WorkersOption = None,
    label_space: Annotated[str | None, typer.Option(help="imagenette, imagewoof, ...")] = None,
) -> None:
    """Scan images, map their boxes into the model-input frame, draw the sample."""

    def configure(c: RunConfig) -> None:
        c.data.images = str(root.expanduser().resolve())
        if label_space:
            c.data.label_space = label_space

    _stage("index", run, config, force=force, workers=workers, configure=configure)


@app.command()
def edges(run: RunOption, config: ConfigOption = None, force: ForceOption = False,
          workers: WorkersOption = None) -> None:
    """Canny edges of every sampled image in the model-input frame."""
    _stage("edges", run, config, force=force, workers=workers)


@app.command()
def perturb(run: RunOption, config: ConfigOption = None, force: ForceOption = False,
            workers: WorkersOption = None) -> None:
    """Scrambled, patched and smoothed images (lossless PNG) and their table."""
    _stage("perturb", run, config, force=force, workers=workers)


@app.command()
def evaluate(run: RunOption, config: ConfigOption = None, force: ForceOption = False,
             models: ModelsOption = None, device: DeviceOption = None) -> None:
    """Run every configured model on every perturbed image."""
    _stage("evaluate", run, config, force=force, models=models, device=device)


@app.command()
def attribute(run: RunOption, config: ConfigOption = None, force: ForceOption = False,
              models: ModelsOption = None, device: DeviceOption = None) -> None:
    """LRP relevance per model and image, compared with edges and boxes."""
    _stage("attribute", run, config, force=force, models=models, device=device)


@app.command()
def analyze(run: RunOption, config: ConfigOption = None, force: ForceOption = False) -> None:
    """Hypothesis tests, the patch-interaction analysis and figures."""
    _stage("analyze", run, config, force=force)


@app.command()
def report(run: RunOption, config: ConfigOption = None, force: ForceOption = False) -> None:
    """Write report/index.html and report/summary.md."""
    _stage("report", run, config, force=force)


@app.command("run")
def run_command(
    config: Annotated[Path, typer.Argument(help="run configuration (TOML)")],
    run: Annotated[Path | None, typer.Option("--run", "-r", help="run directory")] = None,
    force: ForceOption = False,
    device: DeviceOption = None,
) -> None:
    """Run the whole pipeline from a configuration file."""
    run_dir = run or Path("runs") / config.stem
    try:
        loaded = load_config(config)
        missing = [k for k in ("annotations", "images") if not getattr(loaded.data, k)]
        if missing:
            _fail(f"{config}: [data] needs {' and '.join(missing)} for `localglobal run`")
        run_dir_obj, loaded = prepare_run(run_dir, config=loaded)
        run_pipeline(run_dir_obj, loaded, force=force, device=device)
    except (ConfigError, StageError, MissingInputError, FileNotFoundError, KeyError,
            ValueError) as error:
        _fail(str(error).strip("'\""))
        return
    _print_final(run_dir_obj)


def _print_final(run: RunDir) -> None:
    summary = run.path("report", "summary.md")
    if summary.exists():
        typer.echo(summary.read_text(encoding="utf-8"))
    typer.echo(f"run directory: {run.root}")
    typer.echo(f"report: {run.path('report', 'index.html')}")


@app.command()
def demo(
    run: Annotated[Path, typer.Option("--run", "-r", help="run directory")] = Path("runs/demo"),
    force: ForceOption = False,
) -> None:
    """Run the whole pipeline on the embedded toy world: no network, no downloads."""
    from localglobal.demo import run_demo

    try:
        run_dir = run_demo(run, force=force)
    except (ConfigError, StageError, MissingInputError) as error:
        _fail(str(error))
        return
    _print_final(run_dir)


@app.command()
def models(config: ConfigOption = None) -> None:
    """List the model registry: architecture, weights, cache state, label space, LRP."""
    from rich.console import Console
    from rich.table import Table

    from localglobal.models.registry import describe_models

    try:
        loaded = load_config(config) if config else RunConfig()
    except (ConfigError, FileNotFoundError) as error:
        _fail(str(error))
        return
    table = Table(title="localglobal models")
    rows = describe_models(loaded)
    if rows:
        for column in rows[0]:
            table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console = Console()
    if not console.is_terminal:
        # Piped into a file or pager: print whole cells rather than fold them to 80 columns.
        console = Console(width=200)
    console.print(table)


@app.command()
def show(
    image_id: Annotated[str, typer.Argument(help="image id as in samples.parquet")],
    run: RunOption,
    out: Annotated[Path | None, typer.Option(help="where to write the PNG")] = None,
) -> None:
    """Write a contact sheet of one image's probes, edges and box; print its path."""
    from localglobal.probes.contact import write_contact_sheet

    try:
        path = write_contact_sheet(RunDir(run), image_id, out)
    except (MissingInputError, KeyError, ValueError) as error:
        _fail(str(error).strip("'\""))
        return
    typer.echo(str(path))


@toyworld_app.command("build")
def toyworld_build(
    out: Annotated[Path, typer.Argument(help="output folder")],
    config: ConfigOption = None,
) -> None:
    """Write the toy world in ImageNet format (images, Annotation.tar.gz, cue conflict)."""
    from localglobal.toyworld.build import build_world, load_world_config

    world = load_world_config(config)
    path = build_world(out, world)
    typer.echo(f"wrote {path}")


@toyworld_app.command("train")
def toyworld_train(
    out: Annotated[Path | None, typer.Option(help="weights folder (default: the package's)")]
    = None,
    world: Annotated[Path | None, typer.Option(help="an already built world to train on")] = None,
) -> None:
    """Train the toy-texture and toy-shape models and write their weights."""
    from localglobal.toyworld.train import train_models

    for path in train_models(out=out, world=world):
        typer.echo(f"wrote {path}")


def main() -> None:  # pragma: no cover - console-script entry point
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    app()


__all__ = ["PIPELINE", "app"]
