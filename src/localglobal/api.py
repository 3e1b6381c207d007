"""The public Python API: probes on arrays, a run's tables and figures, models in memory.

Everything here is also importable from the package itself (``localglobal.scramble``,
``localglobal.load_run``, …), and each function is documented where it is defined; this
module only gathers them. Probe functions take an H×W×3 uint8 RGB array and return
``(image, record)``: the probed image (same shape, uint8) and a small frozen record of
what was done (the permutation, the rectangles, the thresholds), whose ``params()`` is
what ``perturbations.parquet`` stores. They never touch files. The pipeline applies them
in the 224×224 model-input frame; :func:`to_input_frame` brings any image there, exactly
as the pipeline does.

>>> import numpy as np
>>> import localglobal as lg
>>> photo = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
>>> image = lg.to_input_frame(photo, resize=256, crop=224)
>>> scrambled, record = lg.scramble(image, block=56, seed=1)
>>> scrambled.shape, len(record.permutation)
((224, 224, 3), 16)
>>> patched, record = lg.patch(image)
>>> patched.dtype, len(record.rects)
(dtype('uint8'), 9)

A run's tables are attributes of :func:`load_run`'s :class:`Run`, named as in the
artifact catalog (``run.predictions``, ``run.attributions``, ``run.shape_bias``);
``run.figure("scramble")`` draws a figure and ``run.contact_sheet(image_id)`` returns
one image's contact sheet. :func:`evaluate` and :func:`explain` work on an
``nn.Module`` and a batch of images in memory, with the checks of the command line.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from localglobal.analysis.figure_inputs import FigureInputs
from localglobal.analysis.figure_specs import figure_specs
from localglobal.attribution.canonizers import guess_canonizer
from localglobal.attribution.explainer import ModelRefused, explain
from localglobal.attribution.methods import Explanation, Settings
from localglobal.config import RunConfig, load_config
from localglobal.errors import MissingInputError, UnknownNameError
from localglobal.evaluation.inference import evaluate
from localglobal.io.images import to_input_frame
from localglobal.pipeline.rundir import RunDir
from localglobal.probes.batched import build_probes
from localglobal.probes.canny import CannySettings, EdgeRecord
from localglobal.probes.canny import auto_canny as edges
from localglobal.probes.catalog import apply_probe as probe
from localglobal.probes.patch import PatchRecord, patch, patch_batch
from localglobal.probes.scramble import ScrambleRecord, scramble, scramble_batch
from localglobal.probes.smooth import SmoothRecord, removed_detail, smooth
from localglobal.report.contact_sheet import contact_sheet_of
from localglobal.stages import REGISTRY

__all__ = [
    "CannySettings", "EdgeRecord", "Explanation", "MissingInputError", "ModelRefused",
    "PatchRecord", "Run", "ScrambleRecord", "Settings", "SmoothRecord", "build_probes",
    "edges", "evaluate", "explain", "guess_canonizer", "load_run", "patch", "patch_batch",
    "probe", "removed_detail", "scramble", "scramble_batch", "smooth", "to_input_frame",
]


# --- runs -------------------------------------------------------------------------------


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
    MissingInputError
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
            raise MissingInputError(f"{self._dir.config_path}: missing; a run's "
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
        MissingInputError
            The run does not have it; the message names the command that writes it.
        """
        if name not in self._cache:
            if name not in REGISTRY.catalog:
                raise UnknownNameError(f"unknown artifact {name!r}; known: "
                                       f"{', '.join(REGISTRY.catalog.names())}")
            self._cache[name] = self._dir.read(name)
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
        UnknownNameError
            An unknown figure name (the message lists the known ones).
        FigureError
            The tables it draws from are missing or empty (run ``localglobal analyze``).
        """
        specs = {spec.name: spec for spec in figure_specs(self._figure_inputs())}
        if name not in specs:
            raise UnknownNameError(f"unknown figure {name!r}; known: {', '.join(specs)}")
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
        UnknownNameError
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
    MissingInputError
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
    localglobal.errors.MissingInputError: predictions.parquet: missing; run `localglobal evaluate`
    """
    return Run(path)
