"""The analyze stage on a fake run: outputs, the record of what was skipped, bad input."""

import json

import numpy as np
import pandas as pd
import pytest

from localglobal.analysis.analyze import (
    AnalysisRecord,
    FigureSpec,
    _edge_masks_from_npz,
    _make_figure,
    analyze_stage,
    clean_predictions,
    edge_density,
    heatmap_images,
    relevance_densities,
)
from localglobal.analysis.hypotheses import CONTRACT_COLUMNS
from localglobal.config import Hypothesis
from localglobal.run import StageContext, run_stage
from localglobal.store import MissingInputError, write_npz


def context(fake) -> StageContext:
    return StageContext(run=fake.run, config=fake.config, stage="analyze", params_hash="test")


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory, make_run):
    fake = make_run(tmp_path_factory.mktemp("analyze") / "run")
    summary = run_stage("analyze", fake.run, fake.config)
    return fake, summary


@pytest.mark.slow
def test_writes_every_output(analyzed):
    fake, summary = analyzed
    run = fake.run
    hypotheses = run.read("hypotheses")
    assert list(hypotheses.columns[: len(CONTRACT_COLUMNS)]) == CONTRACT_COLUMNS
    assert list(hypotheses["hypothesis"]) == [h.id for h in fake.config.analysis.hypotheses]
    assert set(run.read("interaction")["model"]) == {"a", "b"}
    assert set(run.read("shape_bias").columns) >= {"model", "n", "n_shape", "n_texture",
                                                   "shape_bias"}
    for name in ("hypothesis-pairs.parquet", "interaction-images.parquet",
                 "probe-summary.parquet", "lrp-summary.parquet"):
        assert run.path(name).exists(), name
    assert summary["hypotheses"] == 6 and summary["supported"] >= 4
    record = json.loads(run.path("analysis-report.json").read_text())
    assert {s: v["status"] for s, v in record["sections"].items()} == {
        "interaction": "done", "hypotheses": "done", "shape_bias": "done", "lrp": "done"}
    for entry in record["figures"]:
        assert run.path(entry["png"]).exists() and run.path(entry["pdf"]).exists()
    names = {entry["name"] for entry in record["figures"]}
    assert {"scramble", "patch", "smooth", "removed-detail", "interaction-r",
            "interaction-scatter", "lrp-regions", "density", "heatmaps", "qq",
            "shape-bias"} <= names


def test_the_toy_effects_come_out_supported(analyzed):
    fake, _ = analyzed
    table = fake.run.read("hypotheses").set_index("hypothesis")
    assert table.loc[["SCR", "SMO", "LRP-pos"], "supported"].all()
    bias = fake.run.read("shape_bias").set_index("model")["shape_bias"]
    assert bias["a"] > 0.7 and bias["b"] < 0.3


def test_a_run_without_optional_inputs_skips_with_reasons(tmp_path, make_run):
    fake = make_run(tmp_path / "run", attribute=False, cue_conflict=False, edges=False)
    fake.run.table_path("shape_bias").write_bytes(b"stale")
    (fake.run.path("figures", "contact")).mkdir(parents=True)
    fake.run.path("figures", "lrp-regions.png").write_bytes(b"stale")
    fake.run.path("figures", "contact", "shown.png").write_bytes(b"from localglobal show")
    summary = analyze_stage(context(fake))
    assert not fake.run.path("figures", "lrp-regions.png").exists()
    assert fake.run.path("figures", "contact", "shown.png").exists()
    record = json.loads(fake.run.path("analysis-report.json").read_text())
    assert record["sections"]["lrp"]["status"] == "skipped"
    assert "attribute stage has not run" in record["sections"]["lrp"]["reason"]
    assert record["sections"]["shape_bias"]["status"] == "skipped"
    assert not fake.run.has("shape_bias")  # no stale result left behind
    skipped = {entry["name"]: entry["reason"] for entry in record["figures_skipped"]}
    assert "no attribution statistics" in skipped["lrp-regions"]
    assert "shape-bias" in skipped and "density" not in skipped  # boxes still give a map
    table = fake.run.read("hypotheses").set_index("hypothesis")
    assert table.loc["LRP-pos", "verdict"] == "not tested"
    assert summary["not_tested"] == 1


