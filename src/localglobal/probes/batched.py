"""Scramble and patch on batches of torch tensors, on whatever device the model runs on.

These build the probe images from the originals and each item's ``params`` (as
recorded in ``perturbations.parquet``), so the model stages need not read one PNG per
probe: the pixels are bit-identical to :func:`~localglobal.probes.scramble.apply_permutation`
and :func:`~localglobal.probes.patch.paint` on the same uint8 image.

Tensors are N×3×H×W (channels first, as models take them), any dtype; scrambling is a
gather of blocks, patching a masked fill, both in one pass over the batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from localglobal.probes.patch import fill_colour

ON_THE_FLY_PROBES = ("original", "scramble", "patch")
"""Probes built from ``params`` alone; the others (smoothing) are stored."""


def block_index(side: int, block: int, permutation: Sequence[int],
                device: torch.device | str = "cpu") -> torch.Tensor:
    """The flat source-pixel index of every output pixel of a scramble.

    Parameters
    ----------
    side : int
        Image side S in pixels (square images; ``block`` divides it).
    block : int
        Block side b in pixels.
    permutation : sequence of int
        Output block k comes from input block ``permutation[k]``, row-major.
    device : torch.device or str
        Where the index is built.

    Returns
    -------
    torch.Tensor
        S·S int64 indices into the row-major flattened image.
    """
    if side % block:
        raise ValueError(f"block side {block} does not divide the image side {side}")
    blocks_per_row = side // block
    perm = torch.as_tensor(np.asarray(permutation, dtype=np.int64), device=device)
    if perm.numel() != blocks_per_row**2 or not torch.equal(
            perm.sort().values, torch.arange(perm.numel(), device=device)):
        raise ValueError(f"not a permutation of {blocks_per_row ** 2} blocks")
    rows = torch.arange(side, device=device)
    out_block = (rows[:, None] // block) * blocks_per_row + rows[None, :] // block
    source = perm[out_block]
    source_row = (source // blocks_per_row) * block + rows[:, None] % block
    source_col = (source % blocks_per_row) * block + rows[None, :] % block
    return (source_row * side + source_col).reshape(-1)


def scramble_batch(images: torch.Tensor, blocks: Sequence[int],
                   permutations: Sequence[Sequence[int]]) -> torch.Tensor:
    """Scramble every image of a batch with its own block side and permutation.

    Parameters
    ----------
    images : torch.Tensor
        N×C×S×S.
    blocks : sequence of int
        Block side per image, pixels.
    permutations : sequence of sequences
        Permutation per image (see :func:`block_index`).

    Returns
    -------
    torch.Tensor
        N×C×S×S, a new tensor on the same device.
    """
    n, channels, side, width = images.shape
    if side != width:
        raise ValueError(f"scrambling needs square images, got {side}×{width}")
    index = torch.stack([block_index(side, b, p, images.device)
                         for b, p in zip(blocks, permutations, strict=True)])
    flat = images.reshape(n, channels, side * side)
    gathered = flat.gather(2, index[:, None, :].expand(n, channels, side * side))
    return gathered.reshape(n, channels, side, side)


def rect_mask(side: int, rects: Sequence[Sequence[int]], device: torch.device | str = "cpu"
              ) -> torch.Tensor:
    """An S×S boolean mask, True inside any ``[x0, y0, x1, y1]`` rectangle (exclusive ends)."""
    mask = torch.zeros(side, side, dtype=torch.bool, device=device)
    for x0, y0, x1, y1 in rects:
        mask[y0:y1, x0:x1] = True
    return mask


def patch_batch(images: torch.Tensor, rects: Sequence[Sequence[Sequence[int]]],
                colours: Sequence[Sequence[int]]) -> torch.Tensor:
    """Paint each image's rectangles with its colour.

    Parameters
    ----------
    images : torch.Tensor
        N×3×H×W, values in the same units as ``colours`` (0–255 levels).
    rects : sequence
        Per image, its rectangles ``[x0, y0, x1, y1]`` in pixels, exclusive ends.
    colours : sequence
        Per image, the RGB fill.

    Returns
    -------
    torch.Tensor
        A new N×3×H×W tensor.
    """
    side = images.shape[-1]
    masks = torch.stack([rect_mask(side, r, images.device) for r in rects])[:, None]
    fill = torch.as_tensor(np.asarray(colours), dtype=images.dtype, device=images.device)
    return torch.where(masks, fill[:, :, None, None], images)


def build_probes(originals: torch.Tensor, probes: Sequence[str], params: Sequence[Any]
                 ) -> torch.Tensor:
    """Every item of a batch built from its original and its ``params``.

    Parameters
    ----------
    originals : torch.Tensor
        N×3×S×S uint8 (or float in 0–255) originals in the input frame, one per item.
    probes : sequence of str
        Per item: ``original``, ``scramble`` or ``patch``.
    params : sequence
        Per item, its ``params`` (a dict or its JSON text) as in
        ``perturbations.parquet``.

    Returns
    -------
    torch.Tensor
        N×3×S×S, same dtype and device as ``originals``.
    """
    unknown = sorted(set(probes) - set(ON_THE_FLY_PROBES))
    if unknown:
        raise ValueError(f"probes {unknown} cannot be built on the fly; store them")
    out = originals.clone()
    decoded = [json.loads(p) if isinstance(p, str) else (p or {}) for p in params]
    scrambled = [i for i, probe in enumerate(probes) if probe == "scramble"]
    if scrambled:
        out[scrambled] = scramble_batch(
            originals[scrambled], [decoded[i]["block"] for i in scrambled],
            [decoded[i]["permutation"] for i in scrambled])
    patched = [i for i, probe in enumerate(probes) if probe == "patch"]
    if patched:
        colours = [_colour(originals[i], decoded[i]) for i in patched]
        out[patched] = patch_batch(originals[patched], [decoded[i]["rects"] for i in patched],
                                   colours)
    return out


def _colour(original: torch.Tensor, params: dict[str, Any]) -> tuple[int, int, int]:
    if "colour" in params:
        return tuple(int(v) for v in params["colour"])  # type: ignore[return-value]
    fill = params["fill"]
    if fill == "mean":  # the image's own mean, exactly as the stored PNG computed it
        image = original.permute(1, 2, 0).to("cpu", torch.uint8).numpy()
        return fill_colour(image, "mean")
    return fill_colour(np.zeros((1, 1, 3), np.uint8), fill)


def build_batch(images: torch.Tensor, rows: np.ndarray | Sequence[int],
                builds: Mapping[int, tuple[str, str]], device: torch.device | str
                ) -> torch.Tensor:
    """A batch of channels-last images whose built rows are made from their originals.

    Parameters
    ----------
    images : torch.Tensor
        N×H×W×3 uint8: each built row holds its original, the others their own image.
    rows : array-like of int
        Each image's row number, the key of ``builds``.
    builds : mapping of int to (str, str)
        ``row -> (probe, params JSON)`` for the rows to build (:func:`build_probes`).
    device : torch.device or str
        Where to build them (the model's device).

    Returns
    -------
    torch.Tensor
        N×H×W×3 uint8 on ``device`` when anything was built, else ``images`` itself;
        the pixels a stored PNG of each built row would hold.
    """
    rows = np.asarray(rows).tolist()
    todo = [i for i, row in enumerate(rows) if row in builds]
    if not todo:
        return images
    x = images.to(device, non_blocking=True)
    probes, params = zip(*(builds[int(rows[i])] for i in todo), strict=True)
    index = torch.as_tensor(todo, device=x.device)
    built = build_probes(x.index_select(0, index).permute(0, 3, 1, 2), probes, params)
    x = x.clone() if x.data_ptr() == images.data_ptr() else x
    x[index] = built.permute(0, 2, 3, 1)
    return x
