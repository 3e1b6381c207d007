"""A probe of one's own, in one file: ``[probes.plugins.NAME]`` in the configuration.

.. code-block:: toml

    [probes]
    probes = ["scramble", "invert"]

    [probes.plugins.invert]
    function = "my_probes.py:invert"   # relative to the configuration file
    levels = [0.5, 1.0]                # any numbers or labels
    variants = 1                       # items per image and level
    description = "Colours are inverted, blended with the original by the level."
    axis_label = "blend"

The function is ``f(image, level, rng) -> image``: ``image`` is H×W×3 uint8 RGB in the
model-input frame, ``level`` one of ``levels`` as written, ``rng`` a
``numpy.random.Generator`` seeded for the item. It returns an image of the same shape
(uint8, or floats in 0–255, which are rounded and clipped). A plugin is code: it is
loaded only from a configuration handed over on the command line or with
``--trust-config`` (:func:`localglobal.probes.catalog.configured_probes`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from localglobal.errors import BadInputError, ConfigError
from localglobal.probes.registry import LABEL_PATTERN, Level, Probe, ProbeParams
from localglobal.trust import register_code_key, require_trusted

FUNCTION_KEY = "probes.plugins.*.function"
register_code_key(FUNCTION_KEY, "a probe plugin's Python file (imported and run)")

PluginFunction = Callable[[np.ndarray, Any, np.random.Generator], np.ndarray]


class PluginParams(ProbeParams):
    """``[probes.plugins.NAME]``."""

    function: str = Field(description="path/to/file.py:function")
    levels: list[int | float | str] = Field(min_length=1)
    variants: int = Field(1, ge=1, le=1000)
    description: str = ""
    axis_label: str = "level"


def split_reference(reference: str) -> tuple[Path, str]:
    """``"path/to/file.py:function"`` as (file, function name).

    Raises
    ------
    ValueError
        Not of that form.
    """
    file, _, function = reference.rpartition(":")
    if not file or not function.isidentifier() or not file.endswith(".py"):
        raise ValueError(f"{reference!r} is not of the form path/to/file.py:function")
    return Path(file).expanduser(), function


def load_function(reference: str) -> PluginFunction:
    """Import the function a plugin names, from its file (never from the import path).

    Raises
    ------
    ConfigError
        The file is missing, does not import, or has no such function.
    """
    path, name = split_reference(reference)
    if not path.is_file():
        raise ConfigError(f"{reference}: no such file {path}")
    module_name = "localglobal_plugin_" + hashlib.sha256(str(path.resolve()).encode()
                                                         ).hexdigest()[:16]
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"{reference}: cannot be imported")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            raise ConfigError(f"{reference}: importing {path} failed: "
                              f"{type(error).__name__}: {error}") from None
        sys.modules[module_name] = module
    function = getattr(module, name, None)
    if not callable(function):
        raise ConfigError(f"{reference}: {path} defines no function {name}")
    return function


class PluginProbe(Probe):
    """A user's probe: a function from a file, with the levels the configuration lists.

    Its items are stored (no batched version); everything else (rows, curve, accuracy
    table, report section) is that of a built-in probe.
    """

    Params = PluginParams
    params: PluginParams

    def __init__(self, name: str, params: PluginParams, crop: int = 224) -> None:
        super().__init__(params, crop)
        self.name = name  # type: ignore[misc]
        self.description = params.description or f"The plugin {params.function}."  # type: ignore[misc]
        self.axis_label = params.axis_label  # type: ignore[misc]
        self._function: PluginFunction | None = None

    def __getstate__(self) -> dict[str, Any]:
        # The function is loaded again from its file in each worker.
        return {**self.__dict__, "_function": None}

    def function(self) -> PluginFunction:
        """The user's function, loaded on first use (only from a trusted configuration).

        Raises
        ------
        ConfigError
            The configuration naming it was not handed over by the user.
        """
        if self._function is None:
            require_trusted(f"probes.plugins.{self.name}.function", self.params.function,
                            self.trusted)
            self._function = load_function(self.params.function)
        return self._function

    def check(self, validate: bool = True) -> None:
        if not LABEL_PATTERN.match(self.name):
            raise ConfigError(f"probes.plugins.{self.name}: the name must be letters, "
                              "digits, '.', '_', '+', '-'")
        try:
            split_reference(self.params.function)
        except ValueError as error:
            raise ConfigError(f"probes.plugins.{self.name}.function: {error}") from None
        super().check(validate)

    def code_paths(self) -> list[tuple[str, str]]:
        return [(f"probes.plugins.{self.name}.function", self.params.function)]

    def value(self, level: Level) -> Any:
        """The level as the configuration wrote it (what the function receives)."""
        return next(v for v, lv in zip(self.params.levels, self.levels(), strict=True)
                    if lv == level)

    def apply(self, image: np.ndarray, level: Level, rng: np.random.Generator
              ) -> tuple[np.ndarray, dict[str, Any]]:
        value = self.value(level)
        try:
            out = np.asarray(self.function()(np.array(image, copy=True), value, rng))
        except ConfigError:
            raise
        except Exception as error:
            raise BadInputError(f"the plugin probe {self.name} failed on this image: "
                                f"{type(error).__name__}: {error}") from None
        if out.shape != np.shape(image):
            raise BadInputError(f"the plugin probe {self.name} returned shape {out.shape} "
                                f"for an image of shape {np.shape(image)}")
        if out.dtype != np.uint8:
            out = np.clip(np.rint(out.astype(np.float64)), 0, 255).astype(np.uint8)
        return out, {"function": self.params.function, "level": value}

    def key(self) -> dict[str, Any]:
        path, _ = split_reference(self.params.function)
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        return {**self.params.model_dump(mode="json"), "sha256": digest}
