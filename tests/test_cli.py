"""The command line: each command runs its stage, says where it wrote, and fails clearly."""

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from localglobal.config import THESIS_MODELS
from tests.imagenet_fixture import build_fixture

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

WNIDS = ["n01440764", "n02102040", "n02979186"]


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    return build_fixture(tmp_path_factory.mktemp("fixture"), wnids=WNIDS, per_class=3,
                         splits=("train",))


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_models_lists_every_thesis_model():
    result = invoke("models")
    assert result.exit_code == 0, result.output
    for name in THESIS_MODELS:
        assert name in result.output


def test_stages_print_where_they_wrote(fixture, tmp_path):
    run = tmp_path / "run"
    first = invoke("annotations", fixture.annotations, "--run", run, "--workers", 1)
    assert first.exit_code == 0, first.output
    assert f"wrote {run / 'boxes.parquet'}" in first.output
    second = invoke("index", fixture.images, "--run", run, "--workers", 1)
    assert second.exit_code == 0, second.output
    assert f"wrote {run / 'samples.parquet'}" in second.output
    assert (run / "samples.parquet").is_file()
    # Up to date: the second call skips the work and still says where the output is.
    again = invoke("annotations", fixture.annotations, "--run", run, "--workers", 1)
    assert again.exit_code == 0 and "skipped=True" in again.output


def test_a_stage_before_its_inputs_names_the_command_to_run_first(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.toml").write_text("")
    result = invoke("edges", "--run", tmp_path / "run")
    assert result.exit_code == 1
    assert result.output.startswith("error:")
    assert "localglobal index" in result.output


def test_an_unknown_configuration_key_is_named(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[evaluate]\nbatchsize = 3\n")
    result = invoke("models", "--config", config)
    assert result.exit_code == 2
    assert "batchsize" in result.output


def test_run_needs_the_data_paths(tmp_path):
    config = tmp_path / "empty.toml"
    config.write_text("[run]\nseed = 2\n")
    result = invoke("run", config, "--run", tmp_path / "run")
    assert result.exit_code == 2
    assert result.output.startswith("error:") and "data.images" in result.output
    assert not (tmp_path / "run").exists()


def test_show_before_perturb_says_which_stage_is_missing(fixture, tmp_path):
    run = tmp_path / "run"
    invoke("annotations", fixture.annotations, "--run", run, "--workers", 1)
    invoke("index", fixture.images, "--run", run, "--workers", 1)
    result = invoke("show", "n01440764_0", "--run", run)
    assert result.exit_code == 2
    assert "perturb" in result.output


def test_version():
    from localglobal import __version__

    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"localglobal {__version__}"


def _commands(group=None, path=()):
    """(path, click command) of every command and group, the root first."""
    import typer.main

    group = group or typer.main.get_command(app)
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


COMMANDS = [path for path, _ in _commands()]


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "localglobal" for p in COMMANDS])
def test_help_shows_flags_as_pairs_and_every_default(path):
    result = invoke(*path, "--help")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    text = " ".join(result.output.split())  # help is wrapped: compare unwrapped
    assert "<bool>" not in text
    command = dict(_commands())[path]
    for param in command.params:
        if param.name == "help" or getattr(param, "is_eager", False):
            continue
        if getattr(param, "secondary_opts", None):
            assert f"{param.opts[0]} / {param.secondary_opts[0]}" in text
        if param.required:
            continue
        # A default that is a value is printed by typer; one that is not ("the
        # configuration's") is said in the option's help.
        shown = param.default is not None and param.show_default is not False
        assert shown or "[default: " in (param.help or ""), (path, param.name)
        assert "[default: " in text


def test_help_keeps_bracketed_text_and_names_the_real_defaults():
    run = " ".join(invoke("run", "--help").output.split())
    assert "[default: runs/<CONFIG's stem>" in run
    evaluate = " ".join(invoke("evaluate", "--help").output.split())
    assert "--device DEVICE auto, cpu, cuda" in evaluate and "else auto]" in evaluate
    assert "[models.NAME]" in " ".join(invoke("models", "--help").output.split())


def test_a_flag_takes_no_value(tmp_path):
    result = invoke("edges", "--run", tmp_path, "--force", "true")
    assert result.exit_code == 2 and "unexpected extra argument" in result.output


def test_models_imports_neither_torch_nor_timm_nor_pandas():
    # A fresh interpreter: the test process has long imported all three.
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom localglobal.cli import app\n"
            "result = CliRunner().invoke(app, ['models'])\n"
            "assert result.exit_code == 0, result.output\n"
            "heavy = {'torch', 'timm', 'torchvision', 'pandas', 'numpy', 'pyarrow', 'zennit'}\n"
            "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONHASHSEED": "0"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


VOC = """<annotation><folder>n01440764</folder><filename>n01440764_1</filename>
<size><width>200</width><height>150</height><depth>3</depth></size>
<object><name>n01440764</name><pose>Unspecified</pose><truncated>0</truncated>
<difficult>0</difficult><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>120</xmax>
<ymax>140</ymax></bndbox></object></annotation>"""


def _modules_after(args: list[str]) -> list[str]:
    """The heavy libraries a fresh interpreter has imported after running ``args``."""
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom localglobal.cli import app\n"
            f"result = CliRunner().invoke(app, {args!r})\n"
            "assert result.exit_code == 0, result.output\n"
            "heavy = {'torch', 'torchvision', 'timm', 'matplotlib', 'zennit', 'scipy'}\n"
            "print(sorted(heavy & {name.split('.')[0] for name in sys.modules}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONHASHSEED": "0"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_annotations_and_stages_load_no_model_nor_figure_library(tmp_path):
    import tarfile

    xml = tmp_path / "n01440764_1.xml"
    xml.write_text(VOC, encoding="utf-8")
    archive = tmp_path / "one.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(xml, arcname="n01440764/n01440764_1.xml")
    run = str(tmp_path / "run")
    assert _modules_after(["annotations", str(archive), "--run", run, "--workers", "1"]) == "[]"
    assert (tmp_path / "run" / "boxes.parquet").is_file()
    assert _modules_after(["stages", "--run", run]) == "[]"


def test_every_stage_module_is_a_command_made_from_its_declaration():
    import pkgutil

    import localglobal.stages
    from localglobal.stages import REGISTRY

    # stages/ holds stages only, and every one is found without being named anywhere.
    modules = {m.name for m in pkgutil.iter_modules(localglobal.stages.__path__)}
    assert modules == set(REGISTRY.order())
    for name in REGISTRY.order():
        declared = REGISTRY[name]
        text = " ".join(invoke(name, "--help").output.split())
        assert " ".join(declared.description.split()) in text, name
        for option in declared.options:
            shown = option.metavar if option.argument else option.flags[0].split("/")[0]
            assert shown in text, (name, option.name)
