"""Models: the registry of model specs, and their weights (download, cache, verify, load).

>>> from localglobal.models import load_model, resolve_model
>>> spec = resolve_model("resnet50")
>>> spec.weights, spec.canonizer
('torchvision:IMAGENET1K_V1', 'resnet')
"""

from localglobal.models.registry import (
    ModelLoadError,
    ModelSpec,
    UnknownModelError,
    describe_models,
    list_models,
    load_model,
    register_model,
    resolve_model,
)
from localglobal.models.weights import (
    CheckpointMismatchError,
    ChecksumError,
    WeightsError,
    WeightsUnavailableError,
    cache_dir,
    fetch_weights,
    load_checkpoint,
)

__all__ = [
    "CheckpointMismatchError",
    "ChecksumError",
    "ModelLoadError",
    "ModelSpec",
    "UnknownModelError",
    "WeightsError",
    "WeightsUnavailableError",
    "cache_dir",
    "describe_models",
    "fetch_weights",
    "list_models",
    "load_checkpoint",
    "load_model",
    "register_model",
    "resolve_model",
]
