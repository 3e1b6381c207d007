r"""Which code a configuration may load: one rule, asked by every loader.

A run directory received from someone else is data. Its ``config.toml`` may name code —
a model's ``module``, an ``arch = "pkg.module:function"`` outside localglobal, timm and
torchvision, a TorchScript smoothing operator, a probe plugin — and that code is loaded
only when the configuration came from this command line (``--config``, ``run CONFIG``)
or the user passed ``--trust-config``. The command decides once whether it trusts its
configuration; every loader then asks :func:`require_trusted` before it imports,
unpickles, ``torch.jit.load``\\ s or executes anything a configuration names.

Each configuration key that can name code is declared once, with
:func:`register_code_key`, by the module that owns its loader; :func:`code_references`
walks a configuration for all of them, so that a command refuses untrusted code
before it changes anything, and a test can walk every such key. A new loader of code
(a probe plugin, say) registers its key and calls :func:`require_trusted`::

    register_code_key("probes.plugins.*.function", "a probe plugin's Python file")
    ...
    require_trusted(f"probes.plugins.{name}.function", entry.function, trusted)
    module = load_python_file(path)   # only after the check

A module a configuration names by a dotted name is imported with
:func:`import_named_module`, which keeps the working directory off the import path:
a file dropped into the folder a command starts from is never imported by name.

>>> code_references({"models": {"m": {"module": "evil.py"}}})["models.m.module"]
'evil.py'
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from localglobal.errors import ConfigError

TRUSTED_PACKAGES = ("localglobal", "timm", "torchvision")
"""Top-level packages whose functions an ``arch = "pkg.module:function"`` may name
without trust: they come with the tool, not with the configuration."""


@dataclass(frozen=True)
class CodeKey:
    """A configuration key that can name code.

    Attributes
    ----------
    pattern : str
        The dotted key, ``*`` standing for any one table name (``models.*.module``).
    description : str
        What the code is, for messages and the documentation.
    names_code : callable
        Whether a value of the key names code (e.g. ``arch = "timm:resnet50"`` does not).
    """

    pattern: str
    description: str
    names_code: Callable[[str], bool]


CODE_KEYS: dict[str, CodeKey] = {}
"""Every configuration key that can name code, by pattern."""


def _always(value: str) -> bool:
    return bool(value)


def register_code_key(pattern: str, description: str,
                      names_code: Callable[[str], bool] | None = None) -> None:
    """Declare a configuration key whose value can name code.

    Parameters
    ----------
    pattern : str
        Dotted key; ``*`` matches any one table name (``probes.plugins.*.function``).
    description : str
        What the code is (``"a model's Python file"``).
    names_code : callable, optional
        ``names_code(value)``: whether this value names code; default any non-empty value.
    """
    CODE_KEYS[pattern] = CodeKey(pattern, description, names_code or _always)


def arch_names_code(arch: str) -> bool:
    """Whether a model ``arch`` names a function to import from outside the trusted packages.

    ``timm:NAME``, ``torchvision:NAME``, registered names and
    ``localglobal.x:function`` do not; ``pkg.module:function`` does.
    """
    prefix, colon, _ = arch.partition(":")
    if not colon:
        return False
    return prefix.split(".")[0] not in TRUSTED_PACKAGES


register_code_key("models.*.module", "a Python file or module that registers models")
register_code_key("models.*.arch", "a function that builds the model (pkg.module:function)",
                  arch_names_code)


def _walk(data: Any, parts: list[str], prefix: str) -> Iterator[tuple[str, Any]]:
    if not parts:
        yield prefix, data
        return
    if not isinstance(data, Mapping):
        return
    head, rest = parts[0], parts[1:]
    names = [str(k) for k in data] if head == "*" else [head]
    for name in names:
        if name in data:
            yield from _walk(data[name], rest, f"{prefix}.{name}" if prefix else name)


def code_references(config: Any) -> dict[str, str]:
    """Every key of a configuration that names code, with the value naming it.

    Parameters
    ----------
    config : RunConfig or mapping
        A validated configuration or its nested dictionaries (a TOML file as read).

    Returns
    -------
    dict
        ``{"models.evil.module": "/path/evil.py", ...}`` for each key of
        :data:`CODE_KEYS` whose value names code.
    """
    data = config.model_dump(mode="json") if hasattr(config, "model_dump") else config
    found: dict[str, str] = {}
    for key in CODE_KEYS.values():
        for name, value in _walk(data, key.pattern.split("."), ""):
            if isinstance(value, str) and key.names_code(value):
                found[name] = value
    return found


def untrusted_message(key: str, value: str) -> str:
    """The refusal to load the code ``key = value`` of an untrusted configuration."""
    return (f"{key} = {value!r} names code, and the configuration holding it was not "
            "given on this command line (a run directory's config.toml never runs code "
            "on its own); read that file, then pass --trust-config to run it")


def require_trusted(key: str, value: str, trusted: bool) -> None:
    """The trust rule: refuse to load the code ``key = value`` names unless trusted.

    Every loader of code a configuration names calls this first.

    Parameters
    ----------
    key : str
        The configuration key (``probes.smooth.operator``).
    value : str
        What it names (the file, or ``pkg.module:function``).
    trusted : bool
        Whether this command's configuration came from its command line, or
        ``--trust-config`` was given.

    Raises
    ------
    ConfigError
        ``trusted`` is false; the message names the key and says what to do.
    """
    if not trusted:
        raise ConfigError(untrusted_message(key, value))


def refuse_untrusted(references: Mapping[str, str], trusted: bool) -> None:
    """:func:`require_trusted` for each of ``references`` (``{key: value}``), in key order."""
    for key in sorted(references):
        require_trusted(key, references[key], trusted)


def vouched_for(config: Any, given: Any | None) -> bool:
    """Whether every code reference of ``config`` came, unchanged, from ``given``.

    Parameters
    ----------
    config : RunConfig or mapping
        The configuration a command will run with (the run's, with ``given`` laid over).
    given : RunConfig or mapping, optional
        The configuration the user gave on this command line (``--config``), if any.
    """
    needed = code_references(config)
    if not needed:
        return True
    if given is None:
        return False
    offered = code_references(given)
    return all(offered.get(key) == value for key, value in needed.items())


def _off_path(entry: str, cwd: str) -> bool:
    if entry in ("", "."):
        return True
    with contextlib.suppress(OSError):
        return os.path.realpath(entry) == cwd
    return False


def import_named_module(name: str) -> ModuleType:
    """Import the module a configuration names, with the working directory off the path.

    Python puts the folder a command starts from on ``sys.path`` (``python -m``, an
    empty ``PYTHONPATH`` entry); a module file planted there would shadow an installed
    one. The path is restored afterwards.

    Raises
    ------
    ImportError
        No such installed module.
    """
    cwd = os.path.realpath(os.getcwd())
    saved = list(sys.path)
    sys.path[:] = [entry for entry in saved if not _off_path(entry, cwd)]
    try:
        return importlib.import_module(name)
    finally:
        sys.path[:] = saved


__all__ = ["CODE_KEYS", "TRUSTED_PACKAGES", "CodeKey", "arch_names_code", "code_references",
           "import_named_module", "refuse_untrusted", "register_code_key", "require_trusted",
           "untrusted_message", "vouched_for"]
