"""The perturbation table as the evaluate stage's items: checked, and identified by content.

>>> check_items(items, "perturbations.parquet", get_label_space("imagenette"))  # doctest: +SKIP
>>> items_identity(items, paths)                                               # doctest: +SKIP
'3f1c…'
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from localglobal.errors import ConfigError, CorruptArtifactError
from localglobal.labels import LabelSpace

ITEM_COLUMNS: frozenset[str] = frozenset(
    {"item_id", "image_id", "wnid", "probe", "level", "variant", "path"})
"""The perturbation table's columns the evaluation needs."""


def check_items(items: pd.DataFrame, source: str | os.PathLike[str],
                dataset_space: LabelSpace) -> None:
    """Refuse a perturbation table the evaluation cannot read against its label space.

    Parameters
    ----------
    items : pandas.DataFrame
        ``perturbations.parquet``.
    source : path-like
        Its file, for messages.
    dataset_space : LabelSpace
        The dataset's label space (``data.label_space``).

    Raises
    ------
    CorruptArtifactError
        A column of :data:`ITEM_COLUMNS` is missing.
    ConfigError
        Items whose class is not in the dataset's label space.
    """
    missing = ITEM_COLUMNS - set(items.columns)
    if missing:
        raise CorruptArtifactError(f"{source}: missing columns {sorted(missing)}; run the "
                                   "perturb stage again (--force)")
    outside = sorted(set(items["wnid"]) - set(dataset_space.wnids))
    if outside:
        raise ConfigError(
            f"{source}: classes {', '.join(outside[:10])} are not in the dataset's label "
            f"space {dataset_space.name!r}; set data.label_space to the images' space")


def items_identity(items: pd.DataFrame, paths: Sequence[str]) -> str:
    """The table's content: its rows, and each image file's size and modification time.

    A perturbation rendered again (another smoother file, a forced run) changes its
    file's time, so results computed from the old image are not reused; adding a
    model leaves the identity as it is.

    Parameters
    ----------
    items : pandas.DataFrame
        The table (at least :data:`ITEM_COLUMNS`; ``params`` too when present).
    paths : sequence of str
        Each row's image file (absolute).

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    columns = sorted(ITEM_COLUMNS | ({"params"} & set(items.columns)))
    rows = pd.util.hash_pandas_object(items[columns].astype(str), index=False).to_numpy()
    files = np.full((len(paths), 2), -1, dtype=np.int64)
    for row, path in enumerate(paths):
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            continue  # reported as a bad item when it is read
        files[row] = (stat.st_size, stat.st_mtime_ns)
    digest = hashlib.sha256(",".join(columns).encode())
    digest.update(rows.tobytes())
    digest.update(files.tobytes())
    return digest.hexdigest()


__all__ = ["ITEM_COLUMNS", "check_items", "items_identity"]
