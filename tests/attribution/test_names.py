"""One registry style: composites and canonizers by name, unknown names listing the known."""

from __future__ import annotations

import pytest

from localglobal.attribution.canonizers import CANONIZERS, get_canonizers
from localglobal.attribution.methods import NAMES, is_lrp, make_composite, method_name
from localglobal.attribution.names import lookup
from localglobal.errors import ConfigError, UnknownNameError
from localglobal.models.spec import CANONIZERS as SPEC_CANONIZERS


def test_lookup_names_every_known_entry_in_the_error():
    assert lookup({"a": 1, "b": 2}, "b", "thing") == 2
    with pytest.raises(UnknownNameError, match=r"unknown thing 'c'; known: a, b") as error:
        lookup({"a": 1, "b": 2}, "c", "thing")
    assert isinstance(error.value, ConfigError) and isinstance(error.value, ValueError)


def test_composites_and_canonizers_are_dicts_of_factories():
    assert NAMES == ("epsilon-plus-flat", "epsilon-gamma-box", "epsilon-alpha2-beta1-flat",
                     "epsilon", "gradient-x-input", "integrated-gradients", "smoothgrad", "auto")
    assert all(callable(factory) for factory in CANONIZERS.values())
    with pytest.raises(UnknownNameError, match="unknown composite 'lrp'; known: "
                       "epsilon-plus-flat, epsilon-gamma-box"):
        make_composite("lrp")
    with pytest.raises(UnknownNameError, match="unknown canonizer 'senet'; known: "
                       "resnet, vgg, seresnet"):
        get_canonizers("senet")


def test_the_canonizers_a_model_spec_may_name_are_the_registered_ones():
    assert set(CANONIZERS) == set(SPEC_CANONIZERS)
    for name in CANONIZERS:
        (canonizer,) = get_canonizers(name)
        assert canonizer is not get_canonizers(name)[0]  # fresh instances


def test_method_names():
    assert method_name("epsilon-plus-flat") == "lrp-epsilon-plus-flat"
    assert method_name("epsilon") == "lrp-epsilon"
    assert method_name("gradient-x-input") == "gradient-x-input"
    assert is_lrp("epsilon-gamma-box") and not is_lrp("gradient-x-input")
    with pytest.raises(UnknownNameError):
        method_name("nope")
