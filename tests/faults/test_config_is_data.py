"""A run directory's config.toml is data: the Python code it names runs only when trusted.

The module here leaves a marker file when imported; each test looks for the marker.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.config import load_config, to_toml
from localglobal.trust import CODE_KEYS, code_references

MODULE = 'from pathlib import Path\nPath({marker!r}).write_text("ran")\n'


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def _plant(run: Path, tmp_path: Path, *, evaluated: bool) -> Path:
    """Add ``[models.evil] module = evil.py`` to the run's config; return the marker path."""
    marker = tmp_path / "marker"
    module = tmp_path / "evil.py"
    module.write_text(MODULE.format(marker=str(marker)))
    config = load_config(run / "config.toml")
    if evaluated:
        config.evaluate.models.append("evil")
    (run / "config.toml").write_text(to_toml(config) + f'\n[models.evil]\nmodule = "{module}"\n')
    return marker


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def test_a_module_of_a_model_not_evaluated_never_runs(run_copy: Path, tmp_path: Path):
    marker = _plant(run_copy, tmp_path, evaluated=False)
    for args in (["stages"], ["evaluate"], ["attribute"], ["evaluate", "--trust-config"]):
        result = invoke(*args, "--run", run_copy)
        assert "Traceback" not in result.output
        assert not marker.exists(), args


def test_a_run_directory_s_own_module_is_refused_without_trust(run_copy: Path, tmp_path: Path):
    marker = _plant(run_copy, tmp_path, evaluated=True)
    result = invoke("evaluate", "--run", run_copy)
    assert result.exit_code != 0
    errors = _error_lines(result.output)
    assert len(errors) == 1 and "--trust-config" in errors[0] and "evil" in errors[0]
    assert not marker.exists()


def test_trust_config_lets_the_module_run(run_copy: Path, tmp_path: Path):
    marker = _plant(run_copy, tmp_path, evaluated=True)
    result = invoke("evaluate", "--run", run_copy, "--trust-config")
    assert "Traceback" not in result.output
    assert marker.exists()


def test_a_module_given_on_the_command_line_is_trusted(run_copy: Path, tmp_path: Path):
    marker = tmp_path / "marker"
    module = tmp_path / "mine.py"
    module.write_text(MODULE.format(marker=str(marker)))
    overlay = tmp_path / "overlay.toml"
    overlay.write_text(f'[models.mine]\nmodule = "{module}"\n\n'
                       '[evaluate]\nmodels = ["toy-texture", "mine"]\n')
    invoke("evaluate", "--run", run_copy, "--config", overlay)
    assert marker.exists()
    # The entry now lives in the run's config.toml: a later command does not trust it.
    marker.unlink()
    result = invoke("evaluate", "--run", run_copy, "--force")
    assert result.exit_code != 0 and "--trust-config" in result.output
    assert not marker.exists()


# Every configuration key that can name code, planted in a received run's config.toml:
# the TOML that plants it (``{code}`` a file in the run, ``{marker}`` the file the code
# would write), the file's text, and the command that would load it.
PLUGIN = ('from pathlib import Path\nPath({marker!r}).write_text("ran")\n\n'
          'def run(image, level, rng):\n    return image\n')
BUILDER = ('from pathlib import Path\nPath({marker!r}).write_text("ran")\n\n'
           'def build(num_classes=1000):\n    raise SystemExit(0)\n')
PLANTED = {
    "models.*.module": ('[models.evil]\nmodule = "{code}"\n', "evil.py", MODULE, "evaluate"),
    "models.*.arch": ('[models.evil]\narch = "lg_planted_builder:build"\nweights = "random"\n'
                      'label_space = "toyworld"\n', "lg_planted_builder.py", BUILDER,
                      "evaluate"),
    "probes.smooth.operator": ('', "operator.pt", None, "perturb"),
    "probes.plugins.*.function": ('', "evil_probe.py", PLUGIN, "perturb"),
}


