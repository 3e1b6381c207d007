"""The controls of an attribution: what relevance looks like when it should mean nothing.

``none``
    the model as trained.
``random-weights``
    the same architecture with every layer re-initialised (Adebayo et al. 2018,
    "Sanity checks for saliency maps"), BatchNorm statistics re-estimated on the
    first images, explained for the trained model's target classes: a method whose
    maps barely change reflects the image, not the model (:func:`randomize_weights`).
``shuffled-edges``
    the real relevance scored against the edge mask of another image of the same
    size, the overlap expected by chance (:func:`derangement` picks the partner).

>>> partner = derangement(["a", "b", "c"], {"a": (8, 8), "b": (8, 8), "c": (8, 8)}, seed=1)
>>> sorted(partner) == sorted(partner.values()) and all(k != v for k, v in partner.items())
True
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

CONTROLS: tuple[str, ...] = ("none", "random-weights", "shuffled-edges")
"""Every control, in the order the rows of ``attributions.parquet`` are told apart."""

EXPLAINED_CONTROLS: tuple[str, ...] = ("none", "random-weights")
"""The controls that explain a model and store maps; ``shuffled-edges`` reuses ``none``'s."""

CALIBRATION_IMAGES = 32
"""Images whose activations re-estimate the random network's BatchNorm statistics."""


def randomize_weights(model: nn.Module, seed: int,
                      calibration: torch.Tensor | None = None) -> nn.Module:
    """A copy of ``model`` with every layer re-initialised: the model-randomisation control.

    Convolutions get the He-normal (fan-out) initialisation torchvision and timm
    ResNets use, keeping activations at a usable scale through deep networks; every
    other module with parameters calls its own ``reset_parameters``. BatchNorm's
    affine parameters become (1, 0); its running statistics are re-estimated from
    ``calibration`` images when given (so the random network normalises its own
    activations, as a trained one does), else reset to (0, 1).

    Parameters
    ----------
    model : torch.nn.Module
        The trained model (left unchanged).
    seed : int
        Seed of the re-initialisation; the global RNG state is not touched.
    calibration : torch.Tensor, optional
        N×C×H×W normalised images for the BatchNorm statistics, on the model's device.

    Returns
    -------
    torch.nn.Module
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


def derangement(image_ids: Sequence[str], shapes: dict[str, tuple[int, ...]], seed: int,
                ) -> dict[str, str]:
    """A partner for each image: another image of the same mask size, seeded.

    Images are grouped by mask shape; within a group a seeded random cycle sends each
    image to a different one (no image keeps its own). An image alone in its group
    has no partner.

    Parameters
    ----------
    image_ids : sequence of str
        The images (duplicates are ignored).
    shapes : dict
        image_id → the shape of its edge mask.
    seed : int
        The run seed.

    Returns
    -------
    dict
        image_id → partner image_id.
    """
    rng = np.random.default_rng(seed)
    groups: dict[tuple[int, ...], list[str]] = {}
    for image_id in sorted(set(image_ids)):
        groups.setdefault(tuple(shapes[image_id]), []).append(image_id)
    partner: dict[str, str] = {}
    for shape in sorted(groups):
        members = groups[shape]
        if len(members) < 2:
            continue
        order = [members[i] for i in rng.permutation(len(members))]
        for position, image_id in enumerate(order):
            partner[image_id] = order[(position + 1) % len(order)]
    return partner
