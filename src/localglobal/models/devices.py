"""Choosing the device a model runs on (the one helper of every model stage).

>>> select_device("cpu")                    # doctest: +SKIP
device(type='cpu')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from localglobal.errors import ConfigError

if TYPE_CHECKING:
    import torch

AUTO = "auto"
"""The device name that picks CUDA, then MPS, then the CPU."""


def select_device(requested: str | None = AUTO) -> torch.device:
    """The device to run on.

    Parameters
    ----------
    requested : str, optional
        ``auto`` (also ``None`` or empty: CUDA, then MPS, then the CPU), ``cpu``,
        ``cuda``, ``cuda:N`` or ``mps``; case and surrounding spaces do not matter.

    Returns
    -------
    torch.device
        The device.

    Raises
    ------
    ConfigError
        An explicitly requested device that is not available (no CUDA, a CUDA index
        beyond the devices present, no MPS), or a name torch does not know.
    """
    import torch

    name = (requested or AUTO).strip().lower()
    mps = getattr(torch.backends, "mps", None)
    mps_available = mps is not None and mps.is_available()
    if name == AUTO:
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ConfigError(f"device {requested!r}: {error}; use auto, cpu, cuda, "
                          "cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {requested!r} requested but CUDA is not "
                          "available; use --device cpu or auto")
    if device.type == "cuda" and device.index is not None \
            and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device {requested!r} requested but only "
                          f"{torch.cuda.device_count()} CUDA device(s) exist")
    if device.type == "mps" and not mps_available:
        raise ConfigError(f"device {requested!r} requested but MPS is not "
                          "available; use --device cpu or auto")
    return device


def device_of(model: torch.nn.Module, device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else where the model's parameters are (the CPU for none).

    Parameters
    ----------
    model : torch.nn.Module
        An in-memory model.
    device : str or torch.device, optional
        The device asked for.

    Returns
    -------
    torch.device
    """
    import torch

    if device is not None:
        return torch.device(device)
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


__all__ = ["AUTO", "device_of", "select_device"]
