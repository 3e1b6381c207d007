"""Looking up attribution methods by name: one style for composites and canonizers.

A registry is a plain dict from a name to a factory (as timm's and zennit's are); an
unknown name is a :class:`UnknownNameError` that lists the known ones, so a typo in
``attribute.composite`` or ``[models.NAME] canonizer`` names its fix.

>>> lookup({"a": int, "b": float}, "b", "number type")
<class 'float'>
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from localglobal.errors import UnknownNameError

T = TypeVar("T")


def lookup(registry: Mapping[str, T], name: str, what: str) -> T:
    """The entry of ``registry`` called ``name``.

    Parameters
    ----------
    registry : Mapping
        Name → factory.
    name : str
        The name asked for.
    what : str
        What the registry holds (``"composite"``), for the message.

    Returns
    -------
    object
        The registered factory.

    Raises
    ------
    UnknownNameError
        ``name`` is not registered; the message lists every known name.
    """
    try:
        return registry[name]
    except (KeyError, TypeError):
        raise UnknownNameError(f"unknown {what} {name!r}; known: {', '.join(registry)}") from None