def test_an_unknown_model_fails_before_anything_is_written(tmp_path, make_run, make_config):
    config = make_config()
    config.analysis.hypotheses = [Hypothesis(id="X", probe="scramble", model_a="a",
                                             model_b="resnet50")]
    fake = make_run(tmp_path / "run", config=config)
    with pytest.raises(ValueError, match="models there: a, b"):
        analyze_stage(context(fake))
    assert not fake.run.has("hypotheses") and not fake.run.path("figures").exists()


def test_predictions_are_required(fake_run):
    fake = fake_run
    fake.run.table_path("predictions").unlink()
    with pytest.raises(MissingInputError, match="localglobal evaluate"):
        analyze_stage(context(fake))


def test_item_ids_give_back_missing_columns():
    table = pd.DataFrame({"model": ["a", "a"], "item_id": ["x_1/patch/10/all", "x_1/patch/10/all"],
                          "true_prob": [0.1, 0.2]})
    cleaned, notes = clean_predictions(table)
    assert cleaned.loc[0, ["image_id", "probe", "level", "variant"]].tolist() == [
        "x_1", "patch", 10, "all"]
    assert len(cleaned) == 1 and cleaned.loc[0, "true_prob"] == 0.2
    assert any("repeated" in n for n in notes) and any("recovered" in n for n in notes)


def test_edge_masks_round_trip_through_the_packed_layout(tmp_path):
    rng = np.random.default_rng(0)
    masks = [rng.random((20, 30)) < 0.2 for _ in range(3)]
    write_npz(tmp_path / "edges.npz", shape=np.array([20, 30]),
              **{f"i{k}": np.packbits(m.ravel()) for k, m in enumerate(masks)})
    unpacked = list(_edge_masks_from_npz(tmp_path / "edges.npz", 224))
    assert all((u == m).all() for u, m in zip(unpacked, masks, strict=True))


def test_edge_density_is_the_share_of_images(fake_run):
    density = edge_density(fake_run.run, fake_run.crop)
    assert density.shape == (fake_run.crop, fake_run.crop)
    assert 0.05 < density.mean() < 0.15  # the fake masks have 10 % edge pixels


def test_relevance_density_uses_the_unperturbed_maps_of_the_model(fake_run):
    densities = relevance_densities(fake_run.run)
    assert set(densities) == set(fake_run.models)
    # Model a's relevance is a blob in the centre of the frame; b's is noise.
    centre = slice(fake_run.crop // 2 - 4, fake_run.crop // 2 + 4)
    assert densities["a"][centre, centre].mean() > 0.9 > densities["a"][:4, :4].mean()
    assert densities["b"][centre, centre].mean() < 0.6


def test_the_gallery_shows_originals_every_model_has(fake_run):
    images, ids, models = heatmap_images(fake_run.run, limit=3)
    assert models == sorted(fake_run.models) and len(ids) == 3
    assert all("__" not in image_id for image_id in ids)
    assert set(images) == {(i, m) for i in ids for m in models}
    assert heatmap_images(fake_run.run, limit=0) == ({}, [], [])


def test_a_figure_that_breaks_is_recorded_not_fatal(fake_run):
    def broken():
        raise RuntimeError("bad axis")

    record, logged = AnalysisRecord(), []
    spec = FigureSpec("broken", "scramble", "Broken", "", broken)
    _make_figure(spec, fake_run.run.path("figures"), fake_run.run, 50, record, logged.append)
    assert record.figures == []
    assert record.figures_skipped[0]["reason"] == "failed: RuntimeError: bad axis"
    assert logged and "broken" in logged[0]


def test_non_finite_maps_are_left_out_of_the_density(fake_run):
    run = fake_run.run
    attributions = run.read("attributions")
    originals = attributions[(attributions["model"] == "a") & (attributions["control"] == "none")
                             & (attributions["probe"] == "original")]
    image_ids = sorted(originals["image_id"].unique())
    kept = image_ids[0]
    # Every map of model a but one held NaN: the density is that one map's region.
    attributions["finite"] = True
    attributions.loc[attributions["model"].eq("a") & attributions["image_id"].ne(kept)
                     & attributions["control"].eq("none"), "finite"] = False
    density = relevance_densities(run, attributions=attributions)["a"]
    assert set(np.unique(density)) <= {0.0, 1.0}
    assert density.mean() > 0
