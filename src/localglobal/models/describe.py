"""The table ``localglobal models`` prints: every model, its weights and whether they are here.

Nothing heavy is imported with this module: torchvision and timm are imported only
by the lookups that need them (an open form's metadata, a library cache's path), so
the command answers quickly.

>>> rows = describe_models()                     # doctest: +SKIP
>>> rows[0]["name"], rows[0]["LRP"]              # doctest: +SKIP
('resnet50', 'resnet')
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from localglobal.models.loading import weights_cached
from localglobal.models.model_catalog import TOY_WEIGHTS_DIR, list_models
from localglobal.models.resolve import load_config_modules, resolve_model
from localglobal.models.spec import weights_kind

if TYPE_CHECKING:
    from localglobal.config import RunConfig

COLUMNS: tuple[str, ...] = ("name", "architecture", "weights", "cached", "label space", "LRP")
"""The table's columns, in order."""


def short_source(source: str | None) -> str:
    """A weights source shortened for the table (a URL's host and file name).

    Parameters
    ----------
    source : str or None
        A spec's ``weights``.

    Returns
    -------
    str
        ``torchvision IMAGENET1K_V1``, ``host/…/file.pth``, a path (the package's
        own relative to the package), or ``(none: set weights)``.
    """
    kind = weights_kind(source)
    if kind == "none":
        return "(none: set weights)"
    if kind in {"torchvision", "timm"}:
        return source.replace(":", " ", 1)  # type: ignore[union-attr]
    if kind == "url":
        parsed = urllib.parse.urlparse(source)
        return f"{parsed.netloc}/…/{Path(parsed.path).name}"
    package_root = TOY_WEIGHTS_DIR.parent.parent
    path = Path(source).expanduser()  # type: ignore[arg-type]
    if path.is_relative_to(package_root):
        return f"{package_root.name}/{path.relative_to(package_root)}"
    return str(source)


def _names(config: RunConfig | None) -> list[str]:
    """The registered models, the configuration's entries and its open-form names."""
    names = list_models()
    if config is not None:
        names += [n for n in config.models if n not in names]
        names += [n for n in config.evaluate.models + config.attribute.models
                  if n not in names and n.startswith(("timm:", "torchvision:"))]
    return names


def describe_models(config: RunConfig | None = None) -> list[dict[str, str]]:
    """One row per model for ``localglobal models``.

    Parameters
    ----------
    config : RunConfig, optional
        The run configuration: its ``[models.NAME]`` entries (and the Python files
        their ``module`` keys name) and the open forms its stages use are listed too.

    Returns
    -------
    list of dict
        Rows with the keys of :data:`COLUMNS`: ``name``, ``architecture``,
        ``weights``, ``cached``, ``label space`` and ``LRP`` (the canonizer, or
        ``no``). A model that does not resolve gets ``error: …`` as its architecture.
    """
    load_config_modules(config)
    rows = []
    for name in _names(config):
        try:
            spec = resolve_model(name, config)
        except (KeyError, ValueError, ImportError, OSError) as error:
            rows.append(dict.fromkeys(COLUMNS, "") | {"name": name,
                                                     "architecture": f"error: {error}"})
            continue
        rows.append({
            "name": name,
            "architecture": spec.arch,
            "weights": short_source(spec.weights),
            "cached": weights_cached(spec),
            "label space": spec.label_space,
            "LRP": spec.canonizer or "no",
        })
    return rows


__all__ = ["COLUMNS", "describe_models", "short_source"]
