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
"""

from __future__ import annotations

import os
from pathlib import Path

from localglobal.config import RunConfig, builtin_config, load_config
from localglobal.pipeline.rundir import RunDir
from localglobal.run import PIPELINE, locked, open_run, prepare_run, run_pipeline
from localglobal.toyworld.build import OUTLINES_FILE, WorldConfig, build_world

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
             stages: tuple[str, ...] = PIPELINE) -> RunDir:
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
    run = open_run(run_dir, create=True)
    with locked(run, "localglobal demo"):
        world_dir = build_world(run.path("world"), world)
        run, config = prepare_run(run.root, config=with_world(settings, world_dir))
        run_pipeline(run, config, stages=stages, force=force, trusted=True)
    return run
