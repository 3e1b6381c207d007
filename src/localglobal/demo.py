"""``localglobal demo``: the whole pipeline on the embedded toy world, offline.

The demo builds a small toy world (:data:`DEMO_WORLD`) into ``<run>/world``, points
the run's data paths at it, and runs every stage with the settings of
``configs/demo.toml``: both toy models, the randomised-weights and shuffled-edges
controls, and the toy hypotheses. The world's true outlines are a second shape proxy
beside Canny, so the LRP edge measures can be checked against the truth. Because the
two models' biases are known by construction (``toy-texture`` follows texture,
``toy-shape`` follows shape), the demo is also a positive control: the probes must tell them apart.

>>> run = run_demo("runs/demo")                 # doctest: +SKIP
>>> run.path("report", "index.html").exists()   # doctest: +SKIP
True

:func:`demo_run` is the same from Python (``localglobal.demo_run``): a built-in setting
by name, the world's size and seed, and the finished run loaded as a
:class:`localglobal.Run`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from localglobal.config import CONFIG_DIR, RunConfig, builtin_config, load_config
from localglobal.errors import ConfigError
from localglobal.pipeline.rundir import RunDir
from localglobal.run import PIPELINE, locked, open_run, prepare_run, run_pipeline
from localglobal.toyworld.build import OUTLINES_FILE, WorldConfig, build_world

if TYPE_CHECKING:
    from localglobal.api import Run

DEMO_WORLD = WorldConfig(seed=2024, train_per_class=3, val_per_class=1, cue_conflict_per_pair=2)
"""The demo's world: 3 training images per class (the sample), 1 validation image per
class, and 180 cue-conflict stimuli (each shape with each other texture, twice)."""


def demo_config(world_dir: str | os.PathLike[str],
                config_path: str | os.PathLike[str] | None = None) -> RunConfig:
    """The demo's run configuration with its data paths pointing at a built world.

    Parameters
    ----------
    world_dir : path-like
        A folder written by :func:`~localglobal.toyworld.build.build_world`.
    config_path : path-like, optional
        The settings; default the packaged ``configs/demo.toml``.

    Returns
    -------
    RunConfig
    """
    return with_world(_settings(config_path), world_dir)


def _settings(config_path: str | os.PathLike[str] | None) -> RunConfig:
    return load_config(config_path if config_path is not None else builtin_config("demo"))


def with_world(config: RunConfig, world_dir: str | os.PathLike[str]) -> RunConfig:
    """``config`` with its data, outlines and cue-conflict paths in ``world_dir``."""
    world_dir = Path(world_dir).resolve()
    config = config.model_copy(deep=True)
    config.data.annotations = str(world_dir / "Annotation.tar.gz")
    config.data.images = str(world_dir)
    config.geirhos.stimuli = str(world_dir)  # its cue-conflict/ folder: shape bias
    config.data.outlines = str(world_dir / OUTLINES_FILE)
    config.data.label_space = "toyworld"
    return config


def run_demo(run_dir: str | os.PathLike[str], force: bool = False,
             config_path: str | os.PathLike[str] | None = None,
             world: WorldConfig = DEMO_WORLD,
             stages: tuple[str, ...] = PIPELINE, *, per_class: int | None = None) -> RunDir:
    """Build the demo world and run the pipeline on it.

    Parameters
    ----------
    run_dir : path-like
        The run directory (created if needed); the world goes to ``<run_dir>/world``
        and is reused when already built with ``world``.
    force : bool
        Re-run every stage even when its parameters are unchanged.
    config_path : path-like, optional
        Run settings; default ``configs/demo.toml`` (the test suite uses the smaller
        ``configs/demo-ci.toml``).
    world : WorldConfig
        The toy world to build.
    stages : tuple of str
        The stages to run, in order.
    per_class : int, optional
        Images sampled per class (``index.per_class``); None: the setting's.

    Returns
    -------
    RunDir
        The run directory; the report is ``report/index.html`` inside it.

    Raises
    ------
    ConfigError
        ``config_path`` is missing or invalid (before anything is built).
    """
    settings = _settings(config_path)  # a bad file fails before the world is built
    if per_class is not None:
        settings.index.per_class = per_class
    run = open_run(run_dir, create=True)
    with locked(run, "localglobal demo"):
        world_dir = build_world(run.path("world"), world)
        run, config = prepare_run(run.root, config=with_world(settings, world_dir))
        run_pipeline(run, config, stages=stages, force=force, trusted=True)
    return run


def demo_run(run_dir: str | os.PathLike[str], *, config: str | os.PathLike[str] = "demo",
             images_per_class: int | None = None, seed: int | None = None,
             force: bool = False) -> Run:
    """Run the pipeline on a toy world built for it, and load the run.

    The world is :data:`DEMO_WORLD` with ``images_per_class`` images of each class and
    the given ``seed``; the run samples every one of them.

    Parameters
    ----------
    run_dir : path-like
        The run directory (created if needed); the world goes to ``<run_dir>/world``.
    config : str or path-like
        A built-in setting by name (``"demo"``, the smaller ``"demo-ci"``) or a
        configuration file.
    images_per_class : int, optional
        Images per class in the world and the sample (at least 1); None: the demo's 3.
    seed : int, optional
        The world's seed; None: the demo's.
    force : bool
        Re-run every stage even when its parameters are unchanged.

    Returns
    -------
    localglobal.Run
        The finished run: its tables, figures and report.

    Raises
    ------
    ConfigError
        ``config`` names no built-in setting and no file, or is invalid.

    Examples
    --------
    >>> import localglobal as lg
    >>> run = lg.demo_run("runs/small", config="demo-ci", images_per_class=3)  # doctest: +SKIP
    >>> run.hypotheses[["hypothesis", "p_holm", "supported"]]                  # doctest: +SKIP
    """
    from localglobal.api import load_run

    if images_per_class is not None and images_per_class < 1:
        raise ConfigError(f"images_per_class must be at least 1, got {images_per_class}")
    path = Path(config)
    if path.suffix != ".toml" and (CONFIG_DIR / f"{config}.toml").exists():
        path = builtin_config(str(config))
    updates: dict[str, int] = {}
    if seed is not None:
        updates["seed"] = seed
    if images_per_class is not None:
        updates["train_per_class"] = images_per_class
    world = WorldConfig(**{**DEMO_WORLD.model_dump(), **updates})
    run = run_demo(run_dir, force=force, config_path=path, world=world,
                   per_class=world.train_per_class)
    return load_run(run.root)
