"""A model on its device: loaded once and lazily, its outputs checked, failures remembered."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from localglobal.errors import ConfigError, LabelSpaceError
from localglobal.evaluation.inference import (
    Classifier,
    evaluate,
    release_classifiers,
    shared_classifier,
)
from localglobal.models.spec import ModelSpec

SPEC = ModelSpec("net", "torchvision:resnet18", "random", crop=8, checkpoint_format="random",
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


class Linear(nn.Module):
    def __init__(self, classes: int):
        super().__init__()
        self.fc = nn.Linear(3 * 8 * 8, classes)

    def forward(self, x):
        return self.fc(x.reshape(len(x), -1))


def counting_loader(classes: int, calls: list):
    def load(spec):
        calls.append(spec.name)
        torch.manual_seed(0)
        return Linear(classes)
    return load


def test_the_model_is_loaded_once_and_only_when_asked():
    calls: list = []
    classifier = Classifier(SPEC, torch.device("cpu"), n_classes=5, space="five",
                            load=counting_loader(5, calls))
    assert not classifier.loaded and calls == []
    images = torch.randint(0, 256, (3, 8, 8, 3), dtype=torch.uint8)
    first = classifier.logits(images)
    second = classifier.logits(images)
    assert calls == ["net"] and first.shape == (3, 5) and torch.equal(first, second)
    expected = classifier.model()(((images.permute(0, 3, 1, 2).float() / 255) - 0.5) / 0.5)
    assert torch.allclose(first, expected, atol=1e-6)
    assert classifier.images == 6
    classifier.release()
    assert not classifier.loaded


def test_outputs_of_the_wrong_size_are_refused_when_the_model_loads():
    classifier = Classifier(SPEC, torch.device("cpu"), n_classes=1000, space="imagenet-1k",
                            load=counting_loader(10, []))
    with pytest.raises(LabelSpaceError, match="outputs 10 logits"):
        classifier.model()
    assert not classifier.loaded


def test_one_shared_classifier_at_a_time():
    first = shared_classifier(SPEC, "cpu", n_classes=5, space="five")
    assert shared_classifier(SPEC, "cpu", n_classes=5, space="five") is first
    other = shared_classifier(SPEC, "cpu", n_classes=6, space="six")
    assert other is not first
    release_classifiers()
    assert shared_classifier(SPEC, "cpu", n_classes=6, space="six") is not other
    release_classifiers()


def test_evaluate_agrees_with_the_logits():
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 6)).eval()
    x = torch.randn(5, 3, 4, 4)
    table = evaluate(net, x, targets=[0, 1, 2, 3, 4], batch_size=2)
    logits = net(x).detach()
    assert table["pred_index"].tolist() == logits.argmax(1).tolist()
    ranks = [int((row > row[t]).sum()) + 1 for t, row in enumerate(logits)]
    assert table["true_rank"].tolist() == ranks
    with pytest.raises(ConfigError):
        evaluate(net, x, targets=[0, 1])
