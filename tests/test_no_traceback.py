"""Every failure a user can cause is one ``error:`` line and a non-zero exit, never a traceback.

Each command meets a missing run, a wrong configuration key and an unreadable file;
then the run itself is damaged in the ways a disk or a hand can damage it.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localglobal.cli import app
from tests.fake_run import make_fake_run

os.environ.setdefault("LOCALGLOBAL_NO_PROGRESS", "1")

RUN_COMMANDS = ("edges", "perturb", "evaluate", "attribute", "analyze", "report")
"""Commands that read an existing run and take ``--config``."""


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_error(result, *words: str) -> None:
    """One ``error:`` line (naming ``words``), a non-zero exit, no traceback."""
    output = result.output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert result.exit_code != 0, output
    assert "Traceback" not in output, output
    assert len(errors) == 1, output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), repr(result.exception)
    assert not errors[0].startswith("error: internal error"), output  # a user's mistake
    for word in words:
        assert word in errors[0], output


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("files")
    wrong_key = root / "wrong-key.toml"
    wrong_key.write_text("[evaluate]\nmodles = ['resnet50']\n")
    unreadable = root / "unreadable.toml"
    unreadable.write_bytes(b"\xff\xfe\x00garbage\x9c")
    return {"missing": root / "no-such-run", "wrong_key": wrong_key,
            "unreadable": unreadable, "folder": root, "source": root / "no-such-source"}


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return make_fake_run(tmp_path / "run", n_images=4).run.root


def _command(name: str, run: Path) -> list[object]:
    if name in ("annotations", "index"):
        return [name, run.parent / "no-such-source", "--run", run]
    if name == "show":
        return [name, "n00000000_0", "--run", run]
    return [name, "--run", run]


@pytest.mark.parametrize("name", (*RUN_COMMANDS, "show", "stages"))
def test_a_missing_run_is_an_error_not_a_new_run(name: str, files: dict[str, Path]):
    assert_one_error(invoke(*_command(name, files["missing"])), str(files["missing"]))
    assert not files["missing"].exists()


@pytest.mark.parametrize("name", ("annotations", "index"))
def test_a_command_that_starts_a_run_says_so(name: str, tmp_path: Path):
    result = invoke(*_command(name, tmp_path / "new"))
    assert f"created run directory {tmp_path / 'new'}" in result.output
    assert_one_error(result)


@pytest.mark.parametrize("name", (*RUN_COMMANDS, "annotations", "index", "models"))
@pytest.mark.parametrize("case", ("wrong_key", "unreadable", "folder"))
def test_a_bad_configuration_file_is_one_error(name: str, case: str, run_dir: Path,
                                               files: dict[str, Path]):
    args = ["models"] if name == "models" else _command(name, run_dir)
    assert_one_error(invoke(*args, "--config", files[case]), str(files[case]))


@pytest.mark.parametrize("case", ("wrong_key", "unreadable", "folder", "missing"))
def test_run_with_a_bad_configuration_is_one_error(case: str, files: dict[str, Path],
                                                   tmp_path: Path):
    assert_one_error(invoke("run", files[case], "--run", tmp_path / "r"), str(files[case]))
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", (*RUN_COMMANDS, "show", "stages"))
def test_run_pointing_at_a_file_is_one_error(name: str, tmp_path: Path):
    file = tmp_path / "a-file"
    file.write_text("not a run")
    assert_one_error(invoke(*_command(name, file)), str(file))


MANIFESTS = {"invalid JSON": b'{"stages": {', "wrong shape": b'{"stages": [1, 2]}',
             "a list": b"[]", "binary": b"\x00\xff\x13"}


@pytest.mark.parametrize("name", ("stages", "perturb", "analyze"))
@pytest.mark.parametrize("content", MANIFESTS.values(), ids=MANIFESTS.keys())
def test_a_damaged_manifest_is_one_error_naming_it(name: str, content: bytes, run_dir: Path):
    (run_dir / "manifest.json").write_bytes(content)
    assert_one_error(invoke(*_command(name, run_dir)), "manifest.json")


def test_a_damaged_config_toml_is_one_error_naming_it(run_dir: Path):
    (run_dir / "config.toml").write_bytes(b"[run\nseed = ")
    assert_one_error(invoke("stages", "--run", run_dir), "config.toml")


@pytest.mark.parametrize("artifact,command", [
    ("edges.npz", "show"), ("samples.parquet", "perturb"), ("predictions.parquet", "analyze")])
def test_a_truncated_output_is_one_error_or_redone(artifact: str, command: str, run_dir: Path):
    path = run_dir / artifact
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    result = invoke(*_command(command, run_dir), *(["--force"] if command != "show" else []))
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        assert_one_error(result)


def test_a_symlink_loop_in_the_image_tree_is_one_error(tmp_path: Path):
    images = tmp_path / "images" / "train" / "n01440764"
    images.mkdir(parents=True)
    (images / "loop").symlink_to(images / "loop")
    (tmp_path / "images" / "train" / "cycle").symlink_to(tmp_path / "images")
    result = invoke("index", tmp_path / "images", "--run", tmp_path / "run")
    assert "Traceback" not in result.output and result.exit_code != 0
    assert_one_error(result)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EIO])
def test_a_full_or_read_only_disk_is_one_error_naming_the_cause(code: int, run_dir: Path,
                                                                monkeypatch):
    import localglobal.io.atomic as atomic

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(run_dir / "config.toml"))

    monkeypatch.setattr(atomic.os, "replace", refuse)
    result = invoke("evaluate", "--run", run_dir, "--models", "another-model")
    assert_one_error(result, os.strerror(code))


# Every registered command, by how it meets a missing input, a wrong key and a file it
# cannot read. Commands that start a run (annotations, index, geirhos, run, demo) or
# need none (models, fetch, toyworld) meet a missing *input* where the others meet a
# missing run.

def _geirhos(run: Path, files: dict[str, Path]) -> list[object]:
    return ["geirhos", "--run", run, "--stimuli", files["missing"], "--humans",
            files["missing"]]


MISSING_INPUT = {
    "annotations": lambda f, tmp: ["annotations", f["source"], "--run", tmp / "r"],
    "index": lambda f, tmp: ["index", f["source"], "--run", tmp / "r"],
    "geirhos": lambda f, tmp: _geirhos(tmp / "r", f),
    "run": lambda f, tmp: ["run", f["missing"], "--run", tmp / "r"],
    "demo": lambda f, tmp: ["demo", "--run", tmp / "r", "--config", f["missing"]],
    "models": lambda f, tmp: ["models", "--config", f["missing"]],
    "probes": lambda f, tmp: ["probes", "--config", f["missing"]],
    "fetch geirhos": lambda f, tmp: ["fetch", "geirhos", "--to", tmp / "g", "--checksums",
                                     f["missing"]],
    "fetch model-vs-human": lambda f, tmp: ["fetch", "model-vs-human", "--to", tmp / "m",
                                            "--checksums", f["missing"]],
    "toyworld build": lambda f, tmp: ["toyworld", "build", tmp / "w", "--config",
                                      f["missing"]],
    "toyworld train": lambda f, tmp: ["toyworld", "train", "--out", tmp / "o", "--world",
                                      f["missing"]],
}


def _registered() -> set[str]:
    import typer.main

    names = set()
    for name, command in typer.main.get_command(app).commands.items():
        sub = getattr(command, "commands", None)
        names.update(f"{name} {s}" for s in sub) if sub else names.add(name)
    return names


def test_every_registered_command_is_covered():
    covered = {*RUN_COMMANDS, "show", "stages", *MISSING_INPUT}
    assert _registered() <= covered, _registered() - covered


@pytest.mark.parametrize("name", MISSING_INPUT)
def test_a_missing_input_is_one_error_naming_it(name: str, files: dict[str, Path],
                                                tmp_path: Path):
    result = invoke(*MISSING_INPUT[name](files, tmp_path))
    assert_one_error(result)
    assert str(files["source"] if name in ("annotations", "index") else files["missing"]
               ) in result.output


WITH_CONFIG = {
    "geirhos": lambda cfg, tmp: ["geirhos", "--run", tmp / "r", "--config", cfg],
    "demo": lambda cfg, tmp: ["demo", "--run", tmp / "r", "--config", cfg],
    "toyworld build": lambda cfg, tmp: ["toyworld", "build", tmp / "w", "--config", cfg],
}


@pytest.mark.parametrize("name", WITH_CONFIG)
@pytest.mark.parametrize("case", ("wrong_key", "unreadable"))
def test_other_commands_with_a_bad_configuration_are_one_error(
        name: str, case: str, files: dict[str, Path], tmp_path: Path):
    result = invoke(*WITH_CONFIG[name](files[case], tmp_path))
    assert_one_error(result, str(files[case]))
    if name == "demo":
        assert not (tmp_path / "r" / "world").exists()  # refused before any work


@pytest.mark.parametrize("name", (*RUN_COMMANDS, "stages"))  # show reads no configuration
@pytest.mark.parametrize("content", [b"[evaluate]\nmodles = ['a']\n", b"\xff\xfe\x00\x9c"],
                         ids=["wrong key", "unreadable"])
def test_a_bad_config_toml_in_the_run_is_one_error_naming_it(name: str, content: bytes,
                                                             run_dir: Path):
    (run_dir / "config.toml").write_bytes(content)
    assert_one_error(invoke(*_command(name, run_dir)), "config.toml")


GARBAGE_INPUT = {"edges": "samples.parquet", "perturb": "samples.parquet",
                 "evaluate": "perturbations.parquet", "attribute": "samples.parquet",
                 "analyze": "predictions.parquet", "show": "samples.parquet",
                 "stages": "manifest.json"}


@pytest.mark.parametrize("name", GARBAGE_INPUT)
def test_an_input_replaced_by_garbage_is_one_error_naming_it(name: str, tmp_path: Path):
    run_dir = make_fake_run(tmp_path / "run", n_images=4, images=name == "show").run.root
    artifact = GARBAGE_INPUT[name]
    (run_dir / artifact).write_bytes(b"PAR1 this is not a table \x00\xff" * 8)
    force = ["--force"] if name not in ("show", "stages") else []
    assert_one_error(invoke(*_command(name, run_dir), *force), artifact)


def test_fetch_with_an_unreadable_checksum_list_is_one_error(files: dict[str, Path],
                                                             tmp_path: Path):
    result = invoke("fetch", "geirhos", "--to", tmp_path / "g", "--checksums",
                    files["unreadable"], "--mirror", "http://127.0.0.1:9")
    assert_one_error(result, str(files["unreadable"]))


@pytest.mark.parametrize("args", [[], ["run"], ["demo"], ["show"], ["models"], ["geirhos"],
                                  ["fetch"], ["fetch", "geirhos"], ["toyworld", "train"]],
                         ids=lambda a: " ".join(a) or "localglobal")
def test_help_exits_zero_without_a_traceback(args: list[str]):
    result = invoke(*args, "--help")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize("args", [["stages", "--run", "x", "--bogus"], ["evaluate"],
                                  ["show"], ["nope"], ["toyworld", "nope"],
                                  ["edges", "--run", "x", "--force", "true"]],
                         ids=lambda a: " ".join(a))
def test_a_usage_mistake_is_one_error_line_pointing_at_the_help(args: list[str]):
    result = invoke(*args)
    assert result.exit_code == 2
    assert_one_error(result, "--help`")
    assert result.output.count("\n") == 1, result.output  # the line and nothing else
