"""The public Python API: probes on arrays, a run's tables and figures, models in memory.

Everything here is also importable from the package itself (``localglobal.scramble``,
``localglobal.load_run``, …). Probe functions take an H×W×3 uint8 RGB array and
return ``(image, record)``: the probed image (same shape, uint8) and a small frozen
record of what was done (the permutation, the rectangles, the thresholds), whose
``params()`` is what ``perturbations.parquet`` stores. They never touch files.

>>> import numpy as np
>>> import localglobal as lg
>>> image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
>>> scrambled, record = lg.scramble(image, block=16, seed=1)
>>> scrambled.shape, len(record.permutation)
((32, 32, 3), 4)
>>> patched, record = lg.patch(image, size=8)
>>> patched.dtype, len(record.rects)
(dtype('uint8'), 4)

A run's tables are attributes of :func:`load_run`'s :class:`Run`, named as in the
artifact catalog (``run.predictions``, ``run.attributions``, ``run.shape_bias``);
``run.figure("scramble")`` draws a figure and ``run.contact_sheet(image_id)`` returns
one image's contact sheet. :func:`evaluate` and :func:`explain` work on an
``nn.Module`` and a batch of images in memory, with the checks of the command line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from localglobal.analysis.figure_specs import FigureInputs, figure_specs
from localglobal.attribution.canonizers import guess_canonizer
from localglobal.attribution.explainer import ModelRefused, explain
from localglobal.attribution.methods import Explanation, Settings
from localglobal.config import RunConfig, load_config
from localglobal.errors import ConfigError, MissingInputError
from localglobal.evaluation.inference import evaluate
from localglobal.io.images import to_input_frame
from localglobal.pipeline.rundir import RunDir
from localglobal.probes.batched import build_probes
from localglobal.probes.catalog import apply_probe as probe
from localglobal.probes.edges import EdgeRecord, auto_canny
from localglobal.probes.patch import Fill, PatchRecord, patch_batch
from localglobal.probes.patch import patch as _patch
from localglobal.probes.scramble import ScrambleRecord, scramble_batch
from localglobal.probes.scramble import scramble as _scramble
from localglobal.probes.smooth import SmoothRecord, invert
from localglobal.probes.smooth import removed_detail as _removed_detail
from localglobal.probes.smooth import smooth as _smooth
from localglobal.report.contact_sheet import contact_sheet_of
from localglobal.stages import REGISTRY

__all__ = [
    "EdgeRecord", "Explanation", "MissingArtifactError", "ModelRefused", "PatchRecord", "Run",
    "ScrambleRecord", "Settings", "SmoothRecord", "build_probes", "edges", "evaluate",
    "explain", "guess_canonizer", "load_run", "patch", "patch_batch", "probe",
    "removed_detail", "scramble", "scramble_batch", "smooth", "to_input_frame",
]


# --- probes ---------------------------------------------------------------------------


def scramble(image: np.ndarray, block: int, seed: int | np.random.Generator | None = None, *,
             derangement: bool = False) -> tuple[np.ndarray, ScrambleRecord]:
    """Shuffle the square blocks of an image by a random permutation that is not the identity.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB; ``block`` must divide H and W.
    block : int
        Block side, pixels.
    seed : int or numpy.random.Generator, optional
        Seed of the permutation (None: fresh entropy).
    derangement : bool
        Move every block.

    Returns
    -------
    (numpy.ndarray, ScrambleRecord)
        The scrambled H×W×3 uint8 image; output block k is input block
        ``record.permutation[k]``, row-major.

    Raises
    ------
    ValueError
        ``block`` does not divide a side, or leaves a single block.

    Examples
    --------
    >>> image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    >>> out, record = scramble(image, 2, seed=0)
    >>> sorted(record.permutation) == [0, 1, 2, 3] and record.permutation != (0, 1, 2, 3)
    True
    """
    return _scramble(image, block, seed, derangement=derangement)


def patch(image: np.ndarray, size: int, variant: int | str = "all",
          fill: Fill = "black") -> tuple[np.ndarray, PatchRecord]:
    """Occlude an image with square patches on the thesis's odd grid.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB.
    size : int
        Patch side, pixels.
    variant : int or "all"
        The single patch's row-major index, or ``"all"`` for every patch at once.
    fill : str or RGB triple
        ``"black"``, ``"grey"``, ``"mean"`` (the image's mean colour) or ``[r, g, b]``.

    Returns
    -------
    (numpy.ndarray, PatchRecord)
        The patched copy; ``record.rects`` are ``[x0, y0, x1, y1]`` pixels, exclusive ends.

    Examples
    --------
    >>> image = np.full((30, 30, 3), 200, np.uint8)
    >>> out, record = patch(image, 10, variant=0)
    >>> record.rects, int(out[0:10, 0:10].max())
    (((0, 0, 10, 10),), 0)
    """
    return _patch(image, size, variant, fill)


def smooth(image: np.ndarray, iterations: int = 1, operator: str = "l0",
           params: Mapping[str, Any] | None = None) -> tuple[np.ndarray, SmoothRecord]:
    """Apply an edge-preserving smoothing operator ``iterations`` times.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB (the pipeline smooths the full-resolution image).
    iterations : int
        Passes k ≥ 1, each on the previous output.
    operator : str
        ``"l0"`` (L0 gradient minimisation), ``"rolling-guidance"``,
        ``"bilateral-texture"``, ``"fast-global"`` or a TorchScript file.
    params : mapping, optional
        The operator's parameters.

    Returns
    -------
    (numpy.ndarray, SmoothRecord)
        The image after the k-th pass (H×W×3 uint8) and the record.

    Examples
    --------
    >>> image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    >>> out, record = smooth(image, iterations=2)
    >>> out.shape, record.iterations
    ((16, 16, 3), 2)
    """
    passes, record = _smooth(image, operator, iterations, params)
    return passes[-1], record


def removed_detail(image: np.ndarray, operator: str = "l0",
                   params: Mapping[str, Any] | None = None, *,
                   inverted: bool = False) -> tuple[np.ndarray, SmoothRecord]:
    """What one smoothing pass removes: ``|image − smooth(image)|`` per channel.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB.
    operator, params
        As for :func:`smooth`.
    inverted : bool
        Return ``255 −`` the removed detail (dark detail on white).

    Returns
    -------
    (numpy.ndarray, SmoothRecord)
        H×W×3 uint8 detail, and the record of the one pass.

    Examples
    --------
    >>> image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    >>> detail, _ = removed_detail(image)
    >>> light, _ = removed_detail(image, inverted=True)
    >>> bool(np.all(light == 255 - detail))
    True
    """
    smoothed, record = smooth(image, 1, operator, params)
    detail = _removed_detail(image, smoothed)
    return (invert(detail) if inverted else detail), record


def edges(image: np.ndarray, sigma: float = 0.9, **options: Any) -> tuple[np.ndarray, EdgeRecord]:
    """Canny edges with the thesis's median thresholds after non-local-means denoising.

    Parameters
    ----------
    image : numpy.ndarray
        H×W×3 uint8 RGB, in the model-input frame.
    sigma : float
        Threshold spread: lower = max(0, (1 − σ)v), upper = min(255, (1 + σ)v), v the
        median grey level.
    **options
        Further :func:`localglobal.probes.edges.auto_canny` options (``denoise``,
        ``thresholds = "otsu"`` or ``"percentile"``, …).

    Returns
    -------
    (numpy.ndarray, EdgeRecord)
        H×W bool mask (True on edges, indexed row, col) and the thresholds used.

    Examples
    --------
    >>> image = np.zeros((32, 32, 3), np.uint8)
    >>> image[8:24, 8:24] = 255
    >>> mask, record = edges(image, denoise=False)
    >>> mask.shape, bool(mask[8:24, 8:24].any()), bool(mask[0:4, 0:4].any())
    ((32, 32), True, False)
    """
    return auto_canny(image, sigma, **options)


# --- runs -------------------------------------------------------------------------------


class MissingArtifactError(MissingInputError):
    """An artifact the run does not have yet; the message names the command that writes it."""


class Run:
    """A run directory's tables as attributes, its figures and contact sheets.

    Every artifact of the catalog is an attribute of the same name, read on first
    access and kept: tables (``samples``, ``perturbations``, ``predictions``,
    ``attributions``, ``hypotheses``, ``shape_bias``, …) as
    :class:`pandas.DataFrame`, JSON reports as dicts, folders as paths.
    :attr:`artifacts` lists those the run has.

    Parameters
    ----------
    root : path-like
        The run directory.

    Raises
    ------
    NotARunError
        ``root`` is not a run directory.
    """

    def __init__(self, root: str | os.PathLike[str]):
        self._dir = RunDir.existing(root)
        self._cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Run({str(self.root)!r}, artifacts={self.artifacts})"

    @property
    def root(self) -> os.PathLike[str]:
        """The run directory (an absolute path)."""
        return self._dir.root

    @property
    def artifacts(self) -> list[str]:
        """Names of the artifacts this run has, in catalog order."""
        return [name for name in REGISTRY.catalog.names() if self._dir.has(name)]

    @property
    def config(self) -> RunConfig:
        """The run's configuration (``config.toml``)."""
        if not self._dir.config_path.is_file():
            raise MissingArtifactError(f"{self._dir.config_path}: missing; a run's "
                                       "configuration is written by `localglobal run`")
        return load_config(self._dir.config_path)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *REGISTRY.catalog.names()})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in REGISTRY.catalog:
            raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}; the "
                                 f"run's artifacts: {', '.join(REGISTRY.catalog.names())}")
        return self.read(name)

    def read(self, name: str) -> Any:
        """Artifact ``name`` (a DataFrame for tables), read once and kept.

        Raises
        ------
        MissingArtifactError
            The run does not have it; the message names the command that writes it.
        """
        if name not in self._cache:
            if name not in REGISTRY.catalog:
                raise ConfigError(f"unknown artifact {name!r}; known: "
                                  f"{', '.join(REGISTRY.catalog.names())}")
            try:
                self._cache[name] = self._dir.read(name)
            except MissingInputError as error:
                raise MissingArtifactError(str(error)) from None
        return self._cache[name]

    def _figure_inputs(self) -> FigureInputs:
        if "_figures" not in self._cache:
            config = self.config if self._dir.config_path.is_file() else RunConfig()
            self._cache["_figures"] = FigureInputs.from_run(self._dir, config)
        return self._cache["_figures"]

    @property
    def figures(self) -> list[str]:
        """The names :meth:`figure` draws, in report order."""
        return [spec.name for spec in figure_specs(self._figure_inputs())]

    def figure(self, name: str) -> Figure:
        """Draw one of the report's figures from the run's tables.

        Parameters
        ----------
        name : str
            One of :attr:`figures` (``"scramble"``, ``"patch"``, ``"smooth"``,
            ``"shape-bias"``, ``"lrp-regions"``, …).

        Returns
        -------
        matplotlib.figure.Figure
            Shown inline by Jupyter; ``fig.savefig(path)`` writes it.

        Raises
        ------
        ConfigError
            An unknown figure name (the message lists the known ones).
        FigureInputError
            The tables it draws from are missing or empty (run ``localglobal analyze``).
        """
        specs = {spec.name: spec for spec in figure_specs(self._figure_inputs())}
        if name not in specs:
            raise ConfigError(f"unknown figure {name!r}; known: {', '.join(specs)}")
        return specs[name].build()

    def contact_sheet(self, image_id: str, columns: int = 6) -> np.ndarray:
        """One image's contact sheet: the original, every probe, edges, box, heat maps.

        Parameters
        ----------
        image_id : str
            An id from ``samples`` (``run.samples.image_id``).
        columns : int
            Tiles per row.

        Returns
        -------
        numpy.ndarray
            An RGB uint8 image (show it with ``matplotlib.pyplot.imshow``).

        Raises
        ------
        MissingInputError
            The perturb stage has not run.
        UnknownIdError
            No probes of that image; the message lists a few known ids.
        """
        return contact_sheet_of(self._dir, str(image_id), columns)


def load_run(path: str | os.PathLike[str]) -> Run:
    """Open a run directory written by ``localglobal run`` (or ``demo``, or any stage).

    Parameters
    ----------
    path : path-like
        The run directory.

    Returns
    -------
    Run
        Its tables as attributes (``run.predictions``), :meth:`Run.figure` and
        :meth:`Run.contact_sheet`.

    Raises
    ------
    NotARunError
        ``path`` is missing or not a run directory.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.toml").write_text("")
    >>> pd.DataFrame({"image_id": ["a", "b"]}).to_parquet(folder / "samples.parquet")
    >>> run = load_run(folder)
    >>> run.artifacts, len(run.samples)
    (['samples'], 2)
    >>> run.predictions  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    localglobal.api.MissingArtifactError: predictions.parquet: missing; run `localglobal evaluate`
    """
    return Run(path)
