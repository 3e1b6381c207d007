"""A stage's command options: which are given, how they change the configuration, what
the runner gets; the model options add to a list, or make it, while a stage has no results."""

from __future__ import annotations

from pathlib import Path

import pytest

from localglobal.config import RunConfig
from localglobal.errors import LocalglobalError
from localglobal.pipeline.artifacts import Artifact
from localglobal.pipeline.rundir import RunDir
from localglobal.pipeline.stage import StageRegistry, stage
from localglobal.pipeline.stage_options import (
    DEVICE,
    WORKERS,
    Option,
    configure,
    model_list,
    model_options,
    runner_options,
)


def _set_label_space(config, value, given):
    config.data.label_space = value
    return config


LABEL_SPACE = Option("label_space", ("--label-space",), str | None, "the label space",
                     metavar="NAME", apply=_set_label_space)
SOURCE = Option("source", (), Path, "the source", metavar="SOURCE",
                apply=lambda config, value, given: config)


def test_an_option_is_given_when_it_differs_from_its_default_and_an_argument_always_is():
    assert LABEL_SPACE.given("imagenette") and not LABEL_SPACE.given(None)
    assert SOURCE.argument and SOURCE.given(None)
    assert not model_options("evaluate")[1].given(False)  # --replace defaults to False


def test_configuration_options_change_the_configuration_and_runner_options_do_not():
    values = {"label_space": "imagewoof", "workers": 3, "device": None}
    options = (LABEL_SPACE, WORKERS, DEVICE)
    config = configure(RunConfig(), options, values)
    assert config.data.label_space == "imagewoof"
    assert runner_options(options, values) == {"workers": 3, "device": None}
    untouched = configure(RunConfig(), options, {"label_space": None})
    assert untouched.data.label_space == RunConfig().data.label_space


def _registry_with_results(root: Path, has_results: bool) -> RunDir:
    registry = StageRegistry()

    @stage("evaluate", writes=(Artifact("predictions", "predictions.parquet"),),
           registry=registry)
    def evaluate(ctx):
        return {}

    run = RunDir(root, registry).ensure()
    if has_results:
        run.path("predictions.parquet").write_bytes(b"")
    return run


@pytest.mark.parametrize("has_results,expected", [(False, ["mine"]),
                                                  (True, ["resnet50", "mine"])])
def test_models_make_the_list_of_a_stage_without_results_and_add_to_one_with(
        tmp_path, has_results, expected):
    run = _registry_with_results(tmp_path, has_results)
    config = RunConfig()
    config.evaluate.models = ["resnet50"]
    given = {"models": "mine", "replace": False, "run": run}
    assert configure(config, model_options("evaluate"), given).evaluate.models == expected


def test_replace_makes_the_list_and_needs_models(tmp_path):
    run = _registry_with_results(tmp_path, True)
    config = RunConfig()
    config.evaluate.models = ["resnet50", "vgg16"]
    given = {"models": "vgg16", "replace": True, "run": run}
    assert configure(config, model_options("evaluate"), given).evaluate.models == ["vgg16"]
    with pytest.raises(LocalglobalError, match="--replace needs --models"):
        configure(config, model_options("evaluate"), {"replace": True, "run": run})


def test_a_model_list_drops_blanks():
    assert model_list(" a, b,, ") == ["a", "b"] and model_list(None) == []
