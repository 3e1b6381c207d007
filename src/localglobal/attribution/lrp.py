"""Layer-wise relevance propagation with zennit: composites by name, attribution, controls.

The thesis ran iNNvestigate's ``lrp.sequential_preset_a_flat`` after converting its
PyTorch models to Keras. Its PyTorch equivalent is zennit's ``EpsilonPlusFlat``
with ``epsilon = 0.1``: the flat rule on the first layer, z⁺ (α1β0) on the other
convolutions, ε on the dense layers, BatchNorm folded into the convolutions and
residual sums split in proportion to their summands (both by a canonizer, see
:mod:`localglobal.attribution.canonizers`).

Composites by name (:data:`COMPOSITES`):

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

Relevance starts at the target's logit (the output relevance is one-hot × logit),
so with conservative rules and no biases the input relevance sums to the logit.

>>> model = torchvision.models.resnet50().eval()              # doctest: +SKIP
>>> relevance = attribute(model, images, targets, "epsilon-plus-flat",
...                       get_canonizers("resnet"))           # doctest: +SKIP
>>> relevance.shape                       # N×3×H×W, like images  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
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

COMPOSITES: tuple[str, ...] = (
    "epsilon-plus-flat",
    "epsilon-gamma-box",
    "epsilon-alpha2-beta1-flat",
    "epsilon",
    "gradient-x-input",
)

#: ImageNet normalisation, the default when no mean/std is given.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def input_bounds(mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The range of a normalised image, per channel.

    Args:
        mean, std: the per-channel normalisation of images with values in [0, 1].

    Returns:
        ``(low, high)``, each 1×C×1×1 float64: ``(0 − mean) / std`` and
        ``(1 − mean) / std``, the values of black and white after normalisation.
    """
    mean_t = torch.as_tensor(mean, dtype=torch.float64).reshape(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float64).reshape(1, -1, 1, 1)
    if torch.any(std_t <= 0):
        raise ValueError(f"std must be positive, got {tuple(std)}")
    return (0.0 - mean_t) / std_t, (1.0 - mean_t) / std_t


def make_composite(name: str, canonizers: Sequence[Canonizer] | None = None, *,
                   epsilon: float = 0.1, gamma: float = 0.25, stabilizer: float = 1e-6,
                   mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                   zero_params: Sequence[str] | None = None) -> Composite | None:
    """A zennit composite by name.

    Args:
        name: one of :data:`COMPOSITES`.
        canonizers: canonizers to apply while the composite is registered (fresh
            instances, e.g. from :func:`~localglobal.attribution.canonizers.get_canonizers`).
        epsilon: ε of the dense layers' rule (of every layer for ``"epsilon"``).
        gamma: γ of ``"epsilon-gamma-box"``.
        stabilizer: the small number keeping the other rules' denominators away from
            zero (sum and average-pool layers, z⁺, α2β1, γ, flat).
        mean, std: the input normalisation, for the box of ``"epsilon-gamma-box"``.
        zero_params: parameter names the rules treat as zero (``["bias"]``).

    Returns:
        The composite, or None for ``"gradient-x-input"`` (no rules).
    """
    canonizers = list(canonizers or [])
    zero = list(zero_params) if zero_params else None
    # Every composite gives the SE canonizer's gate its pass-through rule.
    gate_map = [(ChannelGate, GATE_RULE)]
    if name == "epsilon-plus-flat":
        return EpsilonPlusFlat(epsilon=epsilon, stabilizer=stabilizer, layer_map=gate_map,
                               zero_params=zero, canonizers=canonizers)
    if name == "epsilon-alpha2-beta1-flat":
        return EpsilonAlpha2Beta1Flat(epsilon=epsilon, stabilizer=stabilizer,
                                      layer_map=gate_map, zero_params=zero,
                                      canonizers=canonizers)
    if name == "epsilon-gamma-box":
        low, high = input_bounds(mean, std)
        return EpsilonGammaBox(low=low, high=high, epsilon=epsilon, gamma=gamma,
                               stabilizer=stabilizer, layer_map=gate_map, zero_params=zero,
                               canonizers=canonizers)
    if name == "epsilon":
        layer_map = gate_map + layer_map_base(stabilizer) + [
            (Convolution, Epsilon(epsilon=epsilon, zero_params=zero)),
            (nn.Linear, Epsilon(epsilon=epsilon, zero_params=zero)),
        ]
        return LayerMapComposite(layer_map=layer_map, canonizers=canonizers)
    if name == "gradient-x-input":
        return None
    raise ValueError(f"unknown composite {name!r}; known: {', '.join(COMPOSITES)}")


