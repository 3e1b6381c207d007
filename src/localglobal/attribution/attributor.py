"""Running a composite and its canonizer on batches: images in, relevance maps out.

:class:`Attributor` explains uint8 images (or normalised tensors) batch by batch on a
device; running out of device memory halves the batch and goes on. A model is
refused (:class:`ModelRefused`) when an LRP composite would attribute it wrongly: it
names no canonizer, or its canonizer leaves BatchNorm layers unfolded or finds none
of its residual blocks (:func:`check_fit`).

>>> attributor = Attributor("epsilon-plus-flat", "resnet", 0.1, mean, std,
...                         torch.device("cpu"), batch_size=16)      # doctest: +SKIP
>>> with attributor.registered(model, "resnet50"):                   # doctest: +SKIP
...     maps, targets, logits = attributor(model, images, None)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from localglobal.attribution.canonizers import (
    RESIDUAL_CANONIZERS,
    get_canonizers,
    residual_sums,
    unmerged_batch_norms,
)
from localglobal.attribution.gradients import explain_gradient
from localglobal.attribution.lrp import (
    GRADIENT_METHODS,
    Explanation,
    explain_registered,
    is_lrp,
    make_composite,
    resolve_composite,
)
from localglobal.errors import ConfigError


class ModelRefused(ConfigError):
    """A model that cannot be attributed faithfully (no canonizer, or one that misfits)."""


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception is a device out-of-memory error (CUDA, MPS or CPU)."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and (
        "out of memory" in message or "can't allocate memory" in message
    )


def free_device_memory(device: torch.device) -> None:
    """Return cached blocks of ``device``'s allocator (after running out, or per model)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def refuse_without_canonizer(name: str, arch: str, canonizer: str | None,
                             composite: str) -> None:
    """Refuse an LRP composite for a model whose spec names no canonizer.

    Raises
    ------
    ModelRefused
        ``composite`` applies LRP rules and ``canonizer`` is None: its BatchNorm and
        skip connections would be attributed wrongly.
    """
    if is_lrp(composite) and canonizer is None:
        raise ModelRefused(
            f"model {name!r} ({arch}) has no LRP canonizer, so LRP composite "
            f"{composite!r} would attribute it wrongly; set attribute.composite = \"auto\" "
            f"(LRP where a canonizer fits, else gradient × input) or \"gradient-x-input\", "
            f"\"integrated-gradients\" or \"smoothgrad\", which fit any architecture; only "
            f"for a torchvision ResNet, VGG or an SE-ResNet(X) set [models.{name}] "
            f"canonizer = \"resnet\", \"vgg\" or \"seresnet\"")


