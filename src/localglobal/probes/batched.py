"""Probe items built on batches of torch tensors, on whatever device the model runs on.

The model stages need not read one PNG per probe image: every probe that declares a
batched function (:meth:`~localglobal.probes.registry.Probe.build`) is made from the
original and the item's ``params`` as recorded in ``perturbations.parquet``, with the
pixels of the stored PNG (bit for bit for scramble and patch, within one grey level for
the filters). Each row's ``params`` is checked against its probe, level and the frame
first (:meth:`~localglobal.probes.registry.Probe.validate`), so a tampered table gives
a bad item, never a wrong image.

Tensors are N×3×H×W (channels first, as models take them).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from localglobal.errors import BadInputError
from localglobal.probes.catalog import get_probe, on_the_fly
from localglobal.probes.registry import Level, Probe

Build = tuple[str, str] | tuple[str, str, Level]
"""What a row to build needs: (probe, params JSON[, level])."""


def decode_params(params: Any) -> dict[str, Any]:
    """A row's ``params`` (a dict or its JSON text) as a dict.

    Raises
    ------
    BadInputError
        Not JSON, or not a JSON object.
    """
    if isinstance(params, Mapping):
        return dict(params)
    try:
        decoded = json.loads(params) if params else {}
    except (TypeError, ValueError):
        raise BadInputError("params is not JSON") from None
    if not isinstance(decoded, dict):
        raise BadInputError(f"params must be a JSON object, got {type(decoded).__name__}")
    return decoded


@functools.cache
def _builder(name: str, side: int) -> Probe:
    """The probe that checks and builds ``name``'s rows on a ``side``-pixel frame: settled
    once, not once per row (records carry everything a build needs)."""
    return get_probe(name, crop=side)


def check_item(probe: str, params: Any, level: Level | None, side: int) -> dict[str, Any]:
    """A row's ``params`` decoded and checked against its probe, level and frame side.

    Parameters
    ----------
    probe : str
        The row's probe.
    params : dict or str
        The row's params.
    level : Level or None
        The row's level; None skips the comparison with it.
    side : int
        The frame's side, pixels.

    Returns
    -------
    dict
        The decoded params.

    Raises
    ------
    BadInputError
        The probe cannot be built on the fly, or the params do not fit it.
    """
    if not on_the_fly(probe):
        raise BadInputError(f"probe {probe!r} cannot be built on the fly; store it")
    record = decode_params(params)
    _builder(probe, side).validate(record, level, side)
    return record


def build_probes(originals: torch.Tensor, probes: Sequence[str], params: Sequence[Any],
                 levels: Sequence[Level | None] | None = None) -> torch.Tensor:
    """Every item of a batch built from its original and its ``params``.

    Parameters
    ----------
    originals : torch.Tensor
        N×3×S×S uint8 (or float in 0–255) originals in the input frame, one per item.
    probes : sequence of str
        Per item, its probe (one that can be built on the fly).
    params : sequence
        Per item, its ``params`` (a dict or its JSON text) as in ``perturbations.parquet``.
    levels : sequence of Level, optional
        Per item, its row's level, which the params must match.

    Returns
    -------
    torch.Tensor
        N×3×S×S, same dtype and device as ``originals``.

    Raises
    ------
    BadInputError
        A probe that cannot be built on the fly, or params that do not fit their row.
    """
    side = int(originals.shape[-1])
    levels = list(levels) if levels is not None else [None] * len(probes)
    records = [check_item(p, q, lv, side) for p, q, lv in zip(probes, params, levels,
                                                             strict=True)]
    out = originals.clone()
    for name in dict.fromkeys(probes):
        rows = [i for i, p in enumerate(probes) if p == name]
        built = _builder(name, side).build(originals[rows], [records[i] for i in rows])
        out[rows] = built.to(out.dtype)
    return out


def build_batch(images: torch.Tensor, rows: np.ndarray | Sequence[int],
                builds: Mapping[int, Build], device: torch.device | str) -> torch.Tensor:
    """A batch of channels-last images whose built rows are made from their originals.

    Parameters
    ----------
    images : torch.Tensor
        N×H×W×3 uint8: each built row holds its original, the others their own image.
    rows : array-like of int
        Each image's row number, the key of ``builds``.
    builds : mapping of int to tuple
        ``row -> (probe, params JSON[, level])`` for the rows to build
        (:func:`build_probes`).
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
    wanted = [builds[int(rows[i])] for i in todo]
    index = torch.as_tensor(todo, device=x.device)
    built = build_probes(x.index_select(0, index).permute(0, 3, 1, 2),
                         [b[0] for b in wanted], [b[1] for b in wanted],
                         [b[2] if len(b) > 2 else None for b in wanted])  # type: ignore[misc]
    x = x.clone() if x.data_ptr() == images.data_ptr() else x
    x[index] = built.permute(0, 2, 3, 1)
    return x


__all__ = ["build_batch", "build_probes", "check_item", "decode_params"]
