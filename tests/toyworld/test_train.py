"""Training the toy models: deterministic, recorded, and loadable as shipped."""

import json

import numpy as np
import torch

from localglobal.toyworld.build import WorldConfig, build_world
from localglobal.toyworld.model import toy_resnet
from localglobal.toyworld.train import (
    DEFAULT_MODELS,
    TrainConfig,
    render_frames,
    shape_bias,
    train_models,
    train_one,
)

TINY_WORLD = WorldConfig(sizes=((256, 256),), train_per_class=0, val_per_class=1,
                         cue_conflict_per_pair=0)


def _tiny(name="toy-test", **changes):
    settings = {"name": name, "texture_match": 1.0, "seed": 3, "train_images": 20,
                "val_images": 10, "epochs": 1, "batch_size": 10, "widths": (4, 8, 8, 8),
                "threads": 1, "world": TINY_WORLD}
    settings.update(changes)
    return TrainConfig(**settings)


def test_default_recipes_differ_only_where_they_should():
    texture, shape = DEFAULT_MODELS
    assert (texture.name, shape.name) == ("toy-texture", "toy-shape")
    assert texture.texture_match == 1.0 and shape.texture_match == 0.0
    assert texture.world == shape.world


def test_render_frames_is_deterministic_and_independent_of_workers():
    frames, labels = render_frames((1, 2), 12, 1.0, TINY_WORLD)
    again, _ = render_frames((1, 2), 12, 1.0, TINY_WORLD, workers=2)
    assert frames.shape == (12, 3, 224, 224) and frames.dtype == np.uint8
    assert list(labels) == [i % 10 for i in range(12)]
    np.testing.assert_array_equal(frames, again)


def test_shape_bias_ignores_other_decisions():
    predicted = np.array([0, 0, 1, 2, 5])
    result = shape_bias(predicted, shape_index=np.array([0, 0, 0, 2, 3]),
                        texture_index=np.array([1, 1, 1, 4, 4]))
    assert result == {"n": 5, "n_shape": 3, "n_texture": 1, "shape_bias": 0.75}
    assert np.isnan(shape_bias(np.array([9]), np.array([0]), np.array([1]))["shape_bias"])


def test_train_one_is_deterministic():
    first, record = train_one(_tiny(), log=lambda _: None)
    second, _ = train_one(_tiny(), log=lambda _: None)
    for (key, a), b in zip(first.state_dict().items(), second.state_dict().values(),
                           strict=True):
        torch.testing.assert_close(a, b, msg=key)
    assert record["epochs"] == 1 and 0.0 <= record["val_accuracy"] <= 1.0
    assert record["torch"] == torch.__version__


def test_train_models_writes_weights_and_records(tmp_path):
    world = build_world(tmp_path / "world", TINY_WORLD.model_copy(
        update={"cue_conflict_per_pair": 1}))
    configs = (_tiny("toy-a"), _tiny("toy-b", texture_match=0.0, low_res=112,
                                     low_res_epochs=1, epochs=2, crop_scale=(0.5, 1.0)))
    paths = train_models(out=tmp_path / "weights", world=world, configs=configs,
                         log=lambda _: None)
    assert [p.name for p in paths] == ["toy-a.pt", "toy-b.pt"]
    for path in paths:
        record = json.loads(path.with_suffix(".json").read_text())
        assert record["name"] == path.stem
        assert record["cue_conflict_n"] == 90 and record["world_val_images"] == 10
        assert {"seed", "epochs", "val_accuracy", "seconds", "torch", "config"} <= set(record)
        model = toy_resnet(widths=(4, 8, 8, 8))
        model.load_state_dict(torch.load(path, weights_only=True))