@dataclass
class Explanation:
    """The result of :func:`explain`.

    Attributes:
        relevance: N×C×H×W input relevance (detached, the input's dtype and device).
        logits: N×K model outputs of the attributed forward pass (detached).
        targets: N explained class indices (int64).
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

    Args:
        model: a classifier in eval mode, on the inputs' device and dtype.
        inputs: N×C×H×W normalised images.
        targets: N class indices (one per sample), or None for each sample's
            predicted class (argmax of the logits of the same forward pass).
        composite: a name from :data:`COMPOSITES`, a zennit composite (which then
            carries its own canonizers; ``canonizers`` must be empty), or None for
            gradient × input.
        canonizers: canonizers for a composite given by name.
        epsilon, stabilizer, mean, std: see :func:`make_composite`.

    Returns:
        An :class:`Explanation`. For LRP composites the output relevance is the
        one-hot target times its logit, so a conservative pass gives maps summing to
        the logit; for gradient × input the gradient of the target logit is used.
        The model is left exactly as it was (hooks and canonizers are removed).
    """
    if isinstance(composite, str):
        if composite == "gradient-x-input":
            composite_obj = None
        else:
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

    Args:
        model: the classifier, with the composite registered when ``lrp`` is true.
        inputs: N×C×H×W normalised images.
        targets: N class indices, or None for the predicted classes.
        lrp: whether the hooks compute LRP (start from one-hot × logit, the input's
            gradient is the relevance) or not (gradient × input).
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


def randomize_weights(model: nn.Module, seed: int,
                      calibration: torch.Tensor | None = None) -> nn.Module:
    """A copy of ``model`` with every layer re-initialised: the model-randomisation control.

    Adebayo et al. (2018, "Sanity checks for saliency maps") compare explanations of
    a trained network with those of the same architecture with random weights: a
    method whose maps barely change reflects the image, not the model.

    Convolutions get the He-normal (fan-out) initialisation torchvision and timm
    ResNets use, keeping activations at a usable scale through deep networks;
    every other module with parameters calls its own ``reset_parameters``.
    BatchNorm's affine parameters become (1, 0); its running statistics are
    re-estimated from ``calibration`` images when given (so the random network
    normalises its own activations, as a trained one does), else reset to (0, 1).

    Args:
        model: the trained model (left unchanged).
        seed: seed of the re-initialisation; the global RNG state is not touched.
        calibration: optional N×C×H×W normalised images for the BatchNorm statistics,
            on the model's device.

    Returns:
        The randomised copy, in eval mode, on the model's device. The weights are
        drawn on the CPU, so they do not depend on the device.
    """
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    # Drawn on the CPU, so the random network is the same whatever device runs it.
    randomized = copy.deepcopy(model).cpu()
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)  # the CPU generator alone
        for module in randomized.modules():
            if isinstance(module, nn.modules.conv._ConvNd):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif hasattr(module, "reset_parameters") and (
                isinstance(module, nn.modules.batchnorm._NormBase)
                or any(True for _ in module.parameters(recurse=False))
            ):
                module.reset_parameters()
    randomized = randomized.to(device)
    if calibration is not None:
        _calibrate_batch_norm(randomized, calibration)
    return randomized.eval()


@torch.no_grad()
def _calibrate_batch_norm(model: nn.Module, images: torch.Tensor) -> None:
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)]
    if not norms:
        return
    saved = {m: m.momentum for m in norms}
    for module in norms:
        module.reset_running_stats()
        module.momentum = None  # cumulative average over the calibration batch
    model.train()
    try:
        model(images)
    finally:
        for module, momentum in saved.items():
            module.momentum = momentum
        model.eval()


def finite_per_sample(relevance: torch.Tensor) -> torch.Tensor:
    """N booleans: whether each sample's relevance is free of NaN and infinity."""
    return torch.isfinite(relevance.reshape(relevance.shape[0], -1)).all(dim=1)


def conservation_gap(explanation: Explanation) -> torch.Tensor:
    """N relative gaps |Σ relevance − start logit| / |start logit| (NaN for a zero logit)."""
    total = explanation.relevance.reshape(explanation.relevance.shape[0], -1).sum(dim=1)
    start = explanation.target_logits
    gap = (total - start).abs() / start.abs()
    return torch.where(start == 0, torch.full_like(gap, math.nan), gap)
