"""Model specs: validation, weights kinds, fingerprints."""

from __future__ import annotations

import pytest

from localglobal.errors import ConfigError
from localglobal.models.spec import CANONIZERS, ModelSpec, format_for, weights_kind


def test_spec_validation_names_the_problem():
    with pytest.raises(ValueError, match="canonizer"):
        ModelSpec("x", "torchvision:resnet18", canonizer="densenet")
    with pytest.raises(ValueError, match="sha256"):
        ModelSpec("x", "torchvision:resnet18", sha256="not-hex")
    with pytest.raises(ConfigError, match=r"model 'x'.*std must be positive"):
        ModelSpec("x", "torchvision:resnet18", std=(0.2, 0.0, 0.2))
    assert set(CANONIZERS) == {"resnet", "vgg", "seresnet"}


def test_weights_kinds_and_the_format_a_new_source_gets():
    assert [weights_kind(s) for s in (None, "random", "torchvision:DEFAULT", "timm:x.in1k",
                                      "https://a.org/w.pth", "w.pth")] == [
        "none", "random", "torchvision", "timm", "url", "path"]
    assert format_for("local.pth", "dataparallel") == "dataparallel"
    assert format_for("local.pth", "torchvision") == "state_dict"
    assert format_for("random", "dataparallel") == "random"


def test_a_replaced_checkpoint_changes_the_fingerprint(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"one")
    spec = ModelSpec("x", "torchvision:resnet18", str(path))
    before = spec.fingerprint()
    assert "description" not in before and before["weights_file"]["size"] == 3
    path.write_bytes(b"three")
    assert spec.fingerprint() != before
