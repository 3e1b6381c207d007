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

from localglobal.errors import BadInputError, ConfigError, CorruptArtifactError
from localglobal.labels import LabelSpace
from localglobal.probes.batched import check_item
from localglobal.probes.plan import is_built
from localglobal.probes.registry import Level

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


def built_rows(items: pd.DataFrame) -> dict[int, tuple[str, str]] | None:
    """``row -> (probe, params JSON)`` for the rows built from their original, or None.

    Those are the scrambles and patches of a run with ``probes.materialize = false``
    (:func:`localglobal.probes.plan.is_built`).
    """
    if "params" not in items.columns:
        return None
    built = {row: (str(probe), str(params)) for row, (probe, path, params) in enumerate(
        zip(items["probe"], items["path"], items["params"], strict=True))
        if is_built(str(probe), str(path))}
    return built or None


def bad_built_rows(items: pd.DataFrame, frame_side: int) -> dict[int, str]:
    """``row -> reason`` for the rows to build whose ``params`` do not fit their probe.

    Each built row's ``params`` is checked against its probe, level and the frame
    (:func:`localglobal.probes.batched.check_item`); a row that fails is a bad item.
    """
    bad: dict[int, str] = {}
    for row, (probe, params) in (built_rows(items) or {}).items():
        try:
            level = int(items["level"].iat[row])
            check_item(probe, params, Level(level, str(level)), frame_side)
        except BadInputError as error:
            bad[row] = str(error)
    return bad


__all__ = ["ITEM_COLUMNS", "bad_built_rows", "built_rows", "check_items", "items_identity"]
