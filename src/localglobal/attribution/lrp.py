"""Layer-wise relevance propagation with zennit: composites by name, and attribution.

The thesis ran iNNvestigate's ``lrp.sequential_preset_a_flat`` after converting its
PyTorch models to Keras. Its PyTorch equivalent is zennit's ``EpsilonPlusFlat``
with ``epsilon = 0.1``: the flat rule on the first layer, z⁺ (α1β0) on the other
convolutions, ε on the dense layers, BatchNorm folded into the convolutions and
residual sums split in proportion to their summands (both by a canonizer, see
:mod:`localglobal.attribution.canonizers`).

Composites by name (:data:`COMPOSITES`, name → factory):

``"epsilon-plus-flat"`` (default)
    flat / z⁺ / ε — the thesis's preset.
``"epsilon-gamma-box"``
    zᴮ (box) on the first layer, γ = 0.25 on convolutions, ε on dense layers. The
    box is the range of the *normalised* input: ``low = (0 − mean) / std`` and
    ``high = (1 − mean) / std`` per channel (:func:`input_bounds`).
``"epsilon-alpha2-beta1-flat"``
    flat / α2β1 / ε.
``"epsilon"``
    ε on every convolution and dense layer; ``epsilon = 0`` is LRP-0, which in a
    ReLU network equals gradient × input.
``"gradient-x-input"``
    no rules: the plain gradient of the target logit times the input. Canonizers
    are not applied (they exist for LRP rules; the SE canonizer changes gradients).
``"integrated-gradients"``, ``"smoothgrad"``
    gradient methods through zennit's attributors
    (:mod:`localglobal.attribution.gradients`); no rules, no canonizer.
``"auto"``
    per model: ``"epsilon-plus-flat"`` where the model names a canonizer (ResNet,
    VGG and SE families), else ``"gradient-x-input"`` (:func:`resolve_composite`).

Relevance starts at the target's logit (the output relevance is one-hot × logit),
so with conservative rules and no biases the input relevance sums to the logit.

>>> model = torchvision.models.resnet50().eval()              # doctest: +SKIP
>>> relevance = attribute(model, images, targets, "epsilon-plus-flat",
...                       get_canonizers("resnet"))           # doctest: +SKIP
>>> relevance.shape                       # N×3×H×W, like images  # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn
from zennit.canonizers import Canonizer
from zennit.composites import (
    EpsilonAlpha2Beta1Flat,
    EpsilonGammaBox,
    EpsilonPlusFlat,
    LayerMapComposite,
    layer_map_base,
)
from zennit.core import Composite
from zennit.rules import Epsilon
from zennit.types import Convolution

from localglobal.attribution.canonizers import GATE_RULE, ChannelGate
from localglobal.attribution.registry import lookup
from localglobal.models.preprocessing import IMAGENET_MEAN, IMAGENET_STD

GRADIENT_X_INPUT = "gradient-x-input"
"""Gradient × input: no LRP rules (and so no canonizers)."""

INTEGRATED_GRADIENTS = "integrated-gradients"
"""Integrated gradients from a zero (mean-image) baseline."""

SMOOTHGRAD = "smoothgrad"
"""SmoothGrad: the gradient averaged over noisy copies of the input."""

GRADIENT_METHODS = (GRADIENT_X_INPUT, INTEGRATED_GRADIENTS, SMOOTHGRAD)
"""Methods without LRP rules; they need no canonizer and fit any architecture."""

AUTO = "auto"
"""Choose per model: LRP where a canonizer fits, else gradient × input."""

DEFAULT_LRP = "epsilon-plus-flat"
"""The LRP composite ``auto`` chooses (the thesis's preset)."""


def input_bounds(mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The range of a normalised image, per channel.

    Parameters
    ----------
    mean, std : sequence of float
        The per-channel normalisation of images with values in [0, 1].

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        ``(low, high)``, each 1×C×1×1 float64: ``(0 − mean) / std`` and
        ``(1 − mean) / std``, the values of black and white after normalisation.
    """
    mean_t = torch.as_tensor(mean, dtype=torch.float64).reshape(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float64).reshape(1, -1, 1, 1)
    if torch.any(std_t <= 0):
        raise ValueError(f"std must be positive, got {tuple(std)}")
    return (0.0 - mean_t) / std_t, (1.0 - mean_t) / std_t


@dataclass(frozen=True)
class CompositeSettings:
    """The numbers a composite factory needs (see :func:`make_composite`)."""

    canonizers: list[Canonizer]
    epsilon: float
    gamma: float
    stabilizer: float
    mean: Sequence[float]
    std: Sequence[float]
    zero_params: list[str] | None

    @property
    def common(self) -> dict:
        """Keyword arguments every zennit preset takes; every composite gives the SE
        canonizer's gate its pass-through rule."""
        return {"stabilizer": self.stabilizer, "layer_map": [(ChannelGate, GATE_RULE)],
                "zero_params": self.zero_params, "canonizers": self.canonizers}


def _epsilon_plus_flat(s: CompositeSettings) -> Composite:
    return EpsilonPlusFlat(epsilon=s.epsilon, **s.common)


def _epsilon_alpha2_beta1_flat(s: CompositeSettings) -> Composite:
    return EpsilonAlpha2Beta1Flat(epsilon=s.epsilon, **s.common)


def _epsilon_gamma_box(s: CompositeSettings) -> Composite:
    low, high = input_bounds(s.mean, s.std)
    return EpsilonGammaBox(low=low, high=high, epsilon=s.epsilon, gamma=s.gamma, **s.common)


def _epsilon(s: CompositeSettings) -> Composite:
    layer_map = [(ChannelGate, GATE_RULE), *layer_map_base(s.stabilizer),
                 (Convolution, Epsilon(epsilon=s.epsilon, zero_params=s.zero_params)),
                 (nn.Linear, Epsilon(epsilon=s.epsilon, zero_params=s.zero_params))]
    return LayerMapComposite(layer_map=layer_map, canonizers=s.canonizers)


def _no_rules(s: CompositeSettings) -> None:
    return None


COMPOSITES: dict[str, Callable[[CompositeSettings], Composite | None]] = {
    "epsilon-plus-flat": _epsilon_plus_flat,
    "epsilon-gamma-box": _epsilon_gamma_box,
    "epsilon-alpha2-beta1-flat": _epsilon_alpha2_beta1_flat,
    "epsilon": _epsilon,
    GRADIENT_X_INPUT: _no_rules,
    INTEGRATED_GRADIENTS: _no_rules,
    SMOOTHGRAD: _no_rules,
    AUTO: _no_rules,
}
"""Composite factories by name (see the module docstring)."""


def is_lrp(name: str) -> bool:
    """Whether composite ``name`` applies LRP rules (and so needs a canonizer).

    Raises
    ------
    UnknownNameError
        An unknown composite name.
    """
    lookup(COMPOSITES, name, "composite")
    return name not in (*GRADIENT_METHODS, AUTO)


def resolve_composite(name: str, canonizer: str | None) -> str:
    """The method a model gets for composite ``name``: ``auto`` chosen, others as given.

    Parameters
    ----------
    name : str
        A key of :data:`COMPOSITES`.
    canonizer : str or None
        The model's canonizer (None where no canonizer fits its architecture).

    Returns
    -------
    str
        ``name``, or for ``"auto"`` :data:`DEFAULT_LRP` with a canonizer and
        :data:`GRADIENT_X_INPUT` without one.

    Examples
    --------
    >>> resolve_composite("auto", "resnet"), resolve_composite("auto", None)
    ('epsilon-plus-flat', 'gradient-x-input')
    """
    lookup(COMPOSITES, name, "composite")
    if name != AUTO:
        return name
    return DEFAULT_LRP if canonizer else GRADIENT_X_INPUT


def method_name(name: str) -> str:
    """The ``method`` column of ``attributions.parquet`` for composite ``name``.

    ``lrp-<composite>`` for LRP composites (``lrp-epsilon-plus-flat``), the plain name
    for the gradient methods (and for ``auto``, which each model resolves).
    """
    return f"lrp-{name}" if is_lrp(name) else name


def make_composite(name: str, canonizers: Sequence[Canonizer] | None = None, *,
                   epsilon: float = 0.1, gamma: float = 0.25, stabilizer: float = 1e-6,
                   mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                   zero_params: Sequence[str] | None = None) -> Composite | None:
    """A zennit composite by name.

    Parameters
    ----------
    name : str
        A key of :data:`COMPOSITES`.
    canonizers : sequence of Canonizer, optional
        Canonizers to apply while the composite is registered (fresh instances, e.g.
        from :func:`~localglobal.attribution.canonizers.get_canonizers`).
    epsilon : float
        ε of the dense layers' rule (of every layer for ``"epsilon"``).
    gamma : float
        γ of ``"epsilon-gamma-box"``.
    stabilizer : float
        The small number keeping the other rules' denominators away from zero (sum
        and average-pool layers, z⁺, α2β1, γ, flat).
    mean, std : sequence of float
        The input normalisation, for the box of ``"epsilon-gamma-box"``.
    zero_params : sequence of str, optional
        Parameter names the rules treat as zero (``["bias"]``).

    Returns
    -------
    zennit.core.Composite or None
        The composite, or None for ``"gradient-x-input"`` (no rules).

    Raises
    ------
    UnknownNameError
        An unknown name (a ``ValueError``; the message lists the known ones).
    """
    factory = lookup(COMPOSITES, name, "composite")
    return factory(CompositeSettings(
        canonizers=list(canonizers or []), epsilon=epsilon, gamma=gamma,
        stabilizer=stabilizer, mean=mean, std=std,
        zero_params=list(zero_params) if zero_params else None))


@dataclass
class Explanation:
    """The result of :func:`explain`.

    Attributes
    ----------
    relevance : torch.Tensor
        N×C×H×W input relevance (detached, the input's dtype and device).
    logits : torch.Tensor
        N×K model outputs of the attributed forward pass (detached).
    targets : torch.Tensor
        N explained class indices (int64).
    """

    relevance: torch.Tensor
    logits: torch.Tensor
    targets: torch.Tensor

    @property
    def target_logits(self) -> torch.Tensor:
        """N logits of the explained classes (the relevance each map starts from)."""
        return self.logits.gather(1, self.targets[:, None]).squeeze(1)


def explain(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | Sequence[int] | None,
            composite: str | Composite | None = "epsilon-plus-flat",
            canonizers: Sequence[Canonizer] | None = None, *, epsilon: float = 0.1,
            stabilizer: float = 1e-6, mean: Sequence[float] = IMAGENET_MEAN,
            std: Sequence[float] = IMAGENET_STD) -> Explanation:
    """Relevance of each input pixel for one class per sample, and the logits.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier in eval mode, on the inputs' device and dtype.
    inputs : torch.Tensor
        N×C×H×W normalised images.
    targets : tensor or sequence of int, optional
        N class indices (one per sample), or None for each sample's predicted class
        (argmax of the logits of the same forward pass).
    composite : str, zennit Composite or None
        A key of :data:`COMPOSITES`, a zennit composite (which then carries its own
        canonizers; ``canonizers`` must be empty), or None for gradient × input.
    canonizers : sequence of Canonizer, optional
        Canonizers for a composite given by name (ignored by gradient × input).
    epsilon, stabilizer, mean, std
        See :func:`make_composite`.

    Returns
    -------
    Explanation
        For LRP composites the output relevance is the one-hot target times its
        logit, so a conservative pass gives maps summing to the logit; for gradient ×
        input the gradient of the target logit is used. The model is left exactly as
        it was (hooks and canonizers are removed).
    """
    if isinstance(composite, str) and composite in (INTEGRATED_GRADIENTS, SMOOTHGRAD, AUTO):
        raise ValueError(f"composite {composite!r} is run by "
                         "localglobal.attribution.gradients (or localglobal.api.explain)")
    if isinstance(composite, str):
        composite_obj = make_composite(composite, canonizers, epsilon=epsilon,
                                       stabilizer=stabilizer, mean=mean, std=std)
    else:
        if canonizers:
            raise ValueError("pass canonizers to the composite itself when giving a composite")
        composite_obj = composite
    context = composite_obj.context(model) if composite_obj is not None else nullcontext(model)
    with context as hooked:
        return explain_registered(hooked, inputs, targets, lrp=composite_obj is not None)


def explain_registered(model: nn.Module, inputs: torch.Tensor,
                       targets: torch.Tensor | Sequence[int] | None, *, lrp: bool,
                       ) -> Explanation:
    """:func:`explain` for a model whose composite is already registered.

    Registering a composite applies its canonizers (for a ResNet-50, folding 53
    BatchNorms) and hooks every layer; a caller explaining many batches registers it
    once (``with composite.context(model):``) and calls this per batch.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier, with the composite registered when ``lrp`` is true.
    inputs : torch.Tensor
        N×C×H×W normalised images.
    targets : tensor or sequence of int, optional
        N class indices, or None for the predicted classes.
    lrp : bool
        Whether the hooks compute LRP (start from one-hot × logit, the input's
        gradient is the relevance) or not (gradient × input).

    Returns
    -------
    Explanation
        The relevance, the logits and the explained classes.
    """
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be N×C×H×W, got shape {tuple(inputs.shape)}")
    x = inputs.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        if logits.ndim != 2 or logits.shape[0] != x.shape[0]:
            raise ValueError(f"model output must be N×classes, got {tuple(logits.shape)}")
        if targets is None:
            target_idx = logits.detach().argmax(dim=1)
        else:
            target_idx = torch.as_tensor(targets, dtype=torch.long, device=logits.device)
            target_idx = target_idx.reshape(-1)
            if target_idx.shape[0] != x.shape[0]:
                raise ValueError(f"{target_idx.shape[0]} targets for {x.shape[0]} inputs")
            if torch.any((target_idx < 0) | (target_idx >= logits.shape[1])):
                raise ValueError(f"targets outside 0..{logits.shape[1] - 1}")
        one_hot = torch.zeros_like(logits).scatter_(1, target_idx[:, None], 1.0)
        start = one_hot * logits.detach() if lrp else one_hot
        (gradient,) = torch.autograd.grad(logits, x, grad_outputs=start)
    relevance = gradient if lrp else gradient * x.detach()
    return Explanation(relevance.detach(), logits.detach(), target_idx.detach())


def attribute(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor | Sequence[int] | None,
              composite: str | Composite | None = "epsilon-plus-flat",
              canonizers: Sequence[Canonizer] | None = None, **kwargs) -> torch.Tensor:
    """N×C×H×W input relevance for one target class per sample (see :func:`explain`)."""
    return explain(model, inputs, targets, composite, canonizers, **kwargs).relevance


def finite_per_sample(relevance: torch.Tensor) -> torch.Tensor:
    """N booleans: whether each sample's relevance is free of NaN and infinity."""
    return torch.isfinite(relevance.reshape(relevance.shape[0], -1)).all(dim=1)


def conservation_gap(explanation: Explanation) -> torch.Tensor:
    """N relative gaps |Σ relevance − start logit| / |start logit| (NaN for a zero logit)."""
    total = explanation.relevance.reshape(explanation.relevance.shape[0], -1).sum(dim=1)
    start = explanation.target_logits
    gap = (total - start).abs() / start.abs()
    return torch.where(start == 0, torch.full_like(gap, math.nan), gap)
