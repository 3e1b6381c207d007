"""The toy models' architecture: a narrow ResNet made of torchvision's ``BasicBlock``.

It *is* a :class:`torchvision.models.ResNet` (same attribute names: ``conv1``, ``bn1``,
``relu``, ``maxpool``, ``layer1`` … ``layer4``, ``avgpool``, ``fc``; same forward), with
one block per stage and narrow channels, so that zennit's ``ResNetCanonizer`` (which
merges BatchNorm into the preceding convolution and splits the residual sums) applies
unchanged, while the weights stay near one megabyte and a training run fits on a
laptop CPU.

>>> import torch
>>> model = toy_resnet()
>>> model(torch.zeros(1, 3, 224, 224)).shape
torch.Size([1, 10])
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

DEFAULT_WIDTHS = (16, 32, 64, 128)
DEFAULT_BLOCKS = (1, 1, 1, 1)


class ToyResNet(ResNet):
    """A torchvision ResNet with configurable (narrow) widths and ``BasicBlock`` stages.

    Parameters
    ----------
    num_classes : int
        Outputs of the final linear layer.
    widths : Sequence[int]
        Channels of the stem and of the four stages.
    blocks : Sequence[int]
        ``BasicBlock`` s per stage.
    """

    def __init__(self, num_classes: int = 10, widths: Sequence[int] = DEFAULT_WIDTHS,
                 blocks: Sequence[int] = DEFAULT_BLOCKS) -> None:
        if len(widths) != 4 or len(blocks) != 4:
            raise ValueError(f"need four widths and four block counts, got {widths}, {blocks}")
        # ResNet.__init__ hard-codes 64…512 channels; build the same attributes narrower
        # and keep ResNet's _make_layer and forward.
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = int(widths[0])
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(BasicBlock, int(widths[0]), int(blocks[0]))
        self.layer2 = self._make_layer(BasicBlock, int(widths[1]), int(blocks[1]), stride=2)
        self.layer3 = self._make_layer(BasicBlock, int(widths[2]), int(blocks[2]), stride=2)
        self.layer4 = self._make_layer(BasicBlock, int(widths[3]), int(blocks[3]), stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(int(widths[3]) * BasicBlock.expansion, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)


def toy_resnet(num_classes: int = 10, widths: Sequence[int] = DEFAULT_WIDTHS,
               blocks: Sequence[int] = DEFAULT_BLOCKS) -> ToyResNet:
    """Build the toy models' architecture (randomly initialised).

    Parameters
    ----------
    num_classes : int
        Number of classes (the toy world has 10).
    widths : Sequence[int]
        Channels of the stem and of the four stages.
    blocks : Sequence[int]
        ``BasicBlock`` s per stage.

    Returns
    -------
    ToyResNet
        A :class:`ToyResNet`, a subclass of :class:`torchvision.models.ResNet`, taking
        N×3×H×W normalised images and returning N×``num_classes`` logits.
    """
    return ToyResNet(num_classes=num_classes, widths=widths, blocks=blocks)
