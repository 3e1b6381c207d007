"""Cue-conflict stimuli: reading the set, choosing among its classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from localglobal.errors import ConfigError
from localglobal.evaluation.cue_conflict import (
    CUE_CONFLICT_COLUMNS,
    CueConflictDecider,
    lacking_classes,
    read_stimuli,
)
from localglobal.labels import get_label_space

IMAGENET = get_label_space("imagenet-1k")
A, B, C = "n01440764", "n02102040", "n03000684"


def write_set(folder, rows) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "stimuli.csv", index=False)


def test_decisions_are_the_arg_max_over_the_stimulus_classes(tmp_path):
    write_set(tmp_path, [{"path": "a.png", "shape_wnid": A, "texture_wnid": B},
                         {"path": "c.png", "shape_wnid": C, "texture_wnid": C}])
    stimuli = read_stimuli(tmp_path)
    assert stimuli.classes == [A, B, C] and lacking_classes(stimuli, IMAGENET) == []
    decider = CueConflictDecider("net", stimuli, IMAGENET)
    logits = torch.zeros((2, 1000))
    logits[:, 999] = 1.0  # not among the stimulus classes: never chosen, but the top-1
    logits[0, IMAGENET.index_of(B)] = 0.5
    logits[1, IMAGENET.index_of(C)] = 2.0
    frame = decider.frame(np.array([0, 1]), logits)
    assert list(frame.columns) == CUE_CONFLICT_COLUMNS
    assert frame["pred_wnid"].tolist() == [B, C]
    assert frame["pred_index"].tolist() == [IMAGENET.index_of(B), IMAGENET.index_of(C)]
    assert frame["conflict"].tolist() == [True, False]
    assert frame["top1_wnid"].tolist() == [IMAGENET.wnids[999], C]


def test_the_identity_follows_the_images_and_a_bad_folder_is_a_config_error(tmp_path):
    write_set(tmp_path, [{"path": "a.png", "shape_wnid": A, "texture_wnid": B}])
    before = read_stimuli(tmp_path).identity
    (tmp_path / "a.png").write_bytes(b"x")
    assert read_stimuli(tmp_path).identity != before
    with pytest.raises(ConfigError, match=r"stimuli\.csv"):
        read_stimuli(tmp_path / "nowhere")
    write_set(tmp_path / "bad", [{"path": "a.png", "shape": A}])
    with pytest.raises(ConfigError, match="missing columns"):
        read_stimuli(tmp_path / "bad")
    toy = get_label_space("toyworld")
    assert lacking_classes(read_stimuli(tmp_path), toy) == [A, B]
