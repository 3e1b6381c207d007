"""The analyze stage on a fake run: outputs, the record of what was skipped, bad input."""

import numpy as np
import pytest

from localglobal.analysis.hypotheses import CONTRACT_COLUMNS
from localglobal.config import Hypothesis, load_config, to_toml
from localglobal.errors import LocalglobalError
from localglobal.pipeline.runner import Runner
from localglobal.run import run_stage
from localglobal.stages import REGISTRY
from tests.fake_run import fake_config, make_fake_run, mark_done


def analysis_record(run) -> dict:
    """What the analysis recorded (the details of analyze-report.json)."""
    return run.read("analyze_report")["details"]


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory):
    fake = make_fake_run(tmp_path_factory.mktemp("analyze") / "run")
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
    record = analysis_record(run)
    assert {s: v["status"] for s, v in record["sections"].items()} == {
        "interaction": "done", "hypotheses": "done", "shape_bias": "done", "lrp": "done"}
    for entry in record["figures"]:
        assert run.path(entry["png"]).exists() and run.path(entry["pdf"]).exists()
    names = {entry["name"] for entry in record["figures"]}
    assert {"scramble", "patch", "smooth", "removed-detail", "interaction-r",
            "interaction-scatter", "lrp-regions", "density", "heatmaps", "qq",
            "shape-bias"} <= names


def test_every_file_written_is_declared(analyzed):
    fake, _ = analyzed
    declared = {a.path.split("/")[0] for a in REGISTRY.catalog}
    bookkeeping = {"manifest.json", "config.toml", ".lock", ".shards", ".digests"}
    assert {p.name for p in fake.run.root.iterdir()} <= declared | bookkeeping
    assert not fake.run.path("analysis-report.json").exists()
    assert Runner(fake.run, fake.config).state("analyze").status == "done"


def test_the_toy_effects_come_out_supported(analyzed):
    fake, _ = analyzed
    table = fake.run.read("hypotheses").set_index("hypothesis")
    assert table.loc[["SCR", "SMO", "LRP-pos"], "supported"].all()
    bias = fake.run.read("shape_bias").set_index("model")["shape_bias"]
    assert bias["a"] > 0.7 and bias["b"] < 0.3


def test_a_second_run_is_skipped(analyzed):
    fake, _ = analyzed
    assert run_stage("analyze", fake.run, fake.config).get("skipped") is True


def test_a_run_without_optional_inputs_skips_with_reasons(tmp_path):
    fake = make_fake_run(tmp_path / "run", attribute=False, cue_conflict=False, edges=False)
    (fake.run.path("figures", "contact")).mkdir(parents=True)
    fake.run.path("figures", "lrp-regions.png").write_bytes(b"stale")
    fake.run.path("figures", "contact", "shown.png").write_bytes(b"from localglobal show")
    summary = run_stage("analyze", fake.run, fake.config)
    assert not fake.run.path("figures", "lrp-regions.png").exists()
    assert fake.run.path("figures", "contact", "shown.png").exists()
    record = analysis_record(fake.run)
    assert record["sections"]["lrp"]["status"] == "skipped"
    assert "attribute stage has not run" in record["sections"]["lrp"]["reason"]
    assert record["sections"]["shape_bias"]["status"] == "skipped"
    assert not fake.run.has("lrp_summary")
    skipped = {entry["name"]: entry["reason"] for entry in record["figures_skipped"]}
    assert "no attribution statistics" in skipped["lrp-regions"]
    assert "shape-bias" in skipped and "density" not in skipped  # boxes still give a map
    table = fake.run.read("hypotheses").set_index("hypothesis")
    assert table.loc["LRP-pos", "verdict"] == "not tested"
    assert summary["not_tested"] == 1
    assert Runner(fake.run, fake.config).state("analyze").status == "done"


def test_contact_sheets_are_drawn_and_recorded(tmp_path):
    fake = make_fake_run(tmp_path / "run", images=True, n_images=4,
                         config=fake_config(contact_sheets=2))
    run_stage("analyze", fake.run, fake.config)
    record = analysis_record(fake.run)
    sheets = [e for e in record["figures"] if e["section"] == "probes"]
    assert len(sheets) == 2
    assert all(fake.run.path(e["png"]).is_file() for e in sheets)
    assert all(e["png"].startswith("figures/contact/") for e in sheets)
    assert Runner(fake.run, fake.config).state("analyze").status == "done"


