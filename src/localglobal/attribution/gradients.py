"""Gradient methods that need no canonizer: gradient × input, integrated gradients, SmoothGrad.

LRP's rules are defined for ReLU networks of convolutions, dense layers and pools,
with BatchNorm folded and skip additions split by a canonizer; attention, layer norm
and GELU (ViT, ConvNeXt) or hard-swish and squeeze-excitation blocks (MobileNetV3,
EfficientNet) have none here. Gradient methods are correct for any differentiable
model:

``"gradient-x-input"``
    ∂f_c/∂x ⊙ x, the gradient of the target logit times the (normalised) input.
``"integrated-gradients"``
    (x − x₀) ⊙ mean over α of ∂f_c/∂x at x₀ + α(x − x₀), with the zero baseline x₀ (the
    mean image after normalisation) and ``steps`` points (zennit's
    :class:`~zennit.attribution.IntegratedGradients`).
``"smoothgrad"``
    the mean of ∂f_c/∂x over ``samples`` noisy copies x + ε, ε ~ N(0, (noise · range)²)
    (zennit's :class:`~zennit.attribution.SmoothGrad`; the last copy is noise-free),
    with a fixed seed, so that a run is reproducible.

>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
>>> x = torch.randn(2, 3, 2, 2)
>>> result = explain_gradient(net, x, None, "gradient-x-input")
>>> tuple(result.relevance.shape), tuple(result.targets.shape)
((2, 3, 2, 2), (2,))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from zennit.attribution import IntegratedGradients, SmoothGrad

from localglobal.attribution.lrp import (
    GRADIENT_X_INPUT,
    INTEGRATED_GRADIENTS,
    SMOOTHGRAD,
    Explanation,
    explain_registered,
)

SMOOTHGRAD_SEED = 0
"""The seed of SmoothGrad's noise."""


def _targets(logits: torch.Tensor, targets: torch.Tensor | Sequence[int] | None) -> torch.Tensor:
    if targets is None:
        return logits.argmax(dim=1)
    index = torch.as_tensor(targets, dtype=torch.long, device=logits.device).reshape(-1)
    if index.shape[0] != logits.shape[0]:
        raise ValueError(f"{index.shape[0]} targets for {logits.shape[0]} inputs")
    if torch.any((index < 0) | (index >= logits.shape[1])):
        raise ValueError(f"targets outside 0..{logits.shape[1] - 1}")
    return index


def explain_gradient(model: nn.Module, inputs: torch.Tensor,
                     targets: torch.Tensor | Sequence[int] | None, method: str, *,
                     steps: int = 20, samples: int = 20, noise: float = 0.1) -> Explanation:
    """Relevance of each input pixel for one class per sample by a gradient method.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier in eval mode, on the inputs' device and dtype; any architecture.
    inputs : torch.Tensor
        N×C×H×W normalised images.
    targets : tensor or sequence of int, optional
        N class indices, or None for each sample's predicted class.
    method : str
        ``"gradient-x-input"``, ``"integrated-gradients"`` or ``"smoothgrad"``.
    steps : int
        Points on the integration path (integrated gradients).
    samples : int
        Noisy copies (SmoothGrad).
    noise : float
        SmoothGrad's noise standard deviation as a share of each image's value range.

    Returns
    -------
    Explanation
        N×C×H×W relevance (in logit units for gradient × input and integrated
        gradients; logit per input unit for SmoothGrad), the logits of the
        unperturbed inputs and the explained classes.

    Raises
    ------
    ValueError
        An unknown method, or inputs that are not N×C×H×W.
    """
    if method == GRADIENT_X_INPUT:
        return explain_registered(model, inputs, targets, lrp=False)
    if method not in (INTEGRATED_GRADIENTS, SMOOTHGRAD):
        raise ValueError(f"unknown gradient method {method!r}; known: "
                         f"{GRADIENT_X_INPUT}, {INTEGRATED_GRADIENTS}, {SMOOTHGRAD}")
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be N×C×H×W, got shape {tuple(inputs.shape)}")
    x = inputs.detach()
    with torch.no_grad():
        logits = model(x)
    index = _targets(logits, targets)
    one_hot = torch.zeros_like(logits).scatter_(1, index[:, None], 1.0)
    with torch.enable_grad():
        if method == INTEGRATED_GRADIENTS:
            attributor = IntegratedGradients(model, n_iter=int(steps))
            _, relevance = attributor(x.clone(), one_hot)
        else:
            devices = [x.device] if x.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(SMOOTHGRAD_SEED)
                attributor = SmoothGrad(model, noise_level=float(noise), n_iter=int(samples))
                _, relevance = attributor(x.clone(), one_hot)
    return Explanation(relevance.detach(), logits.detach(), index.detach())
