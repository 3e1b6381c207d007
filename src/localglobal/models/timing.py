"""How long a model takes per image on this machine, for ``localglobal run --dry-run``.

>>> forward_seconds(config, "resnet50", batch=8, device="cpu")   # doctest: +SKIP
0.031
"""

from __future__ import annotations

import time
from typing import Any

from localglobal.models.devices import select_device
from localglobal.models.loading import load_model
from localglobal.models.resolve import resolve_model


def forward_seconds(config: Any, name: str, batch: int, device: str | None) -> float | None:
    """Seconds per image of model ``name``'s forward pass on a batch of random images.

    Parameters
    ----------
    config : RunConfig
        The run's configuration (its ``[models.NAME]`` entries resolve the name).
    name : str
        The model.
    batch : int
        Images per timed batch (one warm-up image goes first).
    device : str, optional
        As ``evaluate.device``.

    Returns
    -------
    float or None
        None when the model does not load: the run will report it, the estimate says
        its time is unknown.
    """
    import torch

    try:
        spec = resolve_model(name, config)
        chosen = select_device(device)
        model = load_model(spec, device=chosen).eval()
    except Exception:  # a model that does not load is the run's to report
        return None
    x = torch.rand(batch, 3, spec.crop, spec.crop, device=chosen)
    with torch.inference_mode():
        model(x[:1])
        started = time.perf_counter()
        model(x)
    return (time.perf_counter() - started) / batch


def seconds_per_item(config: Any, names: list[str], batch: int, factor: float = 1.0
                     ) -> list[float | None]:
    """Each model's seconds per item: a forward pass (of ``evaluate.device``) × ``factor``."""
    seconds = [forward_seconds(config, name, min(batch, 8), config.evaluate.device)
               for name in names]
    return [None if s is None else s * factor for s in seconds]
