"""Every exception a user can cause, in one place.

A :class:`LocalglobalError` is the tool telling its user something went wrong and
what to do; the command line prints its message as one ``error:`` line and exits
with the class's :attr:`~LocalglobalError.exit_code` (2, or 1 for a stage that failed
and for the machine). Anything else that escapes is a bug and is reported as such.

The hierarchy, with the built-in exception each one also is (so that code catching
``ValueError`` or ``FileNotFoundError`` keeps working)::

    LocalglobalError
    ├── ConfigError (ValueError)              the configuration or a command-line value
    │   ├── UnknownNameError (KeyError)       a name or id that is not known
    │   └── LabelSpaceError (KeyError)        a label space missing, unreadable, or unfit
    ├── MissingInputError (FileNotFoundError) a file, folder or run that is not there
    ├── CorruptArtifactError (ValueError)     a run's file that cannot be read
    ├── BadInputError (ValueError)            one input item that cannot be used
    ├── ArchiveError (ValueError)             an archive unreadable or unsafe
    │   └── ArchiveLimitError                 ... that passed a cap while being read
    ├── DownloadError (RuntimeError)          a file that cannot be provided
    │   ├── DownloadUnavailableError          ... not cached and not downloadable
    │   └── ChecksumError                     ... whose SHA-256 does not match
    ├── ModelLoadError (RuntimeError)         a model that cannot be built or loaded
    ├── RunLockedError (RuntimeError)         another command holds the run
    ├── UnsafePathError                       a run's path that leads outside it
    ├── StageError (RuntimeError)             a stage that failed (exit status 1)
    │   └── FigureError                       a figure that cannot be drawn
    └── MachineError                          a full disk, a read-only folder (exit 1)
"""

from __future__ import annotations

import errno


class LocalglobalError(Exception):
    """An error whose message is meant for the user (names the file or key and the fix)."""

    exit_code = 2

    def __str__(self) -> str:
        # the message as given, also for the errors that are KeyErrors (which quote it)
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class ConfigError(LocalglobalError, ValueError):
    """The configuration or a command-line value is invalid; the message names the file and
    the key (also a configuration the user did not hand over that names code)."""


class UnknownNameError(ConfigError, KeyError):
    """A name or id that is not known (a model, a composite, a data set, an image id); the
    message lists the known ones or the closest."""


class LabelSpaceError(ConfigError, KeyError):
    """A label space cannot be found or read, or does not fit what it is asked: a model's
    number of outputs, the items' classes, the stimuli's categories, the scores a decision
    mapping reads, or no mapping for the pair; the message names the model or space and
    the key to set."""


class MissingInputError(LocalglobalError, FileNotFoundError):
    """A file, folder or run that is not there: a source, a folder of images or stimuli,
    a run directory, or a file an earlier stage has not written yet; the message names
    it and the command that makes it."""


class CorruptArtifactError(LocalglobalError, ValueError):
    """A file of the run directory exists but cannot be read (truncated, garbage)."""


class BadInputError(LocalglobalError, ValueError):
    """One input item cannot be used (an undecodable or too small image, an unreadable
    annotation file). Stages report it by name, count and skip it; it is not retried."""


class ArchiveError(LocalglobalError, ValueError):
    """An archive cannot be read (not a tar, corrupt, truncated) or is unsafe to unpack (a
    member with a path out of its folder, a link); the message starts with the archive.

    Attributes
    ----------
    archive : str
        How the archive is named.
    reason : str
        What is wrong with it.
    member : str or None
        The member at fault, or being read when a cap was passed (None: the archive).
    """

    def __init__(self, archive: str, reason: str, member: str | None = None):
        self.archive, self.reason, self.member = archive, reason, member
        super().__init__(f"{archive}: " + (f"member {member}: " if member else "") + reason)


class ArchiveLimitError(ArchiveError):
    """Reading an archive stopped at a cap (total size, compression ratio, nested size)."""


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


class RunLockedError(LocalglobalError, RuntimeError):
    """Another command holds the run directory's lock."""


class UnsafePathError(LocalglobalError):
    """A path of the run directory would lead a write or a delete outside it (a symbolic
    link, a hard-linked lock file); the message names it and nothing was changed."""


class StageError(LocalglobalError, RuntimeError):
    """A stage could not run, or finished with failures; the message says which and why."""

    exit_code = 1


class FigureError(StageError):
    """A figure cannot be drawn. Raised by a figure function, its input is missing or empty
    and the figure is skipped with the message as the reason; raised by the analysis, a
    figure that is not optional broke and the stage fails."""


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
