"""The report: self-contained HTML that parses, a summary per hypothesis, absent sections named."""

import json
from html.parser import HTMLParser

import pytest

from localglobal.analysis.report import report_stage, summary_table
from localglobal.config import RunConfig
from localglobal.run import StageContext, run_stage
from localglobal.store import RunDir


class Page(HTMLParser):
    """Collects what a self-contained page must be checked for."""

    def __init__(self):
        super().__init__()
        self.images, self.links, self.scripts, self.ids = [], [], 0, set()
        self.summary_cells: list[str] = []
        self._in_summary = False
        self._depth = 0

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


def context(run, config, stage="report") -> StageContext:
    return StageContext(run=run, config=config, stage=stage, params_hash="test")


@pytest.fixture(scope="module")
def reported(tmp_path_factory, make_run):
    fake = make_run(tmp_path_factory.mktemp("report") / "run")
    run_stage("analyze", fake.run, fake.config)
    summary = run_stage("report", fake.run, fake.config)
    return fake, summary


@pytest.mark.slow
def test_the_page_is_self_contained(reported):
    fake, summary = reported
    html = fake.run.path("report", "index.html").read_text(encoding="utf-8")
    page = parse(html)
    assert len(page.images) == summary["figures"] >= 10
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert page.scripts == 0
    assert all(link.startswith("#") for link in page.links)  # nothing outside the page
    assert "http://" not in html and "https://" not in html


def test_every_configured_hypothesis_is_in_the_summary(reported):
    fake, _ = reported
    page = parse(fake.run.path("report", "index.html").read_text(encoding="utf-8"))
    for h in fake.config.analysis.hypotheses:
        assert h.id in page.summary_cells
        assert f"hypothesis-{h.id}" in page.ids
    assert "supported" in page.summary_cells and "not supported" in page.summary_cells
    markdown = fake.run.path("report", "summary.md").read_text(encoding="utf-8")
    for h in fake.config.analysis.hypotheses:
        assert f"| {h.id} |" in markdown


def test_sections_for_every_probe_and_the_provenance(reported):
    fake, summary = reported
    page = parse(fake.run.path("report", "index.html").read_text(encoding="utf-8"))
    assert {"summary", "scramble", "patch", "smooth", "removed_detail", "shape_bias", "lrp",
            "hypotheses", "configuration", "provenance"} <= page.ids
    html = fake.run.path("report", "index.html").read_text(encoding="utf-8")
    manifest = json.loads(fake.run.manifest_path.read_text())
    assert str(manifest["git_commit"] or "unknown") in html
    for stage, record in manifest["stages"].items():
        if stage == "report":
            continue
        assert f"<td>{stage}</td><td>{record['status']}" in html  # time per stage
    assert "[analysis]" in html  # the configuration itself
    assert summary["absent"] == ["The probes on a few images"]  # contact sheets are off


@pytest.mark.slow
def test_a_run_without_the_attribute_stage_says_the_lrp_section_is_absent(tmp_path, make_run):
    fake = make_run(tmp_path / "run", attribute=False)
    run_stage("analyze", fake.run, fake.config)
    summary = report_stage(context(fake.run, fake.config))
    html = fake.run.path("report", "index.html").read_text(encoding="utf-8")
    assert "LRP relevance, edges and boxes" in summary["absent"]
    assert "attributions.parquet is missing: the attribute stage has not run" in html
    markdown = fake.run.path("report", "summary.md").read_text(encoding="utf-8")
    assert "attribute stage has not run" in markdown
    assert "| LRP-pos |" in markdown and "not tested" in markdown


def test_an_empty_run_still_gets_a_report(tmp_path):
    run = RunDir(tmp_path / "empty").ensure()
    summary = report_stage(context(run, RunConfig()))
    html = run.path("report", "index.html").read_text(encoding="utf-8")
    parse(html)
    assert "hypotheses.parquet is missing: the analyze stage has not run" in html
    assert "predictions.parquet is missing: the evaluate stage has not run" in html
    assert "manifest.json is missing" in html
    assert summary["hypotheses"] == 0 and summary["figures"] == 0


def test_a_failed_stage_is_named_with_its_error(tmp_path, make_run):
    fake = make_run(tmp_path / "run", attribute=False)

    manifest = json.loads(fake.run.manifest_path.read_text())
    manifest["stages"]["attribute"] = {"status": "failed", "error": "RuntimeError: out of memory"}
    fake.run.manifest_path.write_text(json.dumps(manifest))
    report_stage(context(fake.run, fake.config))
    html = fake.run.path("report", "index.html").read_text(encoding="utf-8")
    assert "the attribute stage failed: RuntimeError: out of memory" in html


def test_summary_table_is_markdown_with_one_line_per_hypothesis(reported):
    fake, _ = reported
    table = fake.run.read("hypotheses")
    text = summary_table(table)
    lines = text.splitlines()
    assert lines[0].startswith("| hypothesis |") and set(lines[1]) <= {"|", "-"}
    assert len(lines) == 2 + len(table)
    assert all(line.count("|") == lines[0].count("|") for line in lines)
