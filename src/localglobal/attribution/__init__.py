"""LRP attribution and where relevance falls relative to object edges and boxes.

- :mod:`~localglobal.attribution.lrp`: composites by name, ``lrp.attribute`` and
  :func:`explain`, :func:`randomize_weights` (the model-randomisation control).
- :mod:`~localglobal.attribution.canonizers`: :func:`get_canonizers` for ResNet,
  VGG and SE-ResNet/SE-ResNeXt architectures.
- :mod:`~localglobal.attribution.regions`: the thesis's region statistics and
  localisation metrics of one relevance map.
- :mod:`~localglobal.attribution.heatmap`: overlays of relevance, edges and box.
- :mod:`~localglobal.attribution.attribute`: the ``attribute`` stage (the name is
  the submodule's; the function of that name lives in ``lrp``).
"""

from localglobal.attribution.canonizers import get_canonizers
from localglobal.attribution.heatmap import overlay
from localglobal.attribution.lrp import (
    COMPOSITES,
    Explanation,
    explain,
    input_bounds,
    make_composite,
    randomize_weights,
)
from localglobal.attribution.regions import RegionStatistics, region_statistics

__all__ = [
    "COMPOSITES",
    "Explanation",
    "RegionStatistics",
    "explain",
    "get_canonizers",
    "input_bounds",
    "make_composite",
    "overlay",
    "randomize_weights",
    "region_statistics",
]
