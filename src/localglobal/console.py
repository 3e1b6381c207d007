"""The console every part of the tool prints to, and its progress bars.

Messages and progress go to standard error so that a command's standard output holds
only its results (paths written, tables), which scripts can parse. The console is made
on first use: a command that prints nothing through it never loads rich's console.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

NO_PROGRESS_ENV = "LOCALGLOBAL_NO_PROGRESS"
"""Set to ``1`` to hide progress bars (CI logs, notebooks that print their own)."""


@functools.cache
def shared_console() -> Console:
    """The one console on standard error that messages and progress bars share.

    Returns
    -------
    rich.console.Console
        Made on the first call, the same object after.
    """
    from rich.console import Console

    return Console(stderr=True)


def log(message: str, *, style: str | None = None) -> None:
    """Print one line to the console, verbatim (square brackets are not markup).

    Parameters
    ----------
    message : str
        The text; user data such as ``[models.NAME]`` is printed as it is.
    style : str, optional
        A rich style for the whole line, e.g. ``"dim"`` or ``"yellow"``.
    """
    from rich.markup import escape

    shared_console().print(escape(message), style=style, highlight=False, soft_wrap=True)


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
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=shared_console(),
        transient=transient,
        disable=os.environ.get(NO_PROGRESS_ENV) == "1",
    )
