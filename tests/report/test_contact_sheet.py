"""``localglobal show``: a contact sheet read from a run (probes, edges, box, heat maps)."""

import shutil

import numpy as np
import pytest

from localglobal.errors import MissingInputError, UnknownNameError
from localglobal.io.images import read_png, write_png
from localglobal.pipeline.rundir import RunDir
from localglobal.probes.contact import EDGE_COLOUR
from localglobal.report.contact_sheet import contact_sheet_of, heatmaps, write_contact_sheet
from tests.stages._probe_run import build_images, generate


@pytest.fixture(scope="module")
def image_rows(tmp_path_factory) -> list[dict]:
    return build_images(tmp_path_factory.mktemp("images"), n=3)


@pytest.fixture(scope="module")
def generated_run(tmp_path_factory, image_rows):
    """A run where perturb and edges have run on three images."""
    return generate(tmp_path_factory.mktemp("run"), image_rows)


def test_a_run_gets_a_contact_sheet_per_image(generated_run, image_rows):
    run, _, _, _ = generated_run
    image_id = image_rows[1]["image_id"]
    path = write_contact_sheet(run, image_id)
    assert path == run.path("contact", f"{image_id}.png")
    sheet = read_png(path)
    assert sheet.shape[0] >= 224 and sheet.shape[1] >= 6 * 224
    assert np.array_equal(sheet, contact_sheet_of(run, image_id))
    assert np.all(sheet == EDGE_COLOUR, axis=-1).any()


def test_the_output_path_can_be_chosen(generated_run, image_rows, tmp_path):
    run, _, _, _ = generated_run
    out = write_contact_sheet(run, image_rows[0]["image_id"], tmp_path / "sheet.png")
    assert out == tmp_path / "sheet.png" and out.exists()


def test_an_unknown_image_id_lists_known_ones(generated_run, image_rows):
    run, _, _, _ = generated_run
    known = image_rows[0]["image_id"]
    with pytest.raises(UnknownNameError, match=rf"unknown image id 'nope'.*{known}"):
        write_contact_sheet(run, "nope")


def test_a_run_without_probes_says_which_stage_to_run(tmp_path):
    with pytest.raises(MissingInputError, match="localglobal perturb"):
        write_contact_sheet(RunDir(tmp_path), "n01440764_1")


def test_without_the_edges_stage_the_edges_are_computed(generated_run, image_rows, tmp_path):
    run, _, _, _ = generated_run
    copy = RunDir(tmp_path / "run")
    shutil.copytree(run.root, copy.root)
    copy.artifact_path("edge_masks").unlink()
    image_id = image_rows[0]["image_id"]
    assert np.array_equal(contact_sheet_of(copy, image_id), contact_sheet_of(run, image_id))


def test_heat_maps_join_the_sheet_once_attributed(generated_run, image_rows, tmp_path):
    run, _, _, _ = generated_run
    copy = RunDir(tmp_path / "run")
    shutil.copytree(run.root, copy.root)
    image_id = image_rows[0]["image_id"]
    assert heatmaps(copy, image_id) == []
    heat = np.zeros((224, 224, 3), np.uint8)
    heat[:, :112] = (200, 30, 30)
    write_png(copy.path("heatmaps", "timm_resnet18", f"{image_id}.png"), heat)
    found = heatmaps(copy, image_id)
    assert [model for model, _ in found] == ["timm_resnet18"]
    assert np.array_equal(found[0][1], heat)

    def heat_pixels(sheet):
        return int(np.all(sheet == (200, 30, 30), axis=-1).sum())

    assert heat_pixels(contact_sheet_of(run, image_id)) == 0
    assert heat_pixels(contact_sheet_of(copy, image_id)) == 224 * 112


def test_show_config_sets_the_edges_drawn_for_this_sheet_only(generated_run, image_rows,
                                                               tmp_path):
    from typer.testing import CliRunner

    from localglobal.cli import app

    run, _, _, _ = generated_run
    copy = RunDir(tmp_path / "run")
    shutil.copytree(run.root, copy.root)
    copy.artifact_path("edge_masks").unlink()
    config_before = copy.config_path.read_bytes()
    overlay = tmp_path / "edges.toml"
    overlay.write_text("[edges]\nthresholds = \"percentile\"\npercentiles = [50.0, 60.0]\n",
                       encoding="utf-8")
    image_id = image_rows[0]["image_id"]
    outs = {}
    for name, extra in (("plain", []), ("overlay", ["--config", str(overlay)])):
        outs[name] = tmp_path / f"{name}.png"
        result = CliRunner().invoke(app, ["show", image_id, "--run", str(copy.root),
                                          "--out", str(outs[name]), *extra])
        assert result.exit_code == 0, result.output
    edge_pixels = {n: np.all(read_png(p) == EDGE_COLOUR, axis=-1).sum()
                   for n, p in outs.items()}
    # Thresholds at the 50th and 60th percentile of the gradient mark far more edges.
    assert edge_pixels["overlay"] > edge_pixels["plain"]
    assert copy.config_path.read_bytes() == config_before  # the run is left as it was
