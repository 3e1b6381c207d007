"""Reading a configuration file's TOML within limits: a size, a nesting depth, UTF-8.

A file handed over as a configuration may be anything; these limits keep a wrong or
hostile one from costing more than a clear ``error:`` line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from localglobal.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

MAX_CONFIG_BYTES = 1 << 20
"""The largest configuration file read (1 MiB; the thesis's is 6 KiB)."""
MAX_CONFIG_DEPTH = 32
"""The deepest nesting of tables and arrays a configuration may have."""


def _bracket_depth(text: str) -> int:
    """The deepest nesting in TOML text: ``[``/``{`` plus the dots of one dotted key.

    Strings and comments are left out. A dotted key (``[a.b.c]``) nests as deep as
    brackets do, and the parser takes time quadratic in its length; a float's one dot
    adds one level at most.
    """
    depth = deepest = dots = 0
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == ".":
            dots += 1
            deepest = max(deepest, depth + dots)
        elif char in "=,\n":
            dots = 0
        if char == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif char in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else char
            j = i + len(quote)
            while j < n and text[j:j + len(quote)] != quote:
                j += 2 if char == '"' and text[j] == "\\" else 1
            i = j + len(quote) - 1
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
        i += 1
    return deepest


def _dict_depth(data: Any) -> int:
    """The nesting depth of parsed TOML, found without recursion."""
    deepest, pending = 0, [(data, 1)]
    while pending:
        value, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_CONFIG_DEPTH:
            break
        children = value.values() if isinstance(value, dict) else \
            value if isinstance(value, list) else ()
        pending.extend((child, depth + 1) for child in children
                       if isinstance(child, dict | list))
    return deepest


def read_toml(path: Path) -> dict[str, Any]:
    """A configuration file's TOML, read within the size and depth limits.

    Parameters
    ----------
    path : pathlib.Path
        The configuration file.

    Returns
    -------
    dict
        The parsed tables.

    Raises
    ------
    ConfigError
        When the file is missing, a folder, too large, nested too deep or not valid TOML.
    """
    if not path.exists():
        raise ConfigError(f"{path}: no such configuration file")
    if not path.is_file():
        raise ConfigError(f"{path}: is a folder, not a configuration file")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size} bytes, larger than a configuration "
                          f"can be ({MAX_CONFIG_BYTES} bytes); is it the right file?")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    too_deep = ConfigError(f"{path}: tables or arrays nested more than {MAX_CONFIG_DEPTH} "
                           "levels deep; a configuration is at most a few levels deep")
    if _bracket_depth(text) > MAX_CONFIG_DEPTH:
        raise too_deep
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    if _dict_depth(data) > MAX_CONFIG_DEPTH:
        raise too_deep
    return data
