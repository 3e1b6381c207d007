"""A model on its device, classifying uint8 image batches into logits.

:class:`Classifier` loads its model on first use (a model whose every shard is
already finished is never loaded), puts it in eval mode and channels-last memory on
the device, checks once that it outputs one logit per class of its label space, and
then turns N×H×W×3 uint8 batches into N×C float32 logits under
``torch.inference_mode`` (bfloat16 autocast on CUDA when asked). :func:`evaluate`
classifies images of an in-memory model, scored as the evaluate stage scores them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from localglobal.errors import ConfigError, LabelSpaceError
from localglobal.evaluation.scoring import score_logits
from localglobal.models.devices import device_of
from localglobal.models.loading import load_model
from localglobal.models.preprocessing import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    checked_images,
    model_input,
    normalise,
)
from localglobal.models.spec import ModelSpec


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[Any]:
    """bfloat16 autocast on CUDA when ``bf16``; otherwise nothing changes."""
    if bf16 and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_model(model: torch.nn.Module, device: torch.device, *,
                  channels_last: bool = True) -> torch.nn.Module:
    """``model`` in eval mode on ``device``, in channels-last memory when asked."""
    model = model.to(device).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: pick the fastest kernels
    return model


def check_outputs(spec: ModelSpec, logits: torch.Tensor, n_classes: int, space: str) -> None:
    """Refuse logits whose number is not the size of the model's label space.

    Raises
    ------
    LabelSpaceError
        Naming the model, both numbers and the key to set.
    """
    if logits.numel() and logits.shape[1] != n_classes:
        raise LabelSpaceError(
            f"model {spec.name!r} outputs {logits.shape[1]} logits but its label space "
            f"{space!r} has {n_classes} classes; set label_space in [models.{spec.name}] "
            "to the space its outputs are in")


class Classifier:
    """One model, loaded when first asked for logits, on one device.

    Parameters
    ----------
    spec : ModelSpec
        The model.
    device : torch.device
        Where it runs.
    n_classes : int
        The size of its label space (its outputs are checked against it).
    space : str
        The label space's name, for messages.
    channels_last, bf16 : bool
        Memory layout and autocast (bf16 applies on CUDA only).
    load : callable, optional
        ``load(spec) -> torch.nn.Module`` on the CPU; default
        :func:`~localglobal.models.loading.load_model`.

    Attributes
    ----------
    images : int
        Images classified so far.
    """

    def __init__(self, spec: ModelSpec, device: torch.device, *, n_classes: int, space: str,
                 channels_last: bool = True, bf16: bool = False,
                 load: Callable[[ModelSpec], torch.nn.Module] | None = None):
        self.spec, self.device = spec, device
        self.n_classes, self.space = n_classes, space
        self.channels_last = channels_last
        self.bf16 = bool(bf16 and device.type == "cuda")
        self._load = load or (lambda s: load_model(s, device="cpu"))
        self._model: torch.nn.Module | None = None
        self.images = 0

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded."""
        return self._model is not None

    def model(self) -> torch.nn.Module:
        """The model on its device, loaded and checked on the first call.

        Raises
        ------
        LabelSpaceError
            Its outputs are not one logit per class of its label space.
        LocalglobalError
            It could not be built or given its weights (see
            :func:`~localglobal.models.loading.load_model`).
        """
        if self._model is None:
            model = prepare_model(self._load(self.spec), self.device,
                                  channels_last=self.channels_last)
            side = self.spec.crop
            probe = torch.zeros((1, side, side, 3), dtype=torch.uint8)
            check_outputs(self.spec, self._forward(model, probe), self.n_classes, self.space)
            self._model = model
        return self._model

    def _forward(self, model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
        x = normalise(images, self.spec.mean, self.spec.std, self.device,
                      channels_last=self.channels_last)
        with torch.inference_mode(), autocast(self.device, self.bf16):
            return model(x).float()

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """N×C float32 logits (on the device) of an N×H×W×3 uint8 batch."""
        logits = self._forward(self.model(), images)
        check_outputs(self.spec, logits, self.n_classes, self.space)
        self.images += len(images)
        return logits

    def release(self) -> None:
        """Drop the model and return the device memory it held."""
        self._model = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


_SHARED: dict[tuple[Any, ...], Classifier] = {}


def shared_classifier(spec: ModelSpec, device: str, *, n_classes: int, space: str,
                      channels_last: bool = True, bf16: bool = False) -> Classifier:
    """The :class:`Classifier` of these settings, kept until another one is asked for.

    One model at a time stays in memory (in this process, or in one Ray actor), so
    that the passes of one model load it once; :func:`release_classifiers` drops it.
    Parameters as :class:`Classifier` (``device`` by name).
    """
    key = (spec, device, n_classes, space, channels_last, bf16)
    if key not in _SHARED:
        release_classifiers()
        _SHARED[key] = Classifier(spec, torch.device(device), n_classes=n_classes,
                                  space=space, channels_last=channels_last, bf16=bf16)
    return _SHARED[key]


def release_classifiers() -> None:
    """Drop the shared classifier and return its device memory."""
    for classifier in _SHARED.values():
        classifier.release()
    _SHARED.clear()


def evaluate(model: torch.nn.Module, images: torch.Tensor | np.ndarray,
             targets: Sequence[int] | torch.Tensor | None = None, *, batch_size: int = 64,
             device: str | torch.device | None = None, mean: Sequence[float] = IMAGENET_MEAN,
             std: Sequence[float] = IMAGENET_STD) -> pd.DataFrame:
    """Classify a batch of images with an in-memory model, scored as the evaluate stage does.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning N×K logits; run in eval mode (restored afterwards).
    images : torch.Tensor or numpy.ndarray
        N×3×H×W normalised float images, or N×H×W×3 uint8 RGB (normalised with
        ``mean`` and ``std``, values in 0–1 after dividing by 255).
    targets : sequence of int, optional
        N true class indices, in the model's label space.
    batch_size : int
        Images per forward pass.
    device : str, optional
        Where to run; default the model's device.
    mean, std : sequence of float
        Normalisation of uint8 images (ImageNet's by default).

    Returns
    -------
    pandas.DataFrame
        One row per image: ``pred_index, pred_logit, pred_prob`` and, with targets,
        ``true_index, true_logit, true_prob, true_rank`` (1 = top; ties count for the
        true class), ``top5`` and ``correct``, as in ``predictions.parquet``
        (:func:`~localglobal.evaluation.scoring.score_logits`).

    Raises
    ------
    ConfigError
        Images of the wrong shape, or targets that do not match them or the outputs.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 5))
    >>> table = evaluate(net, torch.randn(4, 3, 8, 8), targets=[0, 1, 2, 3])
    >>> len(table), bool(table["true_rank"].between(1, 5).all())
    (4, True)
    """
    run_on = device_of(model, device)
    x = checked_images(images)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = torch.cat([model(model_input(x[i:i + batch_size], mean, std, run_on)).float()
                                for i in range(0, x.shape[0], batch_size)]).cpu()
    finally:
        model.train(was_training)
    if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
        raise ConfigError(f"the model's output must be N×classes, got {tuple(logits.shape)}")
    true = logits.argmax(dim=1) if targets is None else \
        torch.as_tensor(np.asarray(targets), dtype=torch.long).reshape(-1)
    if true.shape[0] != x.shape[0] or torch.any((true < 0) | (true >= logits.shape[1])):
        raise ConfigError(f"targets must be {x.shape[0]} class indices in 0..{logits.shape[1] - 1}")
    scores = score_logits(logits, true, torch.arange(logits.shape[1]))
    columns = ["pred_index", "pred_logit", "pred_prob"]
    if targets is not None:
        scores["true_index"] = true.numpy()
        columns += ["true_index", "true_logit", "true_prob", "true_rank", "top5"]
    table = pd.DataFrame({c: scores[c] for c in columns})
    if targets is not None:
        table["correct"] = table["true_rank"] == 1
    return table


__all__ = [
    "Classifier",
    "autocast",
    "check_outputs",
    "evaluate",
    "prepare_model",
    "release_classifiers",
    "shared_classifier",
]
