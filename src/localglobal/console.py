"""The console every part of the tool prints to, and its progress bars.

Messages and progress go to standard error so that a command's standard output holds
only its results (paths written, tables), which scripts can parse.
"""

from __future__ import annotations

import os

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)
"""The shared console on standard error."""

NO_PROGRESS_ENV = "LOCALGLOBAL_NO_PROGRESS"
"""Set to ``1`` to hide progress bars (CI logs, notebooks that print their own)."""


def log(message: str, *, style: str | None = None) -> None:
    """Print one line to the console, verbatim (square brackets are not markup).

    Parameters
    ----------
    message : str
        The text; user data such as ``[models.NAME]`` is printed as it is.
    style : str, optional
        A rich style for the whole line, e.g. ``"dim"`` or ``"yellow"``.
    """
    console.print(escape(message), style=style, highlight=False, soft_wrap=True)


def progress_bar(transient: bool = False) -> Progress:
    """A progress bar with count, elapsed and remaining time, on standard error.

    Parameters
    ----------
    transient : bool
        Remove the bar when it finishes.

    Returns
    -------
    rich.progress.Progress
        Use as a context manager; disabled when ``LOCALGLOBAL_NO_PROGRESS=1``.
    """
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=os.environ.get(NO_PROGRESS_ENV) == "1",
    )
