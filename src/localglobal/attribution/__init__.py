"""Attribution and where relevance falls relative to object edges and boxes.

- :mod:`~localglobal.attribution.methods`: every method on zennit's attributors — LRP
  composites (:data:`COMPOSITES`) and gradient methods (:data:`METHODS`) by name;
- :mod:`~localglobal.attribution.canonizers`: :func:`get_canonizers` for ResNet, VGG
  and SE-ResNet/SE-ResNeXt architectures (:data:`CANONIZERS`);
- :mod:`~localglobal.attribution.names`: the name lookup both registries share;
- :mod:`~localglobal.attribution.explainer`: a method on batches, out-of-memory batch
  halving, refusing models LRP would attribute wrongly, and :func:`explain`;
- :mod:`~localglobal.attribution.controls`: the random-weights and shuffled-edges
  controls;
- :mod:`~localglobal.attribution.regions`: the thesis's region statistics and
  localisation metrics of one relevance map;
- :mod:`~localglobal.attribution.heatmap`: overlays of relevance, edges and box;
- :mod:`~localglobal.attribution.stage_inputs`, :mod:`~localglobal.attribution.passes`,
  :mod:`~localglobal.attribution.outputs`: what the ``attribute`` stage
  (:mod:`localglobal.stages.attribute`) reads, runs and writes.
"""

from localglobal.attribution.canonizers import CANONIZERS, get_canonizers, guess_canonizer
from localglobal.attribution.controls import CONTROLS, derangement, randomize_weights
from localglobal.attribution.explainer import ModelRefused, explain
from localglobal.attribution.heatmap import overlay
from localglobal.attribution.methods import (
    COMPOSITES,
    METHODS,
    Explanation,
    Settings,
    input_bounds,
    make_composite,
)
from localglobal.attribution.outputs import load_relevance
from localglobal.attribution.regions import RegionStatistics, region_statistics
from localglobal.errors import UnknownNameError

__all__ = [
    "CANONIZERS",
    "COMPOSITES",
    "CONTROLS",
    "METHODS",
    "Explanation",
    "ModelRefused",
    "RegionStatistics",
    "Settings",
    "UnknownNameError",
    "derangement",
    "explain",
    "get_canonizers",
    "guess_canonizer",
    "input_bounds",
    "load_relevance",
    "make_composite",
    "overlay",
    "randomize_weights",
    "region_statistics",
]
