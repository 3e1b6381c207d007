"""Attribution methods by name: LRP composites and gradient methods, all on zennit's attributors.

Every method is one of zennit's attributors, with an LRP composite or none
(:data:`METHODS`):

``"lrp"``
    :class:`~zennit.attribution.Gradient` with a composite from :data:`COMPOSITES`;
    the output relevance is the one-hot target times its logit, so with conservative
    rules and no biases the input relevance sums to the logit.
``"gradient-x-input"``
    :class:`~zennit.attribution.Gradient` without a composite, times the (normalised)
    input: ∂f_c/∂x ⊙ x.
``"integrated-gradients"``
    :class:`~zennit.attribution.IntegratedGradients`: (x − x₀) ⊙ the mean gradient on
    the path from the zero baseline x₀ (the mean image after normalisation).
``"smoothgrad"``
    :class:`~zennit.attribution.SmoothGrad`: the gradient averaged over noisy copies
    x + ε, ε ~ N(0, (noise · range)²), the last one noise-free, with a fixed seed.

The thesis ran iNNvestigate's ``lrp.sequential_preset_a_flat``; its PyTorch equivalent
is zennit's ``EpsilonPlusFlat`` with ``epsilon = 0.1``: the flat rule on the first
layer, z⁺ (α1β0) on the other convolutions, ε on the dense layers, BatchNorm folded
and residual sums split by a canonizer (:mod:`localglobal.attribution.canonizers`).
LRP composites by name (:data:`COMPOSITES`):

``"epsilon-plus-flat"`` (default)
    flat / z⁺ / ε — the thesis's preset.
``"epsilon-gamma-box"``
    zᴮ (box) on the first layer, γ on convolutions, ε on dense layers; the box is the
    range of the normalised input (:func:`input_bounds`).
``"epsilon-alpha2-beta1-flat"``
    flat / α2β1 / ε.
``"epsilon"``
    ε everywhere; ``epsilon = 0`` is LRP-0, which in a ReLU network is gradient × input.

A run names its method with one word (``attribute.composite``): an LRP composite, a
gradient method, or ``"auto"`` (LRP ``epsilon-plus-flat`` where the model has a
canonizer, else gradient × input; :func:`resolve_method`).

>>> resolve_method("auto", "resnet"), resolve_method("auto", None)
('epsilon-plus-flat', 'gradient-x-input')
>>> method_name("epsilon-plus-flat"), method_name("smoothgrad")
('lrp-epsilon-plus-flat', 'smoothgrad')
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from zennit.attribution import Attributor as ZennitAttributor
from zennit.attribution import Gradient, IntegratedGradients, SmoothGrad
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
from localglobal.attribution.names import lookup
from localglobal.errors import UnknownNameError
from localglobal.models.preprocessing import IMAGENET_MEAN, IMAGENET_STD

AUTO = "auto"
"""Choose per model: LRP where a canonizer fits, else gradient × input."""

DEFAULT_LRP = "epsilon-plus-flat"
"""The LRP composite ``auto`` chooses (the thesis's preset)."""

GRADIENT_X_INPUT = "gradient-x-input"
"""Gradient × input: no LRP rules (and so no canonizers)."""

SMOOTHGRAD_SEED = 0
"""The seed of SmoothGrad's noise, so that a run is reproducible."""


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
class Settings:
    """The numbers of a method: its composite's and its attributor's.

    Attributes
    ----------
    epsilon : float
        ε of the dense layers' rule (of every layer for ``"epsilon"``).
    gamma : float
        γ of ``"epsilon-gamma-box"``.
    stabilizer : float
        Keeps the other rules' denominators away from zero.
    mean, std : sequence of float
        The input normalisation (the box of ``"epsilon-gamma-box"``).
    zero_params : tuple of str
        Parameter names the rules treat as zero (``("bias",)``).
    steps : int
        Points on the integration path (integrated gradients).
    samples : int
        Noisy copies (SmoothGrad).
    noise : float
        SmoothGrad's noise standard deviation as a share of each image's value range.
    """

    epsilon: float = 0.1
    gamma: float = 0.25
    stabilizer: float = 1e-6
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    zero_params: tuple[str, ...] = ()
    steps: int = 20
    samples: int = 20
    noise: float = 0.1

    def rules(self, canonizers: Sequence[Canonizer]) -> dict:
        """Keyword arguments every zennit preset takes; the SE gate passes relevance on."""
        return {"stabilizer": self.stabilizer, "layer_map": [(ChannelGate, GATE_RULE)],
                "zero_params": list(self.zero_params) or None, "canonizers": list(canonizers)}


def _epsilon(s: Settings, canonizers: Sequence[Canonizer]) -> Composite:
    zero = list(s.zero_params) or None
    layer_map = [(ChannelGate, GATE_RULE), *layer_map_base(s.stabilizer),
                 (Convolution, Epsilon(epsilon=s.epsilon, zero_params=zero)),
                 (nn.Linear, Epsilon(epsilon=s.epsilon, zero_params=zero))]
    return LayerMapComposite(layer_map=layer_map, canonizers=list(canonizers))


def _epsilon_gamma_box(s: Settings, canonizers: Sequence[Canonizer]) -> Composite:
    low, high = input_bounds(s.mean, s.std)
    return EpsilonGammaBox(low=low, high=high, epsilon=s.epsilon, gamma=s.gamma,
                           **s.rules(canonizers))


COMPOSITES: dict[str, Callable[[Settings, Sequence[Canonizer]], Composite]] = {
    "epsilon-plus-flat": lambda s, c: EpsilonPlusFlat(epsilon=s.epsilon, **s.rules(c)),
    "epsilon-gamma-box": _epsilon_gamma_box,
    "epsilon-alpha2-beta1-flat":
        lambda s, c: EpsilonAlpha2Beta1Flat(epsilon=s.epsilon, **s.rules(c)),
    "epsilon": _epsilon,
}
"""LRP composite factories by name: ``(settings, canonizers) -> zennit Composite``."""


@dataclass(frozen=True)
class Method:
    """One attribution method: a zennit attributor, how it is made, what it returns.

    Attributes
    ----------
    make : callable
        ``(model, composite or None, settings) -> zennit Attributor``.
    times_input : bool
        Multiply the attributor's result by the input (gradient × input).
    one_pass : bool
        The attributor's single forward pass gives the logits (so a predicted target
        is read off it); otherwise the logits come from a plain forward pass first.
    seeded : bool
        The attributor draws noise (seeded with :data:`SMOOTHGRAD_SEED`).
    """

    make: Callable[[nn.Module, Composite | None, Settings], ZennitAttributor]
    times_input: bool = False
    one_pass: bool = False
    seeded: bool = False


METHODS: dict[str, Method] = {
    "lrp": Method(lambda m, c, s: Gradient(m, c), one_pass=True),
    GRADIENT_X_INPUT: Method(lambda m, c, s: Gradient(m, None), times_input=True,
                             one_pass=True),
    "integrated-gradients": Method(
        lambda m, c, s: IntegratedGradients(m, None, n_iter=int(s.steps))),
    "smoothgrad": Method(
        lambda m, c, s: SmoothGrad(m, None, noise_level=float(s.noise), n_iter=int(s.samples)),
        seeded=True),
}
"""Methods by name; ``"lrp"`` is run with one of :data:`COMPOSITES`."""

NAMES: tuple[str, ...] = (*COMPOSITES, *(m for m in METHODS if m != "lrp"), AUTO)
"""Every name a run's ``attribute.composite`` may hold."""


def is_lrp(name: str) -> bool:
    """Whether method ``name`` applies LRP rules (and so needs a canonizer).

    Raises
    ------
    UnknownNameError
        ``name`` is none of :data:`NAMES`.
    """
    lookup(dict.fromkeys(NAMES), name, "composite")
    return name in COMPOSITES


def resolve_method(name: str, canonizer: str | None) -> str:
    """The method a model gets for ``name``: ``auto`` chosen, the others as given.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`.
    canonizer : str or None
        The model's canonizer (None where none fits its architecture).

    Returns
    -------
    str
        ``name``, or for ``"auto"`` :data:`DEFAULT_LRP` with a canonizer and
        :data:`GRADIENT_X_INPUT` without one.
    """
    is_lrp(name)
    if name != AUTO:
        return name
    return DEFAULT_LRP if canonizer else GRADIENT_X_INPUT


def method_name(name: str) -> str:
    """The ``method`` column of ``attributions.parquet``: ``lrp-<composite>`` or the name."""
    return f"lrp-{name}" if is_lrp(name) else name


def make_composite(name: str, canonizers: Sequence[Canonizer] = (),
                   settings: Settings | None = None) -> Composite:
    """An LRP composite by name.

    Parameters
    ----------
    name : str
        A key of :data:`COMPOSITES`.
    canonizers : sequence of Canonizer
        Fresh canonizers to apply while the composite is registered (see
        :func:`~localglobal.attribution.canonizers.get_canonizers`).
    settings : Settings, optional
        ε, γ, stabilizer, normalisation; default :class:`Settings`.

    Returns
    -------
    zennit.core.Composite

    Raises
    ------
    UnknownNameError
        An unknown name; the message lists the composites.
    """
    return lookup(COMPOSITES, name, "composite")(settings or Settings(), canonizers)


def as_targets(targets: torch.Tensor | Sequence[int] | None, n: int) -> torch.Tensor | None:
    """``targets`` as N int64 classes (None stays None: each image's predicted class).

    Raises
    ------
    ValueError
        A count of targets that is not ``n``.
    """
    if targets is None:
        return None
    index = torch.as_tensor(targets if isinstance(targets, torch.Tensor)
                            else np.asarray(targets), dtype=torch.long).reshape(-1)
    if index.shape[0] != n:
        raise ValueError(f"{index.shape[0]} targets for {n} inputs")
    return index


def check_targets(logits: torch.Tensor, targets: torch.Tensor | Sequence[int] | None,
                  ) -> torch.Tensor:
    """The N classes to explain: ``targets`` checked against the logits, or the argmax.

    Raises
    ------
    ValueError
        Logits that are not N×K, a count of targets that is not N (:func:`as_targets`),
        or a target outside 0..K−1.
    """
    if logits.ndim != 2:
        raise ValueError(f"model output must be N×classes, got {tuple(logits.shape)}")
    index = as_targets(targets, logits.shape[0])
    if index is None:
        return logits.detach().argmax(dim=1)
    index = index.to(logits.device)
    if torch.any((index < 0) | (index >= logits.shape[1])):
        raise ValueError(f"targets outside 0..{logits.shape[1] - 1}")
    return index


@dataclass
class Explanation:
    """Relevance maps and what they explain; what :func:`explain` returns.

    Attributes
    ----------
    maps : numpy.ndarray
        N×H×W relevance summed over colour channels, in the input's float type
        (logit units for LRP, gradient × input and integrated gradients).
    targets : numpy.ndarray
        N int64 explained classes.
    logits : numpy.ndarray
        N float64 logits of the explained classes (where LRP relevance starts).
    method : str
        As in ``attributions.parquet`` (``lrp-epsilon-plus-flat``, ``gradient-x-input``).
    """

    maps: np.ndarray
    targets: np.ndarray
    logits: np.ndarray
    method: str

    def __repr__(self) -> str:
        return f"Explanation(method={self.method!r}, maps={self.maps.shape})"

    @classmethod
    def concatenate(cls, parts: Sequence[Explanation], method: str) -> Explanation:
        """One explanation of every batch in ``parts``, in order."""
        return cls(np.concatenate([p.maps for p in parts]),
                   np.concatenate([p.targets for p in parts]).astype(np.int64),
                   np.concatenate([p.logits for p in parts]).astype(np.float64), method)


def attribute_batch(attributor: ZennitAttributor, method: Method, x: torch.Tensor,
                    targets: torch.Tensor | Sequence[int] | None, name: str) -> Explanation:
    """Explain one batch with an attributor whose composite is registered.

    Parameters
    ----------
    attributor : zennit.attribution.Attributor
        Made by ``method``, inside ``with attributor:``.
    method : Method
        Its entry of :data:`METHODS`.
    x : torch.Tensor
        N×C×H×W normalised images.
    targets : tensor or sequence of int, optional
        N classes, or None for each image's predicted class.
    name : str
        The ``method`` column.

    Returns
    -------
    Explanation
    """
    if x.ndim != 4:
        raise ValueError(f"inputs must be N×C×H×W, got shape {tuple(x.shape)}")
    x = x.detach()
    chosen: list[torch.Tensor] = []
    lrp = name.startswith("lrp-")

    def start(output: torch.Tensor) -> torch.Tensor:
        if not chosen:
            chosen.append(check_targets(output, targets))
        one_hot = torch.zeros_like(output).scatter_(1, chosen[0][:, None], 1.0)
        return one_hot * output if lrp else one_hot

    logits = None
    if not method.one_pass:  # a path or noise pass's output is not the image's logits
        with torch.no_grad():
            logits = attributor.model(x)
        start(logits)
    with torch.enable_grad(), _seeded(method.seeded, x.device):
        output, relevance = attributor(x.clone(), start)
    logits = output.detach() if logits is None else logits
    if method.times_input:
        relevance = relevance * x
    index = chosen[0]
    target_logits = logits.gather(1, index[:, None]).squeeze(1)
    return Explanation(relevance.detach().sum(dim=1).cpu().numpy(), index.cpu().numpy(),
                       target_logits.detach().cpu().numpy().astype(np.float64), name)


@contextmanager
def _seeded(active: bool, device: torch.device) -> Iterator[None]:
    """Fix torch's seed for SmoothGrad's noise, leaving the global generator as it was."""
    if not active:
        yield
        return
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(SMOOTHGRAD_SEED)
        yield


__all__ = ["AUTO", "COMPOSITES", "DEFAULT_LRP", "GRADIENT_X_INPUT", "METHODS", "NAMES",
           "Explanation", "Method", "Settings", "UnknownNameError", "as_targets",
           "attribute_batch", "check_targets", "input_bounds", "is_lrp", "make_composite",
           "method_name", "resolve_method"]
