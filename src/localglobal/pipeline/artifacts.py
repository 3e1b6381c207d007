"""The artifact catalog: every file and folder of a run directory, named once.

Each artifact is declared by the one stage that writes it (see
:func:`localglobal.pipeline.stage.stage`) and read through the one reader its kind
names, so ``run.read("predictions")`` works the same for a stage, the report and a
notebook.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from localglobal.errors import CorruptArtifactError
from localglobal.io.atomic import read_json, read_table

if TYPE_CHECKING:
    import numpy as np

ArtifactKind = Literal["table", "json", "arrays", "array", "text", "folder", "file"]


# numpy is imported by the readers that need it: declaring a stage's artifacts stays light.
def _read_arrays(path: Path) -> Any:
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise CorruptArtifactError(f"{path}: not a readable .npz archive ({error})") from None


def _read_array(path: Path) -> np.ndarray:
    import numpy as np

    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise CorruptArtifactError(f"{path}: not a readable .npy array ({error})") from None


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _identity(path: Path) -> Path:
    return path


READERS: dict[str, Callable[[Path], Any]] = {
    "table": read_table,
    "json": read_json,
    "arrays": _read_arrays,
    "array": _read_array,
    "text": _read_text,
    "folder": _identity,
    "file": _identity,
}
"""The one reader of each artifact kind."""


@dataclass(frozen=True)
class Artifact:
    """One file or folder of the run directory.

    Parameters
    ----------
    name : str
        The name stages, the API and messages use (``"predictions"``).
    path : str
        Its path relative to the run directory (``"predictions.parquet"``,
        ``"relevance"`` for a folder).
    kind : str
        ``table`` (Parquet), ``json``, ``arrays`` (``.npz``), ``array`` (``.npy``),
        ``text``, ``folder`` or ``file``; it chooses the reader.
    description : str
        One line for ``localglobal stages`` and the API reference.
    always : bool
        Whether every successful run of the producer writes it. Conditional artifacts
        (the cue-conflict table, heat maps) are checked only once they were written.
    """

    name: str
    path: str
    kind: ArtifactKind = "table"
    description: str = ""
    always: bool = True

    def read(self, root: Path) -> Any:
        """Read this artifact from the run directory ``root`` with its kind's reader."""
        return READERS[self.kind](root / self.path)


class Catalog:
    """Artifacts by name, each with the stage that produces it."""

    def __init__(self) -> None:
        self._artifacts: dict[str, Artifact] = {}
        self._producers: dict[str, str] = {}

    def add(self, artifact: Artifact, producer: str) -> None:
        """Register ``artifact`` as written by stage ``producer``.

        Raises
        ------
        ValueError
            The name or the path is already taken by another artifact.
        """
        if artifact.name in self._artifacts:
            other = self._producers[artifact.name]
            raise ValueError(f"artifact {artifact.name!r} is already written by {other!r}")
        for known in self._artifacts.values():
            if known.path == artifact.path:
                raise ValueError(f"{artifact.path} is already the artifact {known.name!r}")
        self._artifacts[artifact.name] = artifact
        self._producers[artifact.name] = producer

    def __getitem__(self, name: str) -> Artifact:
        try:
            return self._artifacts[name]
        except KeyError:
            raise KeyError(
                f"unknown artifact {name!r}; known: {', '.join(sorted(self._artifacts))}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._artifacts

    def __iter__(self) -> Iterator[Artifact]:
        return iter(self._artifacts.values())

    def names(self) -> list[str]:
        """Every artifact name, in registration order."""
        return list(self._artifacts)

    def producer(self, name: str) -> str:
        """The stage that writes artifact ``name``."""
        self[name]
        return self._producers[name]

    def of_stage(self, stage: str) -> list[Artifact]:
        """The artifacts stage ``stage`` writes."""
        return [a for n, a in self._artifacts.items() if self._producers[n] == stage]

    def update(self, artifacts: Iterable[Artifact], producer: str) -> None:
        """Register several artifacts of one producer."""
        for artifact in artifacts:
            self.add(artifact, producer)
