"""The run configuration: thesis defaults, errors that name the key, TOML round trip."""

from pathlib import Path

import pytest

from localglobal.config import (
    THESIS_MODELS,
    RunConfig,
    builtin_config,
    config_from_dict,
    load_config,
    to_toml,
)
from localglobal.errors import ConfigError
from localglobal.probes.catalog import get_probe


def test_defaults_are_the_thesis():
    config = RunConfig()
    assert (config.frame.resize, config.frame.crop) == (256, 224)
    assert config.index.per_class == 3
    assert config.index.require_box
    assert config.index.splits == ["train"]
    assert config.run.seed == 1
    assert config.data.label_space == "imagenette"
    assert config.evaluate.models == THESIS_MODELS
    assert config.probes.probes == ["scramble", "patch", "smooth"]
    assert config.edges.sigma == 0.9
    assert (config.edges.h, config.edges.h_color) == (30, 10)
    assert (config.edges.template_window, config.edges.search_window) == (7, 21)
    assert config.attribute.epsilon == 0.1
    # Unset, analyze tests the thesis hypotheses (configs/thesis.toml) that fit the run.
    assert config.analysis.hypotheses is None
    assert config.edges.thresholds == "auto" and config.edges.denoise
    assert config.analysis.interaction_test == "permutation"


@pytest.mark.parametrize("name", ["demo", "demo-ci"])
def test_the_demos_move_every_block_and_carry_both_forms(name):
    config = load_config(builtin_config(name))
    assert config.probes.section("scramble")["derangement"]
    ids = [h.id for h in config.analysis.hypotheses]
    pair = [i for base in ("scramble", "smooth") for i in (base, f"{base}-img")]
    # Phase scrambling, model-vs-human's manipulation, beside the thesis's probes (the
    # reduced demo tests it in one form, so that Holm's family stays small) ...
    phase = ["phase", "phase-img"] if name == "demo" else ["phase"]
    # ... and the LRP measure against the true outline, the proxy checked against the truth.
    assert ids == [*pair, *phase, "lrp-edges", "lrp-edges-img", "lrp-outline"]
    assert "phase-scrambling" in config.probes.probes
    outline = config.analysis.hypotheses[-1]
    assert (outline.proxy, outline.measure) == ("outline", "edge_enrichment_pos")
    assert all(h.proxy == "canny" for h in config.analysis.hypotheses[:-1])


def test_edge_percentiles_must_be_ordered():
    with pytest.raises(ConfigError) as error:
        config_from_dict({"edges": {"thresholds": "percentile", "percentiles": [90, 70]}},
                         "my.toml")
    assert "edges.percentiles" in str(error.value) and "lower < upper" in str(error.value)


@pytest.mark.parametrize(("data", "key"), [
    ({"index": {"per_clas": 3}}, "index.per_clas"),
    ({"bogus": {"x": 1}}, "bogus"),
    ({"models": {"mine": {"arch": "timm:resnet18", "wieghts": "x.pt"}}}, "models.mine.wieghts"),
])
def test_an_unknown_key_is_an_error_that_names_it(data, key):
    with pytest.raises(ConfigError, match=r"my\.toml") as error:
        config_from_dict(data, "my.toml")
    assert f"{key}: unknown key" in str(error.value)


@pytest.mark.parametrize(("data", "key"), [
    ({"frame": {"crop": "big"}}, "frame.crop"),
    ({"run": {"seed": 1.5}}, "run.seed"),
    ({"index": {"require_box": "sometimes"}}, "index.require_box"),
    ({"index": {"per_class": 0}}, "index.per_class"),
])
def test_a_wrong_type_or_value_is_an_error_that_names_the_key(data, key):
    with pytest.raises(ConfigError) as error:
        config_from_dict(data, "my.toml")
    assert f"  {key}: " in str(error.value)


def test_toml_round_trip_keeps_every_value(tmp_path):
    config = config_from_dict({
        "run": {"seed": 7, "workers": 2},
        "index": {"per_class": 5, "splits": ["train", "val"]},
        "frame": {"resize": 160, "crop": 128},
        "models": {"mine": {"arch": "timm:resnet18", "weights": "https://example.org/w.pt",
                            "label_space": "imagenette"}},
    })
    path = tmp_path / "config.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    assert load_config(path) == config


def test_relative_data_paths_are_read_relative_to_the_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "run.toml"
    path.write_text('[data]\nimages = "imgs"\nannotations = "/abs/Annotation.tar.gz"\n',
                    encoding="utf-8")
    config = load_config(path)
    assert Path(config.data.images) == (tmp_path / "sub" / "imgs").resolve()
    assert config.data.annotations == "/abs/Annotation.tar.gz"


def test_a_missing_or_broken_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[run\nseed = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        load_config(broken)


def test_the_shipped_thesis_config_is_the_defaults_plus_data_paths():
    path = builtin_config("thesis")
    config = load_config(path)
    assert config.data.images and config.data.annotations
    loaded = config.model_dump()
    defaults = RunConfig().model_dump()
    for dump in (loaded, defaults):
        dump["data"].pop("images")
        dump["data"].pop("annotations")
    # The thesis config lists the thesis hypotheses; the defaults leave them implied.
    assert loaded["analysis"].pop("hypotheses")
    assert defaults["analysis"].pop("hypotheses") is None
    # Each probe's section spells out its declared defaults.
    for name in ("scramble", "patch", "smooth"):
        assert get_probe(name, loaded["probes"].pop(name)).params == get_probe(name).params
    assert loaded == defaults


def test_the_thesis_config_writes_every_section_out():
    text = builtin_config("thesis").read_text(encoding="utf-8")
    for section in RunConfig.model_fields:
        assert f"[{section}]" in text, section
