"""What a model is: :class:`ModelSpec`, the weights sources, the model errors.

A :class:`ModelSpec` says everything needed to run a model the way it was trained:
the architecture builder, the weights source, the preprocessing (mean/std, resize,
crop, interpolation), the label space of its outputs, and the LRP canonizer.

Architectures (``arch``):
    ``torchvision:NAME``  a torchvision classification builder (``resnet50``);
    ``timm:NAME``         a timm model (``legacy_seresnet50``);
    ``package.module:function``  any importable builder; it is called with
        ``num_classes`` (the size of the label space) when it takes that argument.

Weights sources (``weights``):
    ``torchvision:ENUM``  torchvision's weights (``IMAGENET1K_V1``, ``DEFAULT``);
    ``timm:NAME.TAG``     timm's pretrained weights (``legacy_seresnet50.in1k``);
    a URL                 downloaded into the cache and verified against ``sha256``;
    ``package:MODULE/PATH`` a file inside an installed package (verified against
                          ``sha256``; :mod:`localglobal.models.packaged`);
    a path                a local checkpoint, used where it is;
    ``random``            random initialisation, seeded (reproducible);
    none                  no known source: the configuration must give one.

>>> spec = ModelSpec("net", "torchvision:resnet18", "random", checkpoint_format="random")
>>> spec.weights_kind, spec.crop
('random', 224)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from localglobal.errors import ConfigError
from localglobal.io import download as _download
from localglobal.io.checksums import normalise_sha256
from localglobal.models import weights as _weights
from localglobal.models.packaged import is_package_source
from localglobal.models.preprocessing import IMAGENET_MEAN, IMAGENET_STD, INTERPOLATIONS

CANONIZERS: tuple[str, ...] = ("resnet", "vgg", "seresnet")
"""LRP canonizers a spec may name (see :mod:`localglobal.attribution.canonizers`)."""

CHECKPOINT_FORMATS: tuple[str, ...] = ("torchvision", "timm", "state_dict", "dataparallel",
                                       "in-order", "random", "none")
"""How a spec's weights are stored."""

RANDOM = "random"
"""The weights source of a randomly initialised (seeded) model."""


@dataclass(frozen=True)
class ModelSpec:
    """How to build, load and feed one model.

    Attributes
    ----------
    name : str
        Registry name (``"sin-resnet50"``).
    arch : str
        Architecture builder: ``torchvision:NAME``, ``timm:NAME`` or
        ``package.module:function``.
    weights : str or None
        Weights source (see the module docstring); ``None`` when none is known and
        the configuration has to give one.
    sha256 : str or None
        Expected SHA-256 of a downloaded or local weights file: a full 64-digit
        digest or a leading prefix (the torch hub convention).
    label_space : str
        Name of the label space of the model's outputs.
    mean, std : tuple of float
        Per-channel normalisation of [0, 1] RGB inputs.
    resize : int
        Shorter side before the centre crop, pixels.
    crop : int
        Side of the square input, pixels.
    interpolation : str
        ``bilinear``, ``bicubic`` or ``nearest``.
    canonizer : str or None
        LRP canonizer for the architecture (``resnet``, ``vgg``, ``seresnet``),
        ``None`` where LRP is not supported.
    checkpoint_format : str
        How the weights are stored: ``torchvision`` or ``timm`` (the library's own),
        ``state_dict`` (a ``torch.save`` file), ``dataparallel`` (a training checkpoint
        of a ``DataParallel`` model: ``state_dict`` entry, ``module.`` or
        ``features.module.`` key prefixes), ``in-order`` (a state dict of another
        layout whose tensors map, in order, onto the architecture's), ``random``, or
        ``none``.
    description : str
        One line for people (what the model is, published figures).

    Raises
    ------
    ConfigError
        A field out of range (the message names the model and the field).
    """

    name: str
    arch: str
    weights: str | None = None
    sha256: str | None = None
    label_space: str = "imagenet-1k"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: int = 256
    crop: int = 224
    interpolation: str = "bilinear"
    canonizer: str | None = None
    checkpoint_format: str = "state_dict"
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        where = f"model {self.name!r}"
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ConfigError(f"{where}: mean and std need three values each")
        if any(v <= 0 for v in self.std):
            raise ConfigError(f"{where}: std must be positive, got {self.std}")
        if self.canonizer is not None and self.canonizer not in CANONIZERS:
            raise ConfigError(f"{where}: unknown canonizer {self.canonizer!r}; "
                              f"known: {', '.join(CANONIZERS)} (or none)")
        if self.checkpoint_format not in CHECKPOINT_FORMATS:
            raise ConfigError(f"{where}: unknown checkpoint_format {self.checkpoint_format!r}; "
                              f"known: {', '.join(CHECKPOINT_FORMATS)}")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"{where}: interpolation must be one of "
                              f"{', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        if self.resize < 1 or self.crop < 1:
            raise ConfigError(f"{where}: resize and crop must be positive")
        try:
            normalise_sha256(self.sha256)
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None

    @property
    def weights_kind(self) -> str:
        """``torchvision``, ``timm``, ``url``, ``path``, ``random`` or ``none``."""
        return weights_kind(self.weights)

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the model's outputs, for keying cached results.

        Returns
        -------
        dict
            Every field but the description; for a file source also the file's size
            and modification time, so that a replaced checkpoint invalidates results.
        """
        record = dataclasses.asdict(self)
        record.pop("description")
        if self.weights_kind in {"url", "path"}:
            record["weights_file"] = _weights.weights_fingerprint(self.weights)
        return record


def weights_kind(source: str | None) -> str:
    """Classify a weights source (see the module docstring).

    Parameters
    ----------
    source : str or None
        A ``weights`` value.

    Returns
    -------
    str
        ``none``, ``random``, ``torchvision``, ``timm``, ``package``, ``url`` or ``path``.
    """
    if not source:
        return "none"
    if source == RANDOM:
        return "random"
    if source.startswith("torchvision:"):
        return "torchvision"
    if source.startswith("timm:"):
        return "timm"
    if is_package_source(source):
        return "package"
    if _download.is_url(source):
        return "url"
    return "path"


def format_for(source: str | None, previous: str = "state_dict") -> str:
    """The checkpoint format of a new weights source given to a spec.

    A file keeps the spec's file format (a local copy of a ``DataParallel`` checkpoint
    is still one); a library or random source names its own format.
    """
    kind = weights_kind(source)
    if kind in {"url", "path", "package"}:
        kept = {"state_dict", "dataparallel", "in-order"}
        return previous if previous in kept else "state_dict"
    return {"none": "none"}.get(kind, kind)


__all__ = [
    "CANONIZERS",
    "CHECKPOINT_FORMATS",
    "RANDOM",
    "ModelSpec",
    "format_for",
    "weights_kind",
]
