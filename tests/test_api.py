"""The public API: its doctests, one return convention, and attribution of any architecture."""

from __future__ import annotations

import doctest
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import localglobal
from localglobal import api
from localglobal.attribution.attributor import ModelRefused
from localglobal.attribution.gradients import explain_gradient
from localglobal.attribution.model_run import AttributeInputs, ModelRun
from localglobal.config import config_from_dict
from localglobal.models import ModelSpec


def test_the_doctests_run():
    result = doctest.testmod(api, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 10 and result.failed == 0


def test_importing_the_package_does_not_import_torch():
    code = "import sys, localglobal; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_the_api_is_reachable_from_the_package():
    for name in api.__all__:
        assert getattr(localglobal, name) is getattr(api, name)
    with pytest.raises(AttributeError):
        localglobal.no_such_name  # noqa: B018


def test_every_probe_returns_an_image_and_a_record():
    image = np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for function, args in [(api.scramble, (16, 4)), (api.patch, (8,)), (api.smooth, (2,)),
                           (api.removed_detail, ()), (api.edges, ())]:
        out, record = function(image, *args)
        assert isinstance(out, np.ndarray) and out.shape[:2] == image.shape[:2]
        assert record is not None and not isinstance(record, list)


def test_smooth_returns_the_kth_pass():
    image = np.random.default_rng(4).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    once, _ = api.smooth(image, 1)
    twice, record = api.smooth(image, 2)
    again, _ = api.smooth(once, 1)
    assert record.iterations == 2 and np.array_equal(twice, again)


def test_the_batched_scramble_matches_the_array_scramble():
    image = np.random.default_rng(5).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out, record = api.scramble(image, 8, seed=2)
    batch = torch.from_numpy(image).permute(2, 0, 1)[None]
    batched = api.scramble_batch(batch, [8], [record.permutation])
    assert np.array_equal(batched[0].permute(1, 2, 0).numpy(), out)


def test_a_run_reads_tables_by_catalog_name(tmp_path):
    (tmp_path / "config.toml").write_text("")
    pd.DataFrame({"model": ["m"], "n": [3]}).to_parquet(tmp_path / "shape_bias.parquet")
    run = api.load_run(tmp_path)
    assert run.artifacts == ["shape_bias"] and run.shape_bias["n"].tolist() == [3]
    assert "predictions" in dir(run) and "scramble" in run.figures
    with pytest.raises(api.MissingArtifactError, match="localglobal evaluate"):
        run.predictions  # noqa: B018
    with pytest.raises(AttributeError):
        run.not_an_artifact  # noqa: B018


def test_gradient_x_input_is_the_definition():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Tanh(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 5)).eval()
    x = torch.randn(3, 3, 8, 8)
    result = api.explain(net, x, composite="gradient-x-input")
    expected = []
    for image in x:
        leaf = image[None].clone().requires_grad_(True)
        logits = net(leaf)
        logits[0, logits[0].argmax()].backward()
        expected.append((leaf.grad * leaf).sum(dim=1)[0].detach().numpy())
    np.testing.assert_allclose(result.maps, np.stack(expected), rtol=1e-4, atol=1e-6)


def test_integrated_gradients_are_complete_on_a_linear_net():
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 4)).eval()
    x = torch.randn(2, 3, 4, 4)
    result = explain_gradient(net, x, [1, 2], "integrated-gradients", steps=8)
    gap = net(x) - net(torch.zeros_like(x))
    totals = result.relevance.sum(dim=(1, 2, 3))
    torch.testing.assert_close(totals, gap[[0, 1], [1, 2]].detach(), rtol=1e-4, atol=1e-5)
    smooth = explain_gradient(net, x, [1, 2], "smoothgrad", samples=4)
    torch.testing.assert_close(smooth.relevance, explain_gradient(
        net, x, [1, 2], "smoothgrad", samples=4).relevance)  # seeded: reproducible


def _modern_models():
    timm = pytest.importorskip("timm")
    torchvision = pytest.importorskip("torchvision")
    return {"vit": timm.create_model("vit_tiny_patch16_224", pretrained=False),
            "mobilenet": torchvision.models.mobilenet_v3_small(weights=None)}


def test_modern_architectures_get_a_gradient_method_and_lrp_is_refused():
    images = np.random.default_rng(6).integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    for name, model in _modern_models().items():
        result = api.explain(model, images, composite="auto", name=name)
        assert result.method == "gradient-x-input" and result.maps.shape == (1, 224, 224)
        assert np.isfinite(result.maps).all()
        with pytest.raises(ModelRefused, match='composite = "auto"'):
            api.explain(model, images, composite="epsilon-plus-flat", name=name)


def test_a_resnet_gets_lrp_with_its_canonizer():
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None)
    result = api.explain(model, torch.randn(1, 3, 64, 64))
    assert result.method == "lrp-epsilon-plus-flat" and np.isfinite(result.maps).all()
    with pytest.raises(ModelRefused, match="does not fit"):
        api.explain(model, torch.randn(1, 3, 64, 64), canonizer="seresnet")


def test_the_attribute_stage_resolves_auto_per_model():
    items = pd.DataFrame({"item_id": ["a/original/0/0"], "image_id": ["a"], "wnid": ["x"],
                          "probe": "original", "level": 0, "variant": "0", "path": ""})
    config = config_from_dict({"attribute": {"models": ["m"], "composite": "auto"}})
    spec = ModelSpec(name="m", arch="torchvision:mobilenet_v3_small", weights="random",
                     label_space="imagenet-1k", canonizer=None)
    inputs = AttributeInputs(items, Path("edges.npz"), {}, {}, torch.device("cpu"))
    run = ModelRun("m", spec, config, inputs, None)
    assert run.composite == "gradient-x-input" and not run.lrp
    task = run.task("none", None, Path("maps"), "cpu")
    assert task.method == "gradient-x-input" and task.canonizer is None


def test_evaluate_agrees_with_the_logits():
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 6)).eval()
    x = torch.randn(5, 3, 4, 4)
    table = api.evaluate(net, x, targets=[0, 1, 2, 3, 4], batch_size=2)
    logits = net(x).detach()
    assert table["pred_index"].tolist() == logits.argmax(1).tolist()
    ranks = [int((row > row[t]).sum()) + 1 for t, row in enumerate(logits)]
    assert table["true_rank"].tolist() == ranks
    with pytest.raises(localglobal.api.ConfigError):
        api.evaluate(net, x, targets=[0, 1])


def test_an_attributor_given_auto_runs_the_method_it_chose():
    from localglobal.attribution.attributor import Attributor

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 2 * 2, 3)).eval()
    x = torch.randn(2, 3, 2, 2)
    chosen = Attributor("auto", None, 0.1, (0.0,) * 3, (1.0,) * 3, torch.device("cpu"), 4)
    plain = Attributor("gradient-x-input", None, 0.1, (0.0,) * 3, (1.0,) * 3,
                       torch.device("cpu"), 4)
    assert chosen.composite == "gradient-x-input"
    np.testing.assert_array_equal(chosen(net, x, None)[0], plain(net, x, None)[0])