def test_an_unknown_model_fails_before_anything_is_written(tmp_path):
    config = fake_config()
    config.analysis.hypotheses = [Hypothesis(id="X", probe="scramble", model_a="a",
                                             model_b="resnet50")]
    fake = make_fake_run(tmp_path / "run", config=config)
    with pytest.raises(ValueError, match="models there: a, b") as raised:
        run_stage("analyze", fake.run, fake.config)
    assert "config.toml" in str(raised.value) and "unexpectedly" not in str(raised.value)
    assert not fake.run.has("hypotheses") and not fake.run.path("figures").exists()


def test_predictions_are_required(tmp_path):
    fake = make_fake_run(tmp_path / "run")
    fake.run.artifact_path("predictions").unlink()
    # The runner notices the missing output of evaluate; the stage would say the same.
    with pytest.raises(LocalglobalError, match="localglobal evaluate"):
        run_stage("analyze", fake.run, fake.config)


def test_unset_hypotheses_on_models_without_a_thesis_hypothesis_test_each_probe(tmp_path):
    config = fake_config()
    config.analysis.hypotheses = None
    fake = make_fake_run(tmp_path / "run", config=config)
    summary = run_stage("analyze", fake.run, fake.config)
    table = fake.run.read("hypotheses")
    probes = sorted(set(fake.run.read("predictions")["probe"]) - {"original"})
    assert sorted(table["hypothesis"]) == sorted(f"{p}:{m}" for p in probes for m in "ab")
    assert summary["hypotheses"] == len(table) and set(table["source"]) == {"probe-effect"}
    assert (table["n"] > 0).all() and table["p_holm"].notna().all()
    record = analysis_record(fake.run)
    assert any("no thesis hypothesis fits this run's models (a, b)" in note
               for note in record["notes"])
    assert record["sections"]["hypotheses"]["chosen"] == "default"


def test_the_parameters_follow_the_chosen_hypotheses_and_survive_the_toml(tmp_path):
    params = REGISTRY["analyze"].params
    own, thesis = fake_config(), fake_config()
    own.analysis.hypotheses = thesis.analysis.hypotheses = None
    thesis.evaluate.models = ["resnet50", "sin-resnet50"]
    assert params(own)["hypotheses"] == []
    assert "H1" in params(thesis)["hypotheses"] and params(own) != params(thesis)
    path = tmp_path / "config.toml"
    for hypotheses in (None, []):
        own.analysis.hypotheses = hypotheses
        path.write_text(to_toml(own), encoding="utf-8")
        assert load_config(path).analysis.hypotheses == hypotheses  # unset stays unset
    explicitly_none = params(own)  # hypotheses = []: asked for none
    own.analysis.hypotheses = None
    assert params(own) != explicitly_none


def test_a_run_in_a_label_subset_draws_and_tests_the_subset_probability(tmp_path):
    config = fake_config()
    config.analysis.hypotheses = None
    fake = make_fake_run(tmp_path / "run", config=config)
    predictions = fake.run.read("predictions")
    # The dataset's 10 classes within the models' 1000: the subset probability is larger.
    fake.run.write("predictions", predictions.assign(
        subset_true_prob=np.sqrt(predictions["true_prob"]), subset_correct=True,
        correct=predictions["pred_index"] == predictions["true_index"],
        model_classes=1000, subset_classes=10))
    mark_done(fake.run, fake.config, "evaluate")
    run_stage("analyze", fake.run, fake.config)
    summary = fake.run.read("probe_summary")
    assert set(summary["measure"]) == {"subset_true_prob"}
    original = summary[summary["probe"] == "original"].set_index("model")["mean"]
    expected = np.sqrt(predictions[predictions["probe"] == "original"]["true_prob"]).groupby(
        predictions["model"]).mean()
    np.testing.assert_allclose(original.sort_index(), expected.sort_index())
    hypotheses = fake.run.read("hypotheses")
    assert set(hypotheses["measure"]) == {"subset_true_prob"}
    notes = analysis_record(fake.run)["notes"]
    assert any("decisions are read in the run's 10 classes" in note for note in notes)
