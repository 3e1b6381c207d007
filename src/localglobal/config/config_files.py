"""Configuration files: validated into a :class:`~localglobal.config.run_config.RunConfig`,
laid over one another, compared, found among the built-in ones, and written back as TOML.

Relative data paths in a file are taken relative to the file's folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from localglobal.config.run_config import RunConfig
from localglobal.config.toml_reading import read_toml
from localglobal.errors import ConfigError

CONFIG_DIR = Path(__file__).parents[1] / "configs"
"""The configurations shipped with the package (``thesis``, ``demo``, ``demo-ci``)."""


def _format_errors(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid configuration"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> RunConfig:
    """Validate a configuration given as nested dictionaries."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, source)) from None


def load_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read and validate a TOML configuration file.

    Relative data paths in the file are taken relative to the file's folder.
    """
    path = Path(path)
    config = config_from_dict(read_toml(path), str(path))
    return _resolve_paths(config, path.parent)



def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_changes(before: RunConfig, after: RunConfig) -> list[str]:
    """The settings that differ between two configurations, one ``key: old → new`` each."""
    old = _flatten(before.model_dump(mode="json"))
    new = _flatten(after.model_dump(mode="json"))
    return [f"{key}: {old.get(key)!r} → {new.get(key)!r}"
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def overlay_config(base: RunConfig, path: str | os.PathLike[str]) -> RunConfig:
    """Lay the TOML file at ``path`` over ``base``: tables merged, keys replaced.

    A file holding one ``[models.NAME]`` table adds that model and keeps everything
    else of ``base``; relative paths in the file are taken relative to its folder.

    Parameters
    ----------
    base : RunConfig
        The run's configuration.
    path : path-like
        The overlay.

    Returns
    -------
    RunConfig
        The merged, validated configuration.
    """
    path = Path(path)
    overlay = _resolve_paths(config_from_dict(read_toml(path), str(path)), path.parent)
    raw = read_toml(path)
    resolved = overlay.model_dump(mode="json", exclude_none=True)
    # Only the keys the file sets are laid over; the rest of ``overlay`` is defaults.
    picked = _pick(resolved, raw)
    merged = _merge(base.model_dump(mode="json", exclude_none=True), picked)
    return config_from_dict(merged, str(path))


def _pick(resolved: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    picked: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(resolved.get(key), dict):
            picked[key] = _pick(resolved[key], value)
        else:
            picked[key] = resolved.get(key, value)
    return picked


def _resolve_paths(config: RunConfig, base: Path) -> RunConfig:
    for key in ("annotations", "images"):
        value = getattr(config.data, key)
        if value and "://" not in value and not Path(value).expanduser().is_absolute():
            setattr(config.data, key, str((base / value).resolve()))
    for entry in config.probes.plugins.values():
        reference = entry.get("function")
        if isinstance(reference, str) and ":" in reference:
            file, _, function = reference.rpartition(":")
            if file and not Path(file).expanduser().is_absolute():
                entry["function"] = f"{(base / file).resolve()}:{function}"
    for entry in config.models.values():
        for key in ("weights", "module"):
            value = getattr(entry, key)
            if value and "://" not in value and not Path(value).expanduser().is_absolute():
                candidate = (base / value).resolve()
                if candidate.exists():
                    setattr(entry, key, str(candidate))
    return config


def builtin_config(name: str) -> Path:
    """Path of a configuration shipped with the package (``"thesis"``, ``"demo"``)."""
    path = CONFIG_DIR / f"{name}.toml"
    if not path.exists():
        available = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
        raise ConfigError(f"no built-in configuration {name!r}; available: {available}")
    return path


def to_toml(config: RunConfig) -> str:
    """Serialise a configuration as TOML (the form written into a run directory)."""
    import tomli_w

    return tomli_w.dumps(config.model_dump(mode="json", exclude_none=True))
