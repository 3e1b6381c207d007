"""The run directory: where every stage reads its inputs and writes its outputs.

File names are part of the interface; the artifact catalog (every stage's
``writes``) names each one once. ``.shards/<stage>/<key>/`` holds the finished
shards of long stages, ``manifest.json`` the bookkeeping, ``.digests/`` the per-file
digests of the output folders, ``config.toml`` the configuration and ``.lock`` the
writer's lock.

>>> run = RunDir("runs/demo")                 # doctest: +SKIP
>>> run.read("predictions").head()            # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localglobal.errors import MissingInputError, UnsafePathError
from localglobal.io.atomic import read_table, write_table
from localglobal.pipeline.manifest import MANIFEST_NAME
from localglobal.pipeline.stage import REGISTRY, StageRegistry

if TYPE_CHECKING:
    import pandas as pd

CONFIG_NAME = "config.toml"


class RunDir:
    """A run directory and the paths of its artifacts.

    Parameters
    ----------
    root : path-like
        The folder.
    registry : StageRegistry, optional
        Whose artifact catalog names the files; the pipeline's by default.
    """

    def __init__(self, root: str | os.PathLike[str], registry: StageRegistry | None = None):
        self.root = Path(root).expanduser().resolve()
        self.registry = registry if registry is not None else REGISTRY

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    @classmethod
    def existing(cls, root: str | os.PathLike[str], registry: StageRegistry | None = None
                 ) -> RunDir:
        """Open a run directory that must already exist.

        Raises
        ------
        MissingInputError
            ``root`` is missing, a file, or a folder no command has made a run of.
        """
        run = cls(root, registry)
        if not run.root.exists():
            raise MissingInputError(f"{run.root}: no such run directory; check --run, or "
                                    "start a run with `localglobal annotations`, `index` or `run`")
        if not run.root.is_dir():
            raise MissingInputError(f"{run.root}: is a file, not a run directory")
        if not run.is_run():
            raise MissingInputError(f"{run.root}: not a run directory (it has no "
                                    f"{MANIFEST_NAME} or {CONFIG_NAME}); check --run")
        return run

    def is_run(self) -> bool:
        """Whether the folder holds a run (a manifest or a configuration)."""
        return self.manifest_path.is_file() or self.config_path.is_file()

    def path(self, *parts: str) -> Path:
        """A path inside the run directory."""
        return self.root.joinpath(*parts)

    def ensure(self) -> RunDir:
        """Create the folder if needed and return the run."""
        if self.root.exists() and not self.root.is_dir():
            raise MissingInputError(f"{self.root}: is a file, not a run directory")
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def config_path(self) -> Path:
        return self.path(CONFIG_NAME)

    @property
    def manifest_path(self) -> Path:
        return self.path(MANIFEST_NAME)

    def artifact_path(self, name: str) -> Path:
        """Where artifact ``name`` lives (``"samples"`` → ``samples.parquet``)."""
        return self.path(self.registry.catalog[name].path)

    table_path = artifact_path

    def has(self, name: str) -> bool:
        """Whether artifact ``name`` exists."""
        return self.artifact_path(name).exists()

    def read(self, name: str, columns: list[str] | None = None) -> Any:
        """Read artifact ``name`` with its kind's reader.

        Raises
        ------
        MissingInputError
            It does not exist yet; the message names the command that writes it.
        CorruptArtifactError
            It exists but cannot be read.
        """
        artifact = self.registry.catalog[name]
        path = self.path(artifact.path)
        if not path.exists():
            producer = self.registry.catalog.producer(name)
            raise MissingInputError(
                f"{path}: missing; run `localglobal {producer} --run {self.root}` first"
            )
        if columns is not None and artifact.kind == "table":
            return read_table(path, columns=columns)
        return artifact.read(self.root)

    def has_results(self, stage: str) -> bool:
        """Whether stage ``stage`` has written any of its outputs here."""
        return any(self.has(artifact.name) for artifact in self.registry.catalog.of_stage(stage))

    def write(self, name: str, table: pd.DataFrame) -> Path:
        """Write table artifact ``name`` atomically."""
        return write_table(self.artifact_path(name), table)

    def links(self, relative: Iterable[str]) -> list[str]:
        """The symbolic links among ``relative`` paths, on their way, and inside folders.

        Parameters
        ----------
        relative : iterable of str
            Paths relative to the run directory (``"report/index.html"``, ``"figures"``).

        Returns
        -------
        list of str
            Every link found, relative to the run directory, in the order found.
        """
        found: list[str] = []
        for path in relative:
            current = self.root
            for part in Path(path).parts:
                current = current / part
                if current.is_symlink():
                    found.append(str(current.relative_to(self.root)))
                    break
            else:
                if current.is_dir():
                    found.extend(str(Path(p).relative_to(self.root))
                                 for p in _links_under(current))
        return list(dict.fromkeys(found))

    def refuse_links(self, relative: Iterable[str]) -> None:
        """Refuse to go on when a path a command would write or delete is a symbolic link.

        A link inside a run could send a write or a delete outside it; the run is data
        and never leads elsewhere.

        Raises
        ------
        UnsafePathError
            One line naming the links (relative to the run directory).
        """
        links = self.links(relative)
        if links:
            shown = ", ".join(links[:5]) + (f" and {len(links) - 5} more" if len(links) > 5
                                            else "")
            verb = "is a symbolic link" if len(links) == 1 else "are symbolic links"
            raise UnsafePathError(
                f"{self.root}: {shown} {verb}; "
                "a run's files must lie inside it, so nothing was written or removed. "
                "Replace the link by a plain folder or file, then run the command again")

    def shard_dir(self, stage: str, key: str) -> Path:
        """The folder of ``stage``'s finished shards under cache key ``key``."""
        return self.path(".shards", stage, key)


def _links_under(folder: Path) -> Iterator[str]:
    """Every symbolic link under ``folder``, which is walked without following any."""
    pending = [str(folder)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    yield entry.path
                elif entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
