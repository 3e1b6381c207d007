"""One model's passes: refusal without weights, shard keys, the items and classes of a pass."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch

from localglobal.attribution.explainer import ModelRefused
from localglobal.attribution.model_run import AttributeInputs, ModelRun, architecture
from localglobal.config import config_from_dict
from localglobal.labels import get_label_space
from localglobal.models import ModelSpec, resolve_model

TOY = "localglobal.toyworld.model:toy_resnet"
WNIDS = get_label_space("toyworld").wnids


def spec(**changes) -> ModelSpec:
    fields = {"name": "toy", "arch": TOY, "weights": "/nowhere/toy.pt",
              "label_space": "toyworld", "canonizer": "resnet", **changes}
    return ModelSpec(**fields)


def inputs(pool) -> AttributeInputs:
    items = pd.DataFrame({"item_id": ["a/original/0/0", "b/original/0/0"],
                          "image_id": ["a", "b"], "wnid": [WNIDS[1], "n99999999"],
                          "probe": "original", "level": 0, "variant": "0", "path": "",
                          "in_frame": False, "box_x0": 0.0, "box_y0": 0.0, "box_x1": 4.0,
                          "box_y1": 4.0})
    return AttributeInputs(items, None, {}, {"index": "r1"}, torch.device("cpu"), pool)


def config(**attribute):
    return config_from_dict({"attribute": {"models": ["toy"], **attribute}})


def test_the_architecture_is_built_without_its_weights():
    model = architecture(spec())  # the weights file does not exist: none are read
    assert sum(p.numel() for p in model.parameters()) > 0
    assert all(p.device.type == "cpu" for p in model.parameters())
    vgg = architecture(resolve_model("torchvision:vgg16:random"))
    assert vgg.classifier[-1].out_features == 1000


def test_a_misfit_canonizer_is_refused_before_any_weights_are_loaded():
    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(ModelRefused, match="does not fit"):
            ModelRun("toy", spec(canonizer="seresnet"), config(), inputs(pool), None)
        with pytest.raises(ModelRefused, match="has no LRP canonizer"):
            ModelRun("toy", spec(canonizer=None), config(), inputs(pool), None)
        ModelRun("toy", spec(canonizer=None), config(composite="gradient-x-input"),
                 inputs(pool), None)


def test_keys_items_and_classes_of_each_pass(tmp_path):
    with ThreadPoolExecutor(1) as pool:
        run = ModelRun("toy", spec(), config(target="true"), inputs(pool), tmp_path)
        assert run.controls == ("none", "random-weights")
        assert run.heatmaps == tmp_path / "toy"
        none_key, random_key = run.key("none"), run.key("random-weights")
        assert none_key["shuffled"] is True and "shuffled" not in random_key
        assert none_key["upstream"] == {"index": "r1"} and none_key["control"] == "none"
        records, targets, bad = run.pass_items("none", {})
        assert [r["item_id"] for r in records] == ["a/original/0/0"]
        assert targets == {"a/original/0/0": 1}
        assert bad[0][0] == "b/original/0/0" and "label space 'toyworld'" in bad[0][1]
        explained = pd.DataFrame({"item_id": ["a/original/0/0", "a/original/0/0"],
                                  "control": ["none", "shuffled-edges"],
                                  "target": np.array([2, 2])})
        records, targets, bad = run.pass_items("random-weights", {"none": explained})
        assert [r["item_id"] for r in records] == ["a/original/0/0"]
        assert targets == {"a/original/0/0": 2} and bad == []
        assert run.pass_items("random-weights", {})[0] == []

        predicted = ModelRun("toy", spec(), config(controls=[], heatmaps=False),
                             inputs(pool), None)
        assert predicted.controls == ("none",) and predicted.heatmaps is None
        records, targets, _ = predicted.pass_items("none", {})
        assert len(records) == 2 and targets is None
