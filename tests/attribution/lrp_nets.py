"""Small networks and model utilities shared by the attribution tests."""

from __future__ import annotations

import torch
from torch import nn


def randomise_batch_norm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
            module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            module.weight.data.copy_(0.5 + torch.rand(n, generator=generator))
            module.bias.data.copy_(0.2 * torch.randn(n, generator=generator))
    return model


def small_senet(block: str = "bottleneck") -> nn.Module:
    """A one-block-per-stage timm legacy SENet (the architecture of SE-ResNet-50)."""
    from timm.models.senet import SENet, SEResNetBlock, SEResNetBottleneck

    blocks = {"bottleneck": SEResNetBottleneck, "basic": SEResNetBlock}
    return SENet(blocks[block], [1, 1, 1, 1], groups=1, reduction=16, inplanes=64,
                 downsample_kernel_size=1, downsample_padding=0, num_classes=7)


def snapshot(model: nn.Module) -> dict:
    """What a canonizer must put back: parameters, buffers, modules, eps, forwards."""
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "modules": [name for name, _ in model.named_modules()],
        "eps": [m.eps for m in model.modules() if isinstance(m, nn.BatchNorm2d)],
        "forwards": sum("forward" in vars(m) for m in model.modules()),
    }
