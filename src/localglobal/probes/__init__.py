"""Probes: what an image becomes to test a model (scrambled, patched, smoothed, filtered,
eidolons, …), one module per probe, and Canny edges.

The package itself is callable: ``localglobal.probes()`` lists every probe with its
levels (:func:`localglobal.probes.catalog.probe_table`).
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _ProbesPackage(types.ModuleType):
    """The probes package, callable as ``localglobal.probes()``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from localglobal.probes.catalog import probe_table

        return probe_table(*args, **kwargs)


sys.modules[__name__].__class__ = _ProbesPackage
