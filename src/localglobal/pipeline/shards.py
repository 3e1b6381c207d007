"""Finished pieces of a long stage, so that an interrupted stage resumes where it stopped.

A shard is a small Parquet table, plus the list of its items that were bad input
data, written atomically under a name; a shard whose table exists is finished. The
folder is keyed by everything that changes a shard's content (see
:meth:`localglobal.pipeline.context.StageContext.map_shards`).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from localglobal.console import log
from localglobal.errors import CorruptArtifactError, is_machine_error
from localglobal.io.atomic import read_json, read_table, write_json, write_table


@dataclass
class ShardResult:
    """What a shard's work returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per finished item (any columns).
    bad : list of (str, str)
        ``(item, reason)`` for every item skipped as bad input data (an unreadable
        image, a malformed file): reported and counted, never retried.
    """

    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    bad: list[tuple[str, str]] = field(default_factory=list)


class ShardStore:
    """The finished shards of one stage under one key.

    Parameters
    ----------
    folder : Path
        ``<run>/.shards/<stage>/<key>``; created on first write.
    """

    def __init__(self, folder: Path):
        self.folder = folder

    def _stem(self, name: str) -> Path:
        return self.folder / re.sub(r"[^A-Za-z0-9._-]", "_", name)

    def done(self, name: str) -> bool:
        """Whether shard ``name`` is finished."""
        return self._stem(name).with_suffix(".parquet").exists()

    def put(self, name: str, result: ShardResult | pd.DataFrame) -> None:
        """Store a finished shard (its bad items first, so the table marks it done)."""
        if isinstance(result, pd.DataFrame):
            result = ShardResult(result)
        stem = self._stem(name)
        write_json(stem.with_suffix(".bad.json"), [list(pair) for pair in result.bad])
        write_table(stem.with_suffix(".parquet"), result.table)

    def get(self, name: str) -> ShardResult:
        """Read one finished shard.

        Raises
        ------
        CorruptArtifactError
            The shard cannot be read; :meth:`load` discards such shards.
        """
        stem = self._stem(name)
        table = read_table(stem.with_suffix(".parquet"))
        bad_path = stem.with_suffix(".bad.json")
        bad = [tuple(pair) for pair in read_json(bad_path)] if bad_path.exists() else []
        return ShardResult(table, bad)  # type: ignore[arg-type]

    def load(self, name: str) -> ShardResult | None:
        """Read shard ``name``; a corrupt one is deleted (with a message) and gives None."""
        if not self.done(name):
            return None
        try:
            return self.get(name)
        except CorruptArtifactError as error:
            log(f"discarded a corrupt shard, it will be recomputed: {error}", style="yellow")
            self.discard(name)
            return None
        except OSError as error:
            if is_machine_error(error):
                raise
            log(f"discarded an unreadable shard ({error}); recomputing", style="yellow")
            self.discard(name)
            return None

    def discard(self, name: str) -> None:
        """Delete shard ``name``."""
        stem = self._stem(name)
        stem.with_suffix(".parquet").unlink(missing_ok=True)
        stem.with_suffix(".bad.json").unlink(missing_ok=True)

    def names(self) -> list[str]:
        """Names of every finished shard, sorted."""
        if not self.folder.exists():
            return []
        return sorted(p.name[: -len(".parquet")] for p in self.folder.glob("*.parquet"))

    def concat(self, names: list[str] | None = None) -> pd.DataFrame:
        """All (or the named) finished shards' tables as one, in name order."""
        tables = []
        for name in self.names() if names is None else names:
            loaded = self.load(name)
            if loaded is not None and len(loaded.table):
                tables.append(loaded.table)
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()

    def clear(self) -> None:
        """Delete every shard of this key."""
        shutil.rmtree(self.folder, ignore_errors=True)
