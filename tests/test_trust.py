"""The trust rule: which keys name code, and the one check every loader asks."""

from __future__ import annotations

import sys

import pytest

from localglobal.config import RunConfig
from localglobal.errors import ConfigError
from localglobal.trust import (
    arch_names_code,
    code_references,
    import_named_module,
    require_trusted,
    vouched_for,
)


def test_only_functions_outside_the_tool_s_own_packages_are_code():
    assert arch_names_code("pkg.module:build")
    assert not arch_names_code("timm:resnet50")
    assert not arch_names_code("torchvision:resnet18:DEFAULT")
    assert not arch_names_code("localglobal.toyworld.model:build")
    assert not arch_names_code("resnet50")


def test_code_references_name_each_key_and_its_value():
    config = RunConfig.model_validate({
        "models": {"a": {"module": "a.py"}, "b": {"arch": "timm:resnet50"},
                   "c.v1": {"arch": "pkg:build"}},
        "probes": {"smooth": {"operator": "l0"}}})
    assert code_references(config) == {"models.a.module": "a.py",
                                       "models.c.v1.arch": "pkg:build"}


def test_a_reference_is_vouched_for_only_with_the_same_value():
    received = {"models": {"a": {"module": "/run/evil.py"}}}
    assert not vouched_for(received, None)
    assert not vouched_for(received, {"models": {"a": {"module": "/home/mine.py"}}})
    assert vouched_for(received, {"models": {"a": {"module": "/run/evil.py"}}})
    assert vouched_for({"models": {"a": {"arch": "timm:x"}}}, None)


def test_the_rule_refuses_untrusted_code_naming_the_key():
    require_trusted("probes.smooth.operator", "op.pt", True)
    with pytest.raises(ConfigError, match=r"probes\.smooth\.operator = 'op\.pt'.*"
                       "--trust-config"):
        require_trusted("probes.smooth.operator", "op.pt", False)


def test_a_module_in_the_working_directory_is_not_imported_by_name(tmp_path, monkeypatch):
    (tmp_path / "lg_cwd_module.py").write_text("VALUE = 1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend("")
    with pytest.raises(ImportError):
        import_named_module("lg_cwd_module")
    assert "" in sys.path  # the path is restored
    assert import_named_module("json").dumps([1]) == "[1]"
