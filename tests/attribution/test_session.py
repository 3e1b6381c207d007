"""Models made on first use: none when every shard is done, one failure for all shards."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from localglobal.attribution.attributor import Attributor
from localglobal.attribution.session import ModelSession, RegisteredModel
from localglobal.toyworld.model import toy_resnet


def attributor() -> Attributor:
    return Attributor("epsilon-plus-flat", "resnet", 0.1, (0.5,) * 3, (0.2,) * 3,
                      torch.device("cpu"), 2)


def test_a_model_is_built_once_on_first_use_and_restored_on_close():
    builds = []

    def build():
        builds.append(1)
        return toy_resnet().eval()

    with RegisteredModel(build, attributor(), "toy") as lazy:
        assert builds == []
        model = lazy()
        assert lazy() is model and builds == [1]
        hooked = sum(len(m._forward_hooks) + len(m._forward_pre_hooks)
                     for m in model.modules())
        assert hooked > 0
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


def test_a_model_that_fails_to_build_fails_every_call_without_building_again():
    calls = []

    def build():
        calls.append(1)
        raise FileNotFoundError("weights file /x.pt does not exist")

    lazy = RegisteredModel(build, attributor(), "toy")
    for _ in range(3):
        with pytest.raises(FileNotFoundError):
            lazy()
    assert calls == [1]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        lazy.raise_failure()
    RegisteredModel(toy_resnet, attributor(), "ok").raise_failure()  # nothing to raise


def test_the_random_weights_model_is_made_from_the_trained_one():
    loads = []

    def load():
        loads.append(1)
        return toy_resnet().eval()

    session = ModelSession(load, attributor(), "toy", seed=4,
                           items=pd.DataFrame(columns=["item_id", "path", "in_frame"]),
                           frame=(32, 36, "bilinear"))
    trained = session.trained()
    randomized = session.randomized()
    assert loads == [1]
    assert not torch.equal(randomized.conv1.weight, trained.conv1.weight)
    assert session.calibration() is None  # no images to calibrate on
