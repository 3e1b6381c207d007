"""Canonizers: temporary rewrites of a model that make LRP's rules apply as intended.

LRP assigns one rule per layer *module*. Two things in the thesis architectures are
not modules of their own and need rewriting for the duration of an attribution:

* **BatchNorm** after a convolution is folded into that convolution (weights and
  bias rescaled, the BatchNorm set to the identity), so the composite's rule sees
  the affine map the network actually computes.
* **Residual additions** (``out + shortcut``) are functional; they become a ``Sum``
  module over the stacked summands, to which the composite gives a rule that splits
  relevance in proportion to the summands' contributions.

Canonizers by name (:data:`CANONIZERS`; a model spec names its canonizer):

``"resnet"``
    :class:`ExactResNetCanonizer`, zennit's ``ResNetCanonizer``: torchvision ResNet and
    ResNeXt (``Bottleneck``) and torchvision ``BasicBlock`` networks such as the toy
    world's ResNet.
``"vgg"``
    :class:`ExactVGGCanonizer`, zennit's ``VGGCanonizer`` (folds the BatchNorm of
    ``vgg*_bn``; plain VGG-16 has none, so it is the identity there).
``"seresnet"``
    :class:`SEResNetCanonizer`, written here, for timm's ``legacy_seresnet*`` and
    ``legacy_seresnext*`` (``timm.models.senet``).

All three fold BatchNorm *exactly*: zennit 0.5.1 leaves a folded BatchNorm with unit
variance but its original ``eps``, so it still divides by ``sqrt(1 + eps)``
(a relative change of about 1e-4 in a ResNet-50's logits); here the folded
BatchNorm gets ``running_var = eps = 0.5``, an exact identity (as later zennit
releases do), and ``remove()`` puts ``eps`` back.

Squeeze-and-excitation (SE) gates
---------------------------------
An SE block multiplies each channel of the residual branch by a gate
``sigmoid(fc2(relu(fc1(mean_hw(x)))))`` computed from the branch itself. The
canonized block computes the gate as before, but **detached**: it is a per-channel
scale treated as a constant, and relevance flows only through the scaled branch,
not into the gate's global-pooling path. This is the usual treatment of
multiplicative gates in LRP (as for the gates of LSTMs, Arras et al. 2017): the gate
decides how much of a channel passes, the relevance belongs to the content it lets
through. Propagating relevance into the gate would send it through a sigmoid (which
no LRP rule handles conservatively) and the global average pool that feeds the gate,
spreading it over whole feature maps instead of where the evidence lies. The
scaling itself is a module, :class:`ChannelGate`, whose rule (:data:`GATE_RULE`, a
pass-through) hands each output's relevance unchanged to its input — what every LRP
rule gives for a one-to-one positive scaling, and what keeps the block conservative.
The composites of :mod:`localglobal.attribution.methods` include this rule; a hand-made
zennit composite must add ``(ChannelGate, GATE_RULE)`` to its layer map.

Because the gate is detached, a canonized SE network's *gradient* differs from the
original's; canonizers are meant for LRP rules only (gradient × input runs on the
model as it is).

>>> canonizers = get_canonizers("resnet")        # list of zennit canonizers
>>> from zennit.composites import EpsilonPlusFlat
>>> composite = EpsilonPlusFlat(canonizers=canonizers)
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator

import torch
from torch import nn
from zennit.canonizers import (
    AttributeCanonizer,
    Canonizer,
    CompositeCanonizer,
    MergeBatchNorm,
    SequentialMergeBatchNorm,
)
from zennit.layer import Sum
from zennit.rules import Pass
from zennit.torchvision import ResNetBasicBlockCanonizer, ResNetBottleneckCanonizer
from zennit.torchvision import ResNetCanonizer as ZennitResNetCanonizer
from zennit.torchvision import VGGCanonizer as ZennitVGGCanonizer
from zennit.types import BatchNorm, Linear

from localglobal.attribution.names import lookup

#: The rule the composites give :class:`ChannelGate`: relevance passes unchanged.
GATE_RULE = Pass()


class ChannelGate(nn.Module):
    """The SE block's channel scaling ``x * gate(x)``, with the gate held constant.

    Holds a reference to the block's SE module without owning it (its parameters
    stay where they are in the state dict). The gate is computed without autograd,
    so neither gradients nor relevance enter the gate's path.

    Parameters
    ----------
    se_module : nn.Module
        A timm ``SEModule`` (``fc1``, ``relu``, ``fc2``, ``sigmoid``).
    """

    def __init__(self, se_module: nn.Module) -> None:
        super().__init__()
        missing = [name for name in ("fc1", "relu", "fc2", "sigmoid")
                   if not hasattr(se_module, name)]
        if missing:
            raise TypeError(
                f"unsupported squeeze-and-excitation module {type(se_module).__name__}: "
                f"missing {', '.join(missing)}"
            )
        # A tuple keeps the module out of this module's children, so it is neither
        # registered twice nor visited twice when a composite assigns rules.
        self._se = (se_module,)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The per-channel gate, N×C×1×1 in (0, 1), computed without autograd."""
        se = self._se[0]
        with torch.no_grad():
            pooled = x.mean((2, 3), keepdim=True)
            return se.sigmoid(se.fc2(se.relu(se.fc1(pooled))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


@functools.lru_cache(maxsize=1)
def _senet_classes() -> tuple[type, type, type]:
    # timm is imported only when an SE network is canonized.
    from timm.models.senet import Bottleneck, SENet, SEResNetBlock

    return Bottleneck, SEResNetBlock, SENet


class ExactIdentityMixin:
    """Make a merged BatchNorm the exact identity (``var + eps == 1``); restore ``eps``."""

    def register(self, linears, batch_norm) -> None:
        self.batch_norm_eps = batch_norm.eps
        super().register(linears, batch_norm)
        # 0.5 + 0.5 is exactly 1 in every floating-point format; torch requires eps > 0.
        batch_norm.running_var.data = torch.full_like(batch_norm.running_var.data, 0.5)
        batch_norm.eps = 0.5

    def remove(self) -> None:
        super().remove()
        self.batch_norm.eps = self.batch_norm_eps


class ExactSequentialMergeBatchNorm(ExactIdentityMixin, SequentialMergeBatchNorm):
    """zennit's ``SequentialMergeBatchNorm`` with an exact identity left behind."""


class ExactResNetCanonizer(ZennitResNetCanonizer):
    """zennit's ``ResNetCanonizer`` (torchvision ``Bottleneck`` and ``BasicBlock``), exact."""

    def __init__(self) -> None:
        CompositeCanonizer.__init__(self, (
            ExactSequentialMergeBatchNorm(),
            ResNetBottleneckCanonizer(),
            ResNetBasicBlockCanonizer(),
        ))


class ExactVGGCanonizer(ExactIdentityMixin, ZennitVGGCanonizer):
    """zennit's ``VGGCanonizer`` (sequential BatchNorm folding), exact."""


def _sequential_pairs(module: nn.Module | None) -> Iterator[tuple[nn.Module, nn.Module]]:
    """(linear, batch norm) pairs that follow each other directly in a Sequential."""
    if not isinstance(module, nn.Sequential):
        return
    children = list(module.children())
    for first, second in itertools.pairwise(children):
        if isinstance(first, Linear) and isinstance(second, BatchNorm):
            yield first, second


def _senet_pairs(module: nn.Module) -> Iterator[tuple[nn.Module, nn.Module]]:
    bottleneck, basic_block, senet = _senet_classes()
    if isinstance(module, (bottleneck, basic_block)):
        for index in (1, 2, 3):
            conv = getattr(module, f"conv{index}", None)
            norm = getattr(module, f"bn{index}", None)
            if conv is not None and norm is not None:
                yield conv, norm
        yield from _sequential_pairs(module.downsample)
    elif isinstance(module, senet):
        yield from _sequential_pairs(module.layer0)


class SENetMergeBatchNorm(ExactIdentityMixin, MergeBatchNorm):
    """Fold every BatchNorm of a timm legacy SE network into its convolution.

    The pairs are named explicitly (``convK``/``bnK`` of each block, the
    ``downsample`` convolution and its BatchNorm, and the stem ``layer0``) rather
    than inferred from module order.
    """

    def apply(self, root_module: nn.Module) -> list[Canonizer]:
        instances = []
        for module in root_module.modules():
            for linear, batch_norm in _senet_pairs(module):
                instance = self.copy()
                instance.register((linear,), batch_norm)
                instances.append(instance)
        return instances


class SEBlockCanonizer(AttributeCanonizer):
    """Give each SE block a forward with a :class:`ChannelGate` and a ``Sum`` module."""

    def __init__(self) -> None:
        super().__init__(self._attribute_map)

    def copy(self) -> SEBlockCanonizer:
        return SEBlockCanonizer()

    @classmethod
    def _attribute_map(cls, name: str, module: nn.Module) -> dict | None:
        bottleneck, basic_block, _ = _senet_classes()
        if isinstance(module, bottleneck):
            forward = cls.bottleneck_forward
        elif isinstance(module, basic_block):
            forward = cls.basic_block_forward
        else:
            return None
        return {
            "forward": forward.__get__(module),
            "canonizer_gate": ChannelGate(module.se_module),
            "canonizer_sum": Sum(),
        }

    @staticmethod
    def bottleneck_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """timm ``senet.Bottleneck.forward`` with a detached gate and a Sum module."""
        shortcut = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            shortcut = self.downsample(x)
        out = self.canonizer_gate(out)
        out = self.canonizer_sum(torch.stack([shortcut, out], dim=-1))
        return self.relu(out)

    @staticmethod
    def basic_block_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """timm ``senet.SEResNetBlock.forward`` with a detached gate and a Sum module."""
        shortcut = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        if self.downsample is not None:
            shortcut = self.downsample(x)
        out = self.canonizer_gate(out)
        out = self.canonizer_sum(torch.stack([shortcut, out], dim=-1))
        return self.relu(out)


class SEResNetCanonizer(CompositeCanonizer):
    """Canonizer for timm's legacy SE-ResNet / SE-ResNeXt (``timm.models.senet``).

    Folds BatchNorm into the preceding convolutions, turns each block's residual
    addition into a ``Sum`` module, and its SE scaling into a :class:`ChannelGate`
    whose gate relevance does not flow through (see the module docstring).
    ``remove()`` restores the model exactly: the original parameter tensors are put
    back and the added attributes deleted.
    """

    def __init__(self) -> None:
        super().__init__((SENetMergeBatchNorm(), SEBlockCanonizer()))


CANONIZERS: dict[str, Callable[[], Canonizer]] = {
    "resnet": ExactResNetCanonizer,
    "vgg": ExactVGGCanonizer,
    "seresnet": SEResNetCanonizer,
}
"""Canonizer factories by the name a model spec gives (see the module docstring)."""


def get_canonizers(name: str) -> list[Canonizer]:
    """Fresh canonizer instances for an architecture family.

    Parameters
    ----------
    name : str
        A key of :data:`CANONIZERS`: ``"resnet"``, ``"vgg"`` or ``"seresnet"``.

    Returns
    -------
    list of zennit.canonizers.Canonizer
        To pass as ``canonizers=`` to a composite. New instances on every call: one
        composite, one model.

    Raises
    ------
    UnknownNameError
        An unknown name (a ``ValueError``; the message lists the known ones).
    """
    return [lookup(CANONIZERS, name, "canonizer")()]


def unmerged_batch_norms(model: nn.Module) -> list[str]:
    """Names of BatchNorm modules that do not compute the identity.

    Called on a canonized model, it lists the BatchNorms the canonizer missed — a
    sign that the canonizer does not fit the architecture, and that LRP would treat
    those layers wrongly.
    """
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, BatchNorm) or module.running_mean is None:
            continue
        identity = (
            bool(torch.all(module.running_mean == 0))
            and bool(torch.all(module.running_var + module.eps == 1))
            and (module.weight is None or bool(torch.all(module.weight == 1)))
            and (module.bias is None or bool(torch.all(module.bias == 0)))
        )
        if not identity:
            names.append(name)
    return names


#: Canonizers that turn every residual addition into a ``Sum`` module.
RESIDUAL_CANONIZERS = frozenset({"resnet", "seresnet"})


def residual_sums(model: nn.Module) -> int:
    """How many ``Sum`` modules a canonized model holds.

    A residual canonizer that recognised none of the model's blocks (a timm ResNet
    under the torchvision ResNet canonizer, say) leaves zero: the additions stay
    functional and LRP would pass relevance through them unsplit, breaking
    conservation without any error.
    """
    return sum(isinstance(module, Sum) for module in model.modules())



def guess_canonizer(model: nn.Module) -> str | None:
    """The canonizer of an in-memory model's family, or None where none fits.

    torchvision ResNet/ResNeXt → ``"resnet"``, torchvision VGG/AlexNet → ``"vgg"``,
    timm's legacy SE-ResNet(X) → ``"seresnet"``; every other architecture (ViT,
    ConvNeXt, MobileNet, EfficientNet, timm's own ResNets) → None.

    Parameters
    ----------
    model : torch.nn.Module
        The classifier.

    Returns
    -------
    str or None
        A key of :data:`CANONIZERS`, or None.

    Examples
    --------
    >>> guess_canonizer(nn.Linear(2, 2)) is None
    True
    """
    import torchvision.models as tv

    if type(model) is tv.ResNet:
        return "resnet"
    if type(model) in (tv.VGG, tv.AlexNet):
        return "vgg"
    if type(model).__name__ == "SENet" and type(model).__module__.startswith("timm."):
        return "seresnet"
    return None
