"""Reading ``edges.npz``: one mask at a time, on demand."""

from __future__ import annotations

import numpy as np
import pytest

from localglobal.io.atomic import write_npz
from localglobal.probes.canny import pack_mask
from localglobal.probes.edge_masks import EdgeMasks


def test_edge_masks_unpack_on_demand(tmp_path):
    mask = np.zeros((4, 4), bool)
    mask[1, 2] = True
    write_npz(tmp_path / "edges.npz", shape=np.array([4, 4]), a=pack_mask(mask))
    edges = EdgeMasks(np.load(tmp_path / "edges.npz"))
    assert edges.shape == (4, 4) and "a" in edges and "b" not in edges
    np.testing.assert_array_equal(edges.get("a"), mask)
    with pytest.raises(KeyError):
        edges.get("b")
    edges.close()
