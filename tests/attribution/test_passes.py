"""A model's passes: refusal without weights, shard keys, the items, classes and model of a pass."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from localglobal.attribution.explainer import ModelRefused
from localglobal.attribution.passes import AttributionPass, architecture, pass_items, pass_model
from localglobal.config import config_from_dict
from localglobal.labels import get_label_space
from localglobal.models import ModelSpec, resolve_model

TOY = "localglobal.toyworld.model:toy_resnet"
WNIDS = get_label_space("toyworld").wnids
ITEMS = pd.DataFrame({"item_id": ["a/original/0/0", "b/original/0/0"],
                      "image_id": ["a", "b"], "wnid": [WNIDS[1], "n99999999"],
                      "probe": "original", "level": 0, "variant": "0", "path": "",
                      "in_frame": False, "box_x0": 0.0, "box_y0": 0.0, "box_x1": 4.0,
                      "box_y1": 4.0})


def spec(**changes) -> ModelSpec:
    fields = {"name": "toy", "arch": TOY, "weights": "/nowhere/toy.pt",
              "label_space": "toyworld", "canonizer": "resnet", **changes}
    return ModelSpec(**fields)


def trained(model: ModelSpec | None = None, **attribute) -> AttributionPass:
    config = config_from_dict({"attribute": {"models": ["toy"], **attribute}})
    return AttributionPass("toy", model or spec(), "none", config.attribute,
                           (32, 36, "bilinear"), 4, "cpu", "edges.npz")


def test_the_architecture_is_built_without_its_weights():
    model = architecture(spec())  # the weights file does not exist: none are read
    assert sum(p.numel() for p in model.parameters()) > 0
    assert all(p.device.type == "cpu" for p in model.parameters())
    vgg = architecture(resolve_model("torchvision:vgg16:random"))
    assert vgg.classifier[-1].out_features == 1000


def test_a_misfit_canonizer_is_refused_before_any_weights_are_loaded():
    with pytest.raises(ModelRefused, match="does not fit"):
        trained(spec(canonizer="seresnet")).refuse_misfit()
    with pytest.raises(ModelRefused, match="has no LRP canonizer"):
        trained(spec(canonizer=None)).refuse_misfit()
    trained(spec(canonizer=None), composite="gradient-x-input").refuse_misfit()


def test_auto_is_resolved_per_model():
    mobilenet = ModelSpec(name="m", arch="torchvision:mobilenet_v3_small", weights="random",
                          label_space="imagenet-1k", canonizer=None)
    task = trained(mobilenet, composite="auto")
    assert task.method == "gradient-x-input"
    assert not task.explainer(torch.device("cpu")).lrp
    assert trained(composite="auto").method == "epsilon-plus-flat"


def test_keys_items_and_classes_of_each_pass():
    none = trained(target="true")
    random = replace(none, control="random-weights")
    none_key, random_key = none.key({"index": "r1"}), random.key({"index": "r1"})
    assert none_key["shuffled"] is True and "shuffled" not in random_key
    assert none_key["upstream"] == {"index": "r1"} and none_key["control"] == "none"
    records, targets, bad = pass_items(none, ITEMS)
    assert [r["item_id"] for r in records] == ["a/original/0/0"]
    assert targets == {"a/original/0/0": 1}
    assert bad[0][0] == "b/original/0/0" and "label space 'toyworld'" in bad[0][1]
    explained = pd.DataFrame({"item_id": ["a/original/0/0", "a/original/0/0"],
                              "control": ["none", "shuffled-edges"],
                              "target": np.array([2, 2])})
    records, targets, bad = pass_items(random, ITEMS, explained)
    assert [r["item_id"] for r in records] == ["a/original/0/0"]
    assert targets == {"a/original/0/0": 2} and bad == []
    assert pass_items(random, ITEMS)[0] == []

    records, targets, _ = pass_items(trained(controls=[], heatmaps=False), ITEMS)
    assert len(records) == 2 and targets is None


def test_the_random_weights_model_is_made_from_the_trained_one():
    resnet = ModelSpec(name="r", arch="torchvision:resnet18", weights="random",
                       label_space="imagenet-1k", canonizer="resnet")
    task = trained(resnet)
    model = pass_model(task, torch.device("cpu"))
    randomized = pass_model(replace(task, control="random-weights"), torch.device("cpu"))
    assert not torch.equal(randomized.conv1.weight, model.conv1.weight)
