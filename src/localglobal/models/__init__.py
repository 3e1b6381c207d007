"""Models: specs, the built-in catalog, resolving names, building, weights, devices.

- :mod:`~localglobal.models.spec`: :class:`ModelSpec` and its weights sources;
- :mod:`~localglobal.models.model_catalog`: the built-in models and :func:`register_model`;
- :mod:`~localglobal.models.resolve`: names, ``timm:``/``torchvision:`` forms,
  ``[models.NAME]`` entries and user modules → specs;
- :mod:`~localglobal.models.loading`: the architecture with its weights;
- :mod:`~localglobal.models.weights`: where checkpoints come from, and loading them safely;
- :mod:`~localglobal.models.describe`: the ``localglobal models`` table;
- :mod:`~localglobal.models.devices`: the device a model runs on;
- :mod:`~localglobal.models.preprocessing`: the ImageNet normalisation constants.

Importing the package imports neither torch nor timm.

>>> from localglobal.models import load_model, resolve_model
>>> spec = resolve_model("resnet50")
>>> spec.weights, spec.canonizer
('torchvision:IMAGENET1K_V1', 'resnet')
"""

from localglobal.models.describe import describe_models
from localglobal.models.loading import load_model, weights_cached, weights_path
from localglobal.models.model_catalog import list_models, register_model
from localglobal.models.resolve import model_fingerprints, resolve_model
from localglobal.models.spec import ModelSpec
from localglobal.models.weights import fetch_weights, load_checkpoint

__all__ = [
    "ModelSpec",
    "describe_models",
    "fetch_weights",
    "list_models",
    "load_checkpoint",
    "load_model",
    "model_fingerprints",
    "register_model",
    "resolve_model",
    "weights_cached",
    "weights_path",
]
