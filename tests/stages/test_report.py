"""The report stage: self-contained HTML that parses, a summary per hypothesis, absent
sections named, and a refusal when a stage it shows failed or is out of date."""

import json
from html.parser import HTMLParser

import pytest

from localglobal.config import RunConfig
from localglobal.errors import StageError
from localglobal.pipeline.manifest import Manifest
from localglobal.run import prepare_run, run_stage
from localglobal.stages import REGISTRY
from tests.fake_run import make_fake_run, mark_done


class Page(HTMLParser):
    """Collects what a self-contained page must be checked for."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.scripts, self.ids = [], [], 0, set()
        self.summary_cells: list[str] = []
        self._in_summary = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag in {"link", "script", "iframe"}:
            self.scripts += 1
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "table" and "summary" in (attrs.get("class") or ""):
            self._in_summary = True

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_summary = False

    def handle_data(self, data):
        if self._in_summary and data.strip():
            self.summary_cells.append(data.strip())


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def page_of(run) -> str:
    return run.path("report", "index.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    fake = make_fake_run(tmp_path_factory.mktemp("report") / "run")
    run_stage("analyze", fake.run, fake.config)
    summary = run_stage("report", fake.run, fake.config)
    return fake, summary


@pytest.mark.slow
def test_the_page_is_self_contained(reported):
    fake, summary = reported
    html = page_of(fake.run)
    page = parse(html)
    assert len(page.images) == summary["figures"] >= 10
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.scripts == 0
    assert all(link.startswith("#") for link in page.links)  # nothing outside the page
    assert "http://" not in html and "https://" not in html


def test_every_configured_hypothesis_is_in_the_summary(reported):
    fake, _ = reported
    page = parse(page_of(fake.run))
    for h in fake.config.analysis.hypotheses:
        assert h.id in page.summary_cells
        assert f"hypothesis-{h.id}" in page.ids
    assert "supported" in page.summary_cells and "not supported" in page.summary_cells
    markdown = fake.run.path("report", "summary.md").read_text(encoding="utf-8")
    for h in fake.config.analysis.hypotheses:
        assert f"| {h.id} |" in markdown


def test_sections_for_every_probe_and_the_provenance(reported):
    fake, summary = reported
    html = page_of(fake.run)
    page = parse(html)
    assert {"summary", "scramble", "patch", "smooth", "removed_detail", "shape_bias", "lrp",
            "hypotheses", "configuration", "provenance"} <= page.ids
    manifest = json.loads(fake.run.manifest_path.read_text())
    assert str(manifest["git_commit"] or "unknown") in html
    for stage, record in manifest["stages"].items():
        if stage == "report":
            continue
        assert f"<td>{stage}</td><td>{record['status']}" in html  # time per stage
    assert "[analysis]" in html  # the configuration itself
    assert summary["absent"] == ["The probes on a few images"]  # contact sheets are off


def test_the_image_level_test_is_shown_beside_the_thesis_pair_test(reported):
    fake, _ = reported
    html = page_of(fake.run)
    assert "Wilcoxon p, pairs" in html and "t-test p, pairs" in html
    assert "unit of inference is the image" in html


def test_a_second_run_is_skipped(reported):
    fake, _ = reported
    assert run_stage("report", fake.run, fake.config).get("skipped") is True


def test_report_declares_what_it_shows():
    declared = REGISTRY["report"]
    assert {"hypotheses", "predictions", "attributions", "figures", "analyze_report",
            "shape_bias", "interaction", "probe_summary", "lrp_summary"} <= set(
                declared.optional_reads)
    assert {a.path for a in declared.writes} == {"report/index.html", "report/summary.md"}
    # edges: the report counts the images whose Canny mask is empty.
    # index: the samples say which images have an object box.
    assert set(REGISTRY.upstream("report")) == {"index", "evaluate", "edges", "attribute",
                                                "geirhos", "analyze"}


@pytest.mark.slow
def test_a_run_without_the_attribute_stage_says_the_lrp_section_is_absent(tmp_path):
    fake = make_fake_run(tmp_path / "run", attribute=False)
    run_stage("analyze", fake.run, fake.config)
    summary = run_stage("report", fake.run, fake.config)
    html = page_of(fake.run)
    assert "LRP relevance, edges and boxes" in summary["absent"]
    assert "attributions.parquet is missing: the attribute stage has not run" in html
    markdown = fake.run.path("report", "summary.md").read_text(encoding="utf-8")
    assert "attribute stage has not run" in markdown
    assert "| LRP-pos |" in markdown and "not tested" in markdown


def test_an_empty_run_still_gets_a_report(tmp_path):
    run, config = prepare_run(tmp_path / "empty", config=RunConfig())
    summary = run_stage("report", run, config)
    html = page_of(run)
    parse(html)
    assert "hypotheses.parquet is missing: the analyze stage has not run" in html
    assert "predictions.parquet is missing: the evaluate stage has not run" in html
    assert summary["hypotheses"] == 0 and summary["figures"] == 0


def test_a_failed_stage_makes_the_report_refuse(tmp_path):
    fake = make_fake_run(tmp_path / "run", attribute=False)
    Manifest(fake.run.root).set_stage("attribute", status="failed",
                                      error="RuntimeError: out of memory")
    with pytest.raises(StageError, match="report: .*attribute is failed "
                                         r"\(RuntimeError: out of memory\)") as raised:
        run_stage("report", fake.run, fake.config)
    assert raised.value.exit_code != 0
    assert "localglobal attribute --run" in str(raised.value)
    assert not fake.run.path("report", "index.html").exists()
    assert Manifest(fake.run.root).stage("report")["status"] == "failed"


def test_an_out_of_date_stage_makes_the_report_refuse(tmp_path):
    fake = make_fake_run(tmp_path / "run", attribute=False)
    run_stage("analyze", fake.run, fake.config)
    mark_done(fake.run, fake.config, "evaluate")  # evaluate ran again since analyze
    with pytest.raises(StageError, match=r"analyze is out of date \(evaluate ran again"):
        run_stage("report", fake.run, fake.config)
    run_stage("analyze", fake.run, fake.config)
    assert run_stage("report", fake.run, fake.config)["hypotheses"] == 6


def test_an_interrupted_stage_makes_the_report_refuse(tmp_path):
    fake = make_fake_run(tmp_path / "run", attribute=False)
    Manifest(fake.run.root).set_stage("analyze", status="running")
    with pytest.raises(StageError, match="analyze is interrupted"):
        run_stage("report", fake.run, fake.config)
