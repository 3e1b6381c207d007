"""localglobal: how much do image classifiers rely on local features versus global shape?

One import gives the Python API (:mod:`localglobal.api`): every probe by name,
``probe(name, image, level)`` returning ``(image, record)``, and ``probes()`` listing
them with their levels; the thesis's probes also as functions of arrays
(:func:`scramble`, :func:`patch`, :func:`smooth`, :func:`removed_detail`, :func:`edges`)
and batched on torch tensors (:func:`scramble_batch`, :func:`patch_batch`,
:func:`build_probes`); :func:`load_run`, whose :class:`Run` has the run's tables as
attributes and draws its figures; :func:`evaluate` and :func:`explain` for models in
memory; and :func:`demo_run`, the whole pipeline on the embedded toy world, loaded as a
:class:`Run`.

>>> import localglobal as lg                       # doctest: +SKIP
>>> run = lg.load_run("runs/demo")                 # doctest: +SKIP
>>> run.predictions.groupby("model")["correct"].mean()   # doctest: +SKIP

The pipeline itself is a chain of stages (annotations → index → perturb/edges →
evaluate → attribute → analyze → report) that communicate through files in a run
directory; see :mod:`localglobal.run` and the ``localglobal`` command line. Importing
the package is light: the API (and torch) load on first use of one of its names.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = (
    "CannySettings", "EdgeRecord", "Explanation", "MissingInputError", "ModelRefused",
    "PatchRecord", "Run", "ScrambleRecord", "Settings", "SmoothRecord", "build_probes",
    "edges", "evaluate", "explain", "guess_canonizer", "load_run", "patch", "patch_batch",
    "probe", "removed_detail", "scramble", "scramble_batch", "smooth", "to_input_frame",
)

_ON_TOP = {"demo_run": "localglobal.demo"}
"""Public names of the modules above the API: the demo, from Python."""

__all__ = ["__version__", "probes", *_API, *_ON_TOP]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module("localglobal.api"), name)
    if name == "probes":  # the callable subpackage: localglobal.probes() lists them
        return importlib.import_module("localglobal.probes")
    if name in _ON_TOP:
        return getattr(importlib.import_module(_ON_TOP[name]), name)
    raise AttributeError(f"module 'localglobal' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "probes", *_API, *_ON_TOP})
