"""``manifest.json``: the run's provenance and every stage's status, hash and outputs.

Written only by the holder of the run lock (:mod:`localglobal.pipeline.lock`), each
update a read-modify-write of the whole file, atomically.
"""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from localglobal.errors import CorruptArtifactError
from localglobal.io.atomic import read_json, write_json

MANIFEST_NAME = "manifest.json"

_VERSIONED_PACKAGES = ("localglobal", "torch", "torchvision", "timm", "zennit", "numpy",
                       "pandas", "scipy", "opencv-contrib-python-headless", "pillow")


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def package_versions() -> dict[str, str]:
    """Versions of Python, the platform and the packages that shape the numbers."""
    from importlib import metadata  # read when a stage records its run, not on every import

    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


class Manifest:
    """The run's ``manifest.json``.

    Parameters
    ----------
    root : Path
        The run directory.

    Raises
    ------
    CorruptArtifactError
        The file exists but is not a manifest (invalid JSON, wrong shape).
    """

    def __init__(self, root: Path):
        self.path = root / MANIFEST_NAME
        self.data: dict[str, Any] = self._load()

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"stages": {}}
        data = read_json(self.path)
        if not isinstance(data, dict) or not isinstance(data.get("stages", {}), dict) or any(
            not isinstance(v, dict) for v in data.get("stages", {}).values()
        ):
            raise CorruptArtifactError(
                f"{self.path}: not a localglobal manifest (expected an object with a "
                "'stages' object); delete it to start the run's bookkeeping afresh"
            )
        data.setdefault("stages", {})
        return data

    def reload(self) -> None:
        """Read the file again (another command may have changed it)."""
        self.data = self._load()

    def save(self) -> None:
        """Write the manifest atomically."""
        write_json(self.path, self.data)

    def record_run(self, config: Any) -> None:
        """Record the configuration, seed, package versions and git commit.

        ``config`` is a pydantic model or a mapping; its ``run.seed`` is the seed.
        """
        record = config.model_dump(mode="json") if hasattr(config, "model_dump") \
            else dict(config)
        self.reload()
        self.data.setdefault("created", now())
        self.data["updated"] = now()
        self.data["config"] = record
        self.data["seed"] = (record.get("run") or {}).get("seed")
        self.data["versions"] = package_versions()
        self.data["git_commit"] = _git_commit()
        self.save()

    def stage(self, name: str) -> dict[str, Any]:
        """The record of stage ``name``; empty when it never ran."""
        return self.data["stages"].get(name, {})

    def set_stage(self, name: str, **values: Any) -> None:
        """Update stage ``name``'s record (read-modify-write) and save."""
        self.reload()
        self.data["stages"].setdefault(name, {}).update(values)
        self.save()
