"""MkDocs hook: the configuration keys, generated from the configuration's own model.

A page that contains ``<!-- config-keys -->`` gets one table per section of
:class:`localglobal.config.RunConfig` (every key, its default and its meaning), so
that the reference never lags behind the code.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

MARKER = "<!-- config-keys -->"


def _default(field: Any) -> str:
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except TypeError:
            return ""
    else:
        value = field.default
    if value is None or isinstance(value, BaseModel):
        return ""
    return f"`{value!r}`"


def _section(title: str, model: type[BaseModel]) -> list[str]:
    lines = [f"### `[{title}]`", "", "| key | default | meaning |", "|---|---|---|"]
    nested: list[str] = []
    for key, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested += _section(f"{title}.{key}", annotation)
            continue
        meaning = (field.description or "").replace("|", "/")
        lines.append(f"| `{key}` | {_default(field)} | {meaning} |")
    return [*lines, "", *nested]


def config_tables() -> str:
    """Markdown tables of every configuration section."""
    from localglobal.config import RunConfig

    lines: list[str] = []
    for key, field in RunConfig.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            lines += _section(key, annotation)
    return "\n".join(lines)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace the marker with the tables."""
    return markdown.replace(MARKER, config_tables()) if MARKER in markdown else markdown
