"""Explaining images on a device: batches, out-of-memory halving, refusals, and :func:`explain`.

:class:`Explainer` runs one method (:mod:`localglobal.attribution.methods`) batch by
batch on a device; running out of device memory halves the batch and goes on. A model
is refused (:class:`ModelRefused`) when an LRP composite would attribute it wrongly
(:meth:`Explainer.attach`). :func:`explain` is the whole path for an in-memory model; the
``attribute`` stage runs the same :class:`Explainer` over a run's items.

>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
...                           torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))
>>> result = explain(net, torch.randn(2, 3, 8, 8))
>>> result.method, result.maps.shape
('gradient-x-input', (2, 8, 8))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from torch import nn

from localglobal.attribution.canonizers import (
    RESIDUAL_CANONIZERS,
    get_canonizers,
    guess_canonizer,
    residual_sums,
    unmerged_batch_norms,
)
from localglobal.attribution.methods import (
    METHODS,
    Explanation,
    Settings,
    as_targets,
    attribute_batch,
    is_lrp,
    make_composite,
    method_name,
    resolve_method,
)
from localglobal.errors import ConfigError
from localglobal.models.devices import device_of
from localglobal.models.preprocessing import checked_images, model_input

Images = torch.Tensor | np.ndarray
"""N×3×H×W normalised float images, or N×H×W×3 uint8 RGB (an array or a tensor)."""


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


def _refuse_misfit(model: nn.Module, name: str, canonizer: str | None, method: str) -> None:
    if canonizer is None:
        raise ModelRefused(
            f"model {name!r} has no LRP canonizer, so LRP composite {method!r} would "
            f"attribute it wrongly; set attribute.composite = \"auto\" (LRP where a "
            f"canonizer fits, else gradient × input) or \"gradient-x-input\", "
            f"\"integrated-gradients\" or \"smoothgrad\", which fit any architecture; only "
            f"for a torchvision ResNet, VGG or an SE-ResNet(X) set [models.{name}] "
            f"canonizer = \"resnet\", \"vgg\" or \"seresnet\"")
    missed = unmerged_batch_norms(model)
    if missed:
        raise ModelRefused(
            f"model {name!r}: canonizer {canonizer!r} does not fit its architecture "
            f"({len(missed)} BatchNorm layers left unfolded, e.g. {missed[0]}); name the "
            f"right canonizer in [models.{name}] canonizer")
    if canonizer in RESIDUAL_CANONIZERS and residual_sums(model) == 0:
        raise ModelRefused(
            f"model {name!r}: canonizer {canonizer!r} found none of its residual blocks, "
            "so their additions would not split relevance; name the right canonizer in "
            f"[models.{name}] canonizer")


Explain = Callable[[Images, "torch.Tensor | Sequence[int] | None"], Explanation]
"""``explain(images, targets) -> Explanation`` on a model (see :meth:`Explainer.attach`)."""


@dataclass
class Explainer:
    """Explains batches on a device, halving the batch when memory runs out.

    Attributes
    ----------
    method : str
        A name of :data:`~localglobal.attribution.methods.NAMES`; ``"auto"`` becomes the
        method it chooses for ``canonizer``.
    canonizer : str or None
        A key of :data:`~localglobal.attribution.canonizers.CANONIZERS` (used by LRP only).
    device : torch.device
        Where the model runs.
    batch_size : int
        Images per forward pass; halved on running out of memory.
    settings : Settings
        ε and the other numbers of the method, and the model's normalisation.
    halvings : int
        How often the batch was halved.
    """

    method: str
    canonizer: str | None
    device: torch.device
    batch_size: int
    settings: Settings = field(default_factory=Settings)
    halvings: int = 0

    def __post_init__(self) -> None:
        self.method = resolve_method(self.method, self.canonizer)

    @property
    def lrp(self) -> bool:
        """Whether the method applies LRP rules."""
        return is_lrp(self.method)

    @property
    def name(self) -> str:
        """The ``method`` column (``lrp-epsilon-plus-flat``, ``gradient-x-input``)."""
        return method_name(self.method)

    @contextmanager
    def attach(self, model: nn.Module, name: str) -> Iterator[Explain]:
        """Register the method (an LRP composite and its canonizer) on ``model``.

        Yields
        ------
        callable
            ``explain(images, targets) -> Explanation`` for as many batches as wanted;
            the model is as it was once the block ends.

        Raises
        ------
        ModelRefused
            An LRP composite would attribute ``model`` wrongly: there is no canonizer
            (its BatchNorm and skip connections would be attributed as they are), or
            the canonizer does not fit the architecture (it leaves BatchNorm layers
            unfolded, or a residual canonizer finds no residual block).
        """
        composite = None
        if self.lrp:
            canonizers = get_canonizers(self.canonizer) if self.canonizer else []
            composite = make_composite(self.method, canonizers, self.settings)
        method = METHODS["lrp" if self.lrp else self.method]
        attributor = method.make(model, composite, self.settings)
        with attributor:
            if self.lrp:
                _refuse_misfit(model, name, self.canonizer, self.method)
            yield partial(self._explain, partial(attribute_batch, attributor, method))

    def check_fit(self, model: nn.Module, name: str) -> None:
        """Register and remove the method once, to refuse a misfitting canonizer.

        The check depends on the architecture alone, so ``model`` may be an unweighted
        build of it.
        """
        with self.attach(model, name):
            pass

    def _explain(self, once: Callable[..., Explanation], images: Images,
                 targets: torch.Tensor | Sequence[int] | None) -> Explanation:
        parts: list[Explanation] = []
        wanted = as_targets(targets, images.shape[0])
        start = 0
        while start < images.shape[0]:
            stop = min(start + self.batch_size, images.shape[0])
            part = None if wanted is None else wanted[start:stop]
            try:
                batch = model_input(images[start:stop], self.settings.mean, self.settings.std,
                                    self.device)
                parts.append(once(batch, part, self.name))
            except (RuntimeError, torch.cuda.OutOfMemoryError) as error:
                if not is_out_of_memory(error) or self.batch_size == 1:
                    raise
                free_device_memory(self.device)
                self.batch_size = max(1, self.batch_size // 2)
                self.halvings += 1
                continue
            start = stop
        if not parts:
            return Explanation(np.zeros((0, *images.shape[1:3]), np.float32),
                               np.zeros(0, np.int64), np.zeros(0), self.name)
        return Explanation.concatenate(parts, self.name)


def explain(model: nn.Module, images: Images,
            targets: Sequence[int] | torch.Tensor | None = None, *, composite: str = "auto",
            canonizer: str | None = None, settings: Settings | None = None,
            batch_size: int = 16, device: str | torch.device | None = None) -> Explanation:
    """Relevance maps of an in-memory model, with the ``attribute`` stage's checks and refusals.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier returning N×K logits; explained in eval mode (restored afterwards).
    images : torch.Tensor or numpy.ndarray
        N×3×H×W normalised float images, or N×H×W×3 uint8 RGB (normalised with the
        settings' ``mean`` and ``std``).
    targets : sequence of int, optional
        N classes to explain; default each image's predicted class.
    composite : str
        A method of :data:`~localglobal.attribution.methods.NAMES`: an LRP composite, a
        gradient method, or ``"auto"`` (LRP where a canonizer fits, else gradient × input).
    canonizer : str, optional
        ``"resnet"``, ``"vgg"`` or ``"seresnet"``; default
        :func:`~localglobal.attribution.canonizers.guess_canonizer`.
    settings : Settings, optional
        ε, γ, the steps and samples of the gradient methods, and the model's input
        normalisation (ImageNet's by default).
    batch_size : int
        Images per pass (halved when the device runs out of memory).
    device : str, optional
        Where to run; default the model's device.

    Returns
    -------
    Explanation
        Channel-summed maps, explained classes and their logits, and the method.

    Raises
    ------
    ModelRefused
        An LRP composite that would attribute the model wrongly (:meth:`Explainer.attach`).
    UnknownNameError
        An unknown composite or canonizer.
    ValueError
        Targets that do not match the images or the model's classes.

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
    >>> explain(net, torch.randn(2, 3, 2, 2), composite="epsilon-plus-flat")
    ... # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    localglobal.attribution.explainer.ModelRefused: model 'Sequential' has no LRP canonizer
    """
    canonizer = canonizer if canonizer is not None else guess_canonizer(model)
    name = type(model).__name__
    explainer = Explainer(composite, canonizer, device_of(model, device), int(batch_size),
                          settings or Settings())
    images = checked_images(images)
    was_training = model.training
    model.eval()
    try:
        with explainer.attach(model, name) as run:
            return run(images, targets)
    finally:
        model.train(was_training)