@dataclass
class Attributor:
    """Explains batches on a device, halving the batch when memory runs out.

    Attributes
    ----------
    composite : str
        A key of :data:`~localglobal.attribution.lrp.COMPOSITES`; ``"auto"`` becomes
        the method it chooses for ``canonizer`` (see
        :func:`~localglobal.attribution.lrp.resolve_composite`).
    canonizer : str or None
        A key of :data:`~localglobal.attribution.canonizers.CANONIZERS` (None for
        gradient × input).
    epsilon : float
        ε of the composite.
    mean, std : tuple of float
        The model's input normalisation.
    device : torch.device
        Where the model runs.
    batch_size : int
        Images per forward pass; halved on running out of memory.
    halvings : int
        How often the batch was halved.
    """

    composite: str
    canonizer: str | None
    epsilon: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    device: torch.device
    batch_size: int
    halvings: int = 0

    def __post_init__(self) -> None:
        self.composite = resolve_composite(self.composite, self.canonizer)

    @property
    def lrp(self) -> bool:
        """Whether the composite applies LRP rules."""
        return is_lrp(self.composite)

    def normalise(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """N×H×W×3 uint8 (an array, or a tensor anywhere) → N×3×H×W float32 normalised,
        on the device."""
        x = images if isinstance(images, torch.Tensor) \
            else torch.from_numpy(np.ascontiguousarray(images))
        x = x.to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean, device=self.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=self.device).view(1, 3, 1, 1)
        return x.sub_(mean).div_(std)

    @contextlib.contextmanager
    def registered(self, model: torch.nn.Module, name: str) -> Iterator[None]:
        """Register the composite (and its canonizers) on ``model`` for many batches.

        Raises
        ------
        ModelRefused
            The canonizer leaves BatchNorm layers unfolded, or a residual canonizer
            finds no residual block, so it does not fit the architecture.
        """
        if not self.lrp:
            yield
            return
        canonizers = get_canonizers(self.canonizer) if self.canonizer else []
        composite = make_composite(self.composite, canonizers, epsilon=self.epsilon,
                                   mean=self.mean, std=self.std)
        with composite.context(model):  # type: ignore[union-attr]
            self._check_canonized(model, name)
            yield

    def _check_canonized(self, model: torch.nn.Module, name: str) -> None:
        missed = unmerged_batch_norms(model)
        if missed:
            raise ModelRefused(
                f"model {name!r}: canonizer {self.canonizer!r} does not fit its "
                f"architecture ({len(missed)} BatchNorm layers left unfolded, e.g. "
                f"{missed[0]}); name the right canonizer in [models.{name}] canonizer")
        if self.canonizer in RESIDUAL_CANONIZERS and residual_sums(model) == 0:
            raise ModelRefused(
                f"model {name!r}: canonizer {self.canonizer!r} found none of its "
                "residual blocks, so their additions would not split relevance; "
                f"name the right canonizer in [models.{name}] canonizer")

    def check_fit(self, model: torch.nn.Module, name: str) -> None:
        """Register and remove the composite once, to refuse a misfitting canonizer.

        The check depends on the architecture alone, so ``model`` may be an unweighted
        build of it.

        Raises
        ------
        ModelRefused
            See :meth:`registered`.
        """
        with self.registered(model, name):
            pass

    def _once(self, model: torch.nn.Module, x: torch.Tensor,
              targets: torch.Tensor | None) -> Explanation:
        if self.composite in GRADIENT_METHODS:
            return explain_gradient(model, x, targets, self.composite)
        return explain_registered(model, x, targets, lrp=True)

    def __call__(self, model: torch.nn.Module, x: torch.Tensor | np.ndarray,
                 targets: torch.Tensor | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Explain ``x`` batch by batch.

        Parameters
        ----------
        model : torch.nn.Module
            The model, its composite registered (:meth:`registered`).
        x : torch.Tensor or numpy.ndarray
            A normalised N×3×H×W float tensor on the device, or N×H×W×3 uint8 images
            (an array, or a tensor on any device), which are then moved and normalised
            one batch at a time, so that running out of memory while copying them
            halves the batch too.
        targets : torch.Tensor, optional
            N class indices, or None for the predicted classes.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray, numpy.ndarray)
            Channel-summed maps (N×H×W float32), targets (N int64), target logits
            (N float64).
        """
        maps: list[np.ndarray] = []
        target_out: list[np.ndarray] = []
        logits: list[np.ndarray] = []
        start = 0
        while start < x.shape[0]:
            stop = min(start + self.batch_size, x.shape[0])
            part = None if targets is None else targets[start:stop]
            try:
                result = self._once(model, self._batch(x, start, stop), part)
            except (RuntimeError, torch.cuda.OutOfMemoryError) as error:
                if not is_out_of_memory(error) or self.batch_size == 1:
                    raise
                free_device_memory(self.device)
                self.batch_size = max(1, self.batch_size // 2)
                self.halvings += 1
                continue
            maps.append(result.relevance.sum(dim=1).float().cpu().numpy())
            target_out.append(result.targets.cpu().numpy())
            logits.append(result.target_logits.float().cpu().numpy())
            start = stop
        return (np.concatenate(maps), np.concatenate(target_out).astype(np.int64),
                np.concatenate(logits).astype(np.float64))

    def _batch(self, x: Any, start: int, stop: int) -> torch.Tensor:
        raw = isinstance(x, np.ndarray) or x.dtype == torch.uint8
        return self.normalise(x[start:stop]) if raw else x[start:stop]
