"""The perturbation table as items: checks, and the content identity of the shards."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from localglobal.errors import ConfigError, CorruptArtifactError
from localglobal.evaluation.perturbation_items import check_items, items_identity
from localglobal.labels import get_label_space

IMAGENETTE = get_label_space("imagenette")


def table(tmp_path) -> tuple[pd.DataFrame, list[str]]:
    paths = []
    for k in range(2):
        path = tmp_path / f"{k}.png"
        path.write_bytes(b"png" * (k + 1))
        paths.append(str(path))
    items = pd.DataFrame({"item_id": ["a", "b"], "image_id": ["a", "b"],
                          "wnid": [IMAGENETTE.wnids[0]] * 2, "probe": "original", "level": 0,
                          "variant": "0", "params": "{}", "path": ["0.png", "1.png"]})
    return items, paths


def test_the_identity_changes_with_the_rows_and_the_images_only(tmp_path):
    items, paths = table(tmp_path)
    first = items_identity(items, paths)
    assert items_identity(items.assign(extra=1), paths) == first  # a column it does not use
    assert items_identity(items.assign(params='{"x": 1}'), paths) != first
    stat = os.stat(paths[1])
    os.utime(paths[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # rendered again
    assert items_identity(items, paths) != first


def test_a_table_the_evaluation_cannot_read_is_refused(tmp_path):
    items, _ = table(tmp_path)
    check_items(items, "perturbations.parquet", IMAGENETTE)
    with pytest.raises(CorruptArtifactError, match="path"):
        check_items(items.drop(columns="path"), "perturbations.parquet", IMAGENETTE)
    with pytest.raises(ConfigError, match=r"data\.label_space"):
        check_items(items.assign(wnid="n99999999"), "perturbations.parquet", IMAGENETTE)