def _plant_key(run: Path, pattern: str, marker: Path) -> tuple[str, Path]:
    """Plant ``pattern`` in ``run``'s config.toml; return the command and the code file."""
    toml, file_name, text, command = PLANTED[pattern]
    code = run / file_name
    config = load_config(run / "config.toml")
    if text is not None:
        code.write_text(text.format(marker=str(marker)))
    if pattern.startswith("probes.plugins"):
        config.probes.probes = [*config.probes.probes, "evil"]
        config.probes.plugins = {"evil": {"function": f"{code}:run", "levels": [1]}}
    elif text is None:  # a TorchScript model that would fail loudly if it were ever run
        import torch

        class Loud(torch.nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                raise RuntimeError("the planted operator ran")

        torch.jit.script(Loud()).save(str(code))
        config.probes.probes = [*config.probes.probes, "smooth"]
        config.probes.set_section("smooth", operator=str(code))
    if pattern.startswith("models."):
        config.evaluate.models.append("evil")
    (run / "config.toml").write_text(to_toml(config) + "\n" + toml.format(code=code))
    return command, code


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_every_key_that_names_code_is_refused_from_a_received_run(
        run_copy: Path, tmp_path: Path, monkeypatch):
    import localglobal.run  # noqa: F401 - every stage, and so every loader, registered

    assert set(CODE_KEYS) == set(PLANTED), "a key that names code has no test here"
    # As `python -m localglobal` does, the folder the command starts in is on the path.
    monkeypatch.chdir(run_copy)
    monkeypatch.syspath_prepend("")
    for pattern in CODE_KEYS:
        run = tmp_path / pattern.replace("*", "x")
        shutil.copytree(run_copy, run)
        marker = tmp_path / f"{pattern}.marker"
        command, _ = _plant_key(run, pattern, marker)
        assert set(code_references(load_config(run / "config.toml"))) != set(), pattern
        before = _snapshot(run)
        result = invoke(command, "--run", run)
        errors = _error_lines(result.output)
        assert result.exit_code == 2, (pattern, result.output)
        assert len(errors) == 1 and "--trust-config" in errors[0], (pattern, result.output)
        assert pattern.replace("*", "evil") in errors[0], errors  # the key, named
        assert "planted operator ran" not in result.output and not marker.exists(), pattern
        assert _snapshot(run) == before, f"a refused {command} changed the run ({pattern})"


def test_a_trusted_arch_never_imports_from_the_working_directory(
        run_copy: Path, tmp_path: Path, monkeypatch):
    marker = tmp_path / "marker"
    _plant_key(run_copy, "models.*.arch", marker)
    monkeypatch.chdir(run_copy)
    monkeypatch.syspath_prepend("")
    result = invoke("evaluate", "--run", run_copy, "--trust-config")
    assert not marker.exists()
    assert "cannot import lg_planted_builder:build" in result.output
    assert "lg_planted_builder" not in sys.modules


@pytest.mark.parametrize("shape", ["arrays", "inline tables", "table headers"])
def test_a_configuration_nested_too_deep_is_one_error_line(shape: str, run_copy: Path):
    depth = 100_000
    text = {"arrays": "x = " + "[" * depth + "]" * depth + "\n",
            "inline tables": "x = " + "{a = " * depth + "1" + "}" * depth + "\n",
            "table headers": "[" + ".".join(["a"] * depth) + "]\n"}[shape]
    (run_copy / "config.toml").write_text(text)
    result = invoke("edges", "--run", run_copy)
    errors = _error_lines(result.output)
    assert result.exit_code == 2 and len(errors) == 1, result.output[-500:]
    assert "config.toml" in errors[0] and "nested more than" in errors[0], errors


def test_an_oversized_configuration_is_one_error_line(run_copy: Path):
    (run_copy / "config.toml").write_text("# padding\n" * 200_000)
    result = invoke("edges", "--run", run_copy)
    errors = _error_lines(result.output)
    assert result.exit_code == 2 and len(errors) == 1 and "bytes" in errors[0], result.output
