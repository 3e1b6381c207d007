"""CLI = README: every command the README shows exists, and its --help shows every default."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import typer
from typer.testing import CliRunner

from localglobal.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[list[str]]:
    """The words of each ``localglobal …`` line in the README's code blocks."""
    commands, inside = [], False
    lines = README.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            inside = not inside
            continue
        text = line.strip().removeprefix("$ ")
        if inside and text.startswith("localglobal "):
            while text.endswith("\\") and number + 1 < len(lines):
                number += 1
                text = text[:-1] + " " + lines[number].strip()
            commands.append(shlex.split(text, comments=True)[1:])
    return commands


def command_path(words: list[str]) -> tuple[list[str], Any]:
    """The sub-command names at the start of ``words`` and the command they reach."""
    command = typer.main.get_command(app)
    path: list[str] = []
    for word in words:
        if word not in getattr(command, "commands", {}):
            break
        command = command.commands[word]
        path.append(word)
    return path, command


def leaf_commands() -> list[tuple[list[str], Any]]:
    found = []

    def walk(command: Any, path: list[str]) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            found.append((path, command))

    walk(typer.main.get_command(app), [])
    return found


def test_the_readme_shows_commands():
    assert len(readme_commands()) >= 10


@pytest.mark.parametrize("words", readme_commands(), ids=lambda w: " ".join(w[:2]))
def test_each_readme_command_exists_and_takes_its_options(words):
    path, command = command_path(words)
    assert path, f"README: `localglobal {' '.join(words)}` names no command"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    known = {name for param in command.params for name in (*param.opts, *param.secondary_opts)}
    for word in words[len(path):]:
        if word.startswith("--"):
            assert word.split("=")[0] in known, f"README: {word} is not an option of {path}"


@pytest.mark.parametrize("path, command", leaf_commands(), ids=lambda p: " ".join(p)
                         if isinstance(p, list) else "")
def test_every_default_is_in_the_help(path, command):
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = [line.strip("│ *") for line in click.unstyle(result.output).splitlines()]
    for param in command.params:
        if param.param_type_name != "option" or param.hidden or param.is_eager:
            continue
        default = param.default
        if default is None or (param.is_flag and default is False and not param.secondary_opts):
            continue
        assert "default" in option_help(lines, param.opts[0]), \
            f"{' '.join(path)} {param.opts[0]}: its default is not in --help"


def option_help(lines: list[str], name: str) -> str:
    """The help of option ``name``: its line up to the next option's."""
    start = next(i for i, line in enumerate(lines) if re.match(rf"(-\w,?\s+)?{name}\b", line))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("-")),
               len(lines))
    return " ".join(lines[start:end])


DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_model_key_is_documented():
    from localglobal.config import ModelEntry

    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [key for key in ModelEntry.model_fields if f"`{key}`" not in page]
    assert missing == [] and '"random"' in page


def test_the_docs_build_offline(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed")
    import subprocess
    import sys

    root = DOCS.parent
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-f", str(root / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                          capture_output=True, text=True, cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr
    api_page = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    assert "load_run" in api_page and "explain" in api_page
    config_page = (tmp_path / "site" / "configuration" / "index.html").read_text("utf-8")
    assert "require_box" in config_page and "composite" in config_page
