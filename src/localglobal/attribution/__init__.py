"""LRP attribution and where relevance falls relative to object edges and boxes.

- :mod:`~localglobal.attribution.lrp`: composites by name (:data:`COMPOSITES`),
  :func:`explain`, ``lrp.attribute``;
- :mod:`~localglobal.attribution.canonizers`: :func:`get_canonizers` for ResNet, VGG
  and SE-ResNet/SE-ResNeXt architectures (:data:`CANONIZERS`);
- :mod:`~localglobal.attribution.registry`: the name lookup both registries share;
- :mod:`~localglobal.attribution.attributor`: a composite on batches, out-of-memory
  batch halving, refusing models LRP would attribute wrongly;
- :mod:`~localglobal.attribution.controls`: the random-weights and shuffled-edges
  controls;
- :mod:`~localglobal.attribution.regions`: the thesis's region statistics and
  localisation metrics of one relevance map;
- :mod:`~localglobal.attribution.heatmap`: overlays of relevance, edges and box;
- :mod:`~localglobal.attribution.items`, :mod:`~localglobal.attribution.session`,
  :mod:`~localglobal.attribution.shard`, :mod:`~localglobal.attribution.model_run`,
  :mod:`~localglobal.attribution.table`, :mod:`~localglobal.attribution.relevance_store`:
  the pieces of the ``attribute`` stage (:mod:`localglobal.stages.attribute`).
"""

from localglobal.attribution.canonizers import CANONIZERS, get_canonizers
from localglobal.attribution.controls import CONTROLS, derangement, randomize_weights
from localglobal.attribution.heatmap import overlay
from localglobal.attribution.lrp import (
    COMPOSITES,
    Explanation,
    explain,
    input_bounds,
    make_composite,
)
from localglobal.attribution.regions import RegionStatistics, region_statistics
from localglobal.attribution.registry import UnknownNameError
from localglobal.attribution.relevance_store import load_relevance

__all__ = [
    "CANONIZERS",
    "COMPOSITES",
    "CONTROLS",
    "Explanation",
    "RegionStatistics",
    "UnknownNameError",
    "derangement",
    "explain",
    "get_canonizers",
    "input_bounds",
    "load_relevance",
    "make_composite",
    "overlay",
    "randomize_weights",
    "region_statistics",
]
