"""A run directory's config.toml is data: the Python code it names runs only when trusted.

The module here leaves a marker file when imported; each test looks for the marker.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.config import load_config, to_toml

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
