"""Errors at the command line: every one is one ``error:`` line and an exit status.

:func:`friendly` wraps a command: a user's mistake (:class:`~localglobal.errors.LocalglobalError`,
a file the machine cannot read or write) is one line naming the file or key, with exit
status 2 (1 for a failed stage, 130 when interrupted); an unexpected error says it is
an internal error, without a traceback. :class:`OneLineGroup` does the same for
click's usage errors (an unknown option, a missing argument).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import typer
from typer.core import TyperGroup

from localglobal.errors import LocalglobalError, is_machine_error

F = TypeVar("F", bound=Callable[..., Any])

try:  # newer typer vendors click
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer, on click
    import click.exceptions as _click_exceptions

    UsageError = _click_exceptions.UsageError
    NoArgsIsHelpError = getattr(_click_exceptions, "NoArgsIsHelpError",
                                type("NoArgsIsHelpError", (UsageError,), {}))


class _UsageError(UsageError):
    """A usage mistake (unknown option, missing argument) as one ``error:`` line."""

    def show(self, file: Any = None) -> None:
        where = f" (see `{self.ctx.command_path} --help`)" if self.ctx else ""
        typer.echo(f"error: {self.format_message().rstrip('.')}{where}", err=True)


class OneLineGroup(TyperGroup):
    """The command group whose usage errors are one line, as every other error is."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _one_line_usage():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _one_line_usage():
            return super().invoke(ctx)


@contextlib.contextmanager
def _one_line_usage() -> Iterator[None]:
    try:
        yield
    except (_UsageError, NoArgsIsHelpError):  # already one line; help asked for by silence
        raise
    except UsageError as error:
        # format_message, not message: a missing option builds its text from the option.
        raise _UsageError(error.format_message(), error.ctx) from None


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def friendly(command: F) -> F:
    """Run ``command`` so that errors become one ``error:`` line and an exit status."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except LocalglobalError as error:
            fail(str(error).strip(), error.exit_code)
        except KeyboardInterrupt:
            fail("interrupted; finished work is kept, run the command again to resume", 130)
        except OSError as error:
            # Every machine error names a path: the file, else the run (or folder) at work.
            where = error.filename or kwargs.get("run") or kwargs.get("to") or os.getcwd()
            machine = is_machine_error(error)
            fail(f"{where}: {error.strerror or error}"
                 + ("; free space or fix the folder's permissions, then run the command "
                    "again (finished work is kept)" if machine else ""), 2)
        except Exception as error:  # a bug: say so, without a traceback
            fail(f"internal error ({type(error).__name__}: {error}); please report it "
                 "with the command that caused it", 1)

    return wrapper  # type: ignore[return-value]
