"""Seeds that are the same on every machine: one stream per image, probe, level, variant."""

from __future__ import annotations

import hashlib


def image_seed(run_seed: int, image_id: str, *parts: object) -> int:
    """A 64-bit seed for one image (and probe level, variant…), stable everywhere.

    Python's ``hash()`` is salted per process, so a digest is used instead.

    Parameters
    ----------
    run_seed : int
        The run's seed (``config.run.seed``).
    image_id : str
        The image's id.
    *parts : object
        Anything else that should get its own stream (probe, level, variant).

    Returns
    -------
    int
        A non-negative integer below 2**64.
    """
    text = "\x1f".join(str(p) for p in (run_seed, image_id, *parts))
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


__all__ = ["image_seed"]
