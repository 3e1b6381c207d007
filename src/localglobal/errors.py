"""Every exception a user can cause, in one place.

A :class:`LocalglobalError` is the tool telling its user something went wrong and
what to do; the command line prints its message as one ``error:`` line and exits
non-zero. Anything else that escapes is a bug and is reported as such.
"""

from __future__ import annotations

import errno


class LocalglobalError(Exception):
    """An error whose message is meant for the user (names the file or key and the fix)."""

    exit_code = 2


class ConfigError(LocalglobalError, ValueError):
    """The configuration is invalid; the message names the file and the key."""


class NotARunError(LocalglobalError, FileNotFoundError):
    """A command that reads a run was pointed at a folder that is not a run directory."""


class MissingInputError(LocalglobalError, FileNotFoundError):
    """A stage needs a file that an earlier stage has not written yet."""


class CorruptArtifactError(LocalglobalError, ValueError):
    """A file of the run directory exists but cannot be read (truncated, garbage)."""


class BadInputError(LocalglobalError, ValueError):
    """One input item cannot be used (an undecodable or too small image); the message
    names the file. Stages report, count and skip such items; they are not retried."""


class LabelSpaceMismatch(LocalglobalError, ValueError):
    """A model's label space does not fit what it is asked: its number of outputs, the
    items' classes, the stimuli's categories, or a decision mapping for the pair; the
    message names the model or space and the key to set."""


class UnknownIdError(LocalglobalError, LookupError):
    """An id asked for (an image id given to ``localglobal show``) is not in the run; the
    message lists a few known ones."""


class DownloadError(LocalglobalError, RuntimeError):
    """A file could not be provided (too large, a source without what it should hold);
    the message names the URL or file and what to do."""


class DownloadUnavailableError(DownloadError):
    """A file is not cached and cannot be downloaded (offline, or the server refused).

    Attributes
    ----------
    url, path, reason
        What was asked for, where it was to go, and why it could not be had.
    """

    def __init__(self, message: str, url: str = "", path: object = None,
                 reason: str = "") -> None:
        super().__init__(message)
        self.url, self.path, self.reason = url, path, reason


class ChecksumError(DownloadError):
    """A file's SHA-256 does not match the expected (or first recorded) value; the
    message names the file and both digests."""


class ModelLoadError(LocalglobalError, RuntimeError):
    """A model could not be built or given its weights (an unbuildable architecture, a
    file that is no tensor checkpoint, a checkpoint whose keys or shapes do not fit); the
    message names the model or file and says why."""


class StageError(LocalglobalError, RuntimeError):
    """A stage could not run, or finished with failures; the message says which and why."""

    exit_code = 1


class RunLockedError(LocalglobalError, RuntimeError):
    """Another command holds the run directory's lock."""


class UnsafePathError(LocalglobalError):
    """A path of the run directory would lead a write or a delete outside it (a symbolic
    link, a hard-linked lock file); the message names it and nothing was changed."""


class MachineError(LocalglobalError):
    """The machine failed a write (full disk, read-only folder, no permission, I/O error).

    Never the fault of an input item: the stage stops, is marked failed, and keeps its
    finished work.
    """

    exit_code = 1


MACHINE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EIO, errno.EDQUOT, errno.EPERM}
)
"""``errno`` values that mean the machine, not the data, is at fault."""


def is_machine_error(error: BaseException) -> bool:
    """Whether ``error`` is a failure of the machine rather than of an input item.

    Parameters
    ----------
    error : BaseException
        Any exception raised while working on an item.

    Returns
    -------
    bool
        True for :class:`MachineError` and for an :class:`OSError` whose ``errno`` is in
        :data:`MACHINE_ERRNOS`.
    """
    if isinstance(error, MachineError):
        return True
    return isinstance(error, OSError) and error.errno in MACHINE_ERRNOS


def describe_error(error: BaseException) -> str:
    """A short text for an exception: its kind and message (``truncated`` for EOF)."""
    text = str(error).strip()
    kind = "truncated" if isinstance(error, EOFError) else type(error).__name__
    return f"{kind}: {text}" if text else kind


def as_machine_error(error: OSError, path: object = None) -> MachineError:
    """A :class:`MachineError` naming the path and the cause of an ``OSError``."""
    where = path if path is not None else (error.filename or "a file")
    cause = error.strerror or str(error)
    return MachineError(f"{where}: {cause}; free space or fix the folder's permissions, "
                        "then run the command again (finished work is kept)")
