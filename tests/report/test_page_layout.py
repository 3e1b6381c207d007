"""The report page in a real browser, at the widths people read it at (1000–1600 pixels).

Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) opens a report and
the page's element boxes are measured: the navigation wraps inside its bar, nothing
widens the page, every table fits or scrolls inside its own box with the verdict in
view, and every figure fits its column at a scale its text survives.

Without Chromium the test is skipped with the reason, except in CI (``$CI`` set),
where ``.ci/run`` installs it and its absence is a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest

from localglobal.run import run_stage
from tests.fake_run import HYPOTHESES, fake_config, make_fake_run

WIDTHS = (1000, 1280, 1600)
BROWSER_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run")
MIN_FIGURE_SCALE = 0.6
"""The smallest share of its own size a figure may be shown at (text of 10 points at
120 dpi stays above 10 pixels)."""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run the browser test (.ci/run installs it)")
    pytest.skip(f"{reason} (Debian: apt-get install -y chromium chromium-driver; "
                "pip install -e '.[test]')")


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        _unavailable("chromium or chromedriver is not installed")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed")
    options = Options()
    options.binary_location = chromium
    for flag in BROWSER_FLAGS:
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    yield session
    session.quit()


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    # Long descriptions, as a real run's are, so that the summary table is put to the test.
    hypotheses = [{**h, "description": h["description"] + " on the images both models "
                   "classify correctly, relative to each image's original"}
                  for h in HYPOTHESES]
    config = fake_config(figure_dpi=120, contact_sheets=2, hypotheses=hypotheses)
    fake = make_fake_run(tmp_path_factory.mktemp("layout") / "run", images=True, config=config)
    run_stage("analyze", fake.run, fake.config)
    run_stage("report", fake.run, fake.config)
    return fake.run.path("report", "index.html").resolve().as_uri()


MEASURE = """
const box = e => { const r = e.getBoundingClientRect();
                   return {left: r.left, right: r.right, top: r.top, width: r.width}; };
const nav = document.querySelector('nav');
const tables = [...document.querySelectorAll('.table-box')].map(b => {
  const t = b.querySelector('table');
  const heads = [...t.querySelectorAll('thead th')];
  const k = heads.findIndex(h => h.textContent.trim().startsWith('verdict'));
  const cells = k < 0 ? [] : [heads[k], ...[...t.querySelectorAll('tbody tr')].map(
      r => r.children[k])];
  return {box: box(b), scrolls: t.scrollWidth > b.clientWidth + 1,
          verdicts: cells.filter(c => c).map(box)};
});
return {
  viewport: window.innerWidth, page: document.documentElement.scrollWidth,
  body: box(document.body), nav: box(nav), nav_scroll: nav.scrollWidth - nav.clientWidth,
  links: [...nav.querySelectorAll('a')].map(box), tables: tables,
  figures: [...document.querySelectorAll('figure')].map(f => {
    const i = f.querySelector('img');
    return {title: i.alt, figure: box(f), img: box(i), natural: i.naturalWidth};
  }),
};
"""


@pytest.fixture(scope="module")
def measured(browser, page):
    sizes = {}
    for width in WIDTHS:
        browser.set_window_size(width, 900)
        browser.get(page)
        sizes[width] = browser.execute_script(MEASURE)
    return sizes


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_makes_the_page_wider_than_the_window(measured, width):
    m = measured[width]
    assert m["page"] <= m["viewport"]


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_the_navigation_wraps_inside_its_bar(measured, width):
    m = measured[width]
    assert m["nav_scroll"] <= 0
    assert all(m["nav"]["left"] <= link["left"] and link["right"] <= m["nav"]["right"]
               for link in m["links"])
    if width == 1000:  # more links than one line holds: they go on the next line
        assert len({round(link["top"]) for link in m["links"]}) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_tables_fit_or_scroll_in_their_box_with_the_verdict_in_view(measured, width):
    m = measured[width]
    with_verdict = [t for t in m["tables"] if t["verdicts"]]
    assert len(with_verdict) >= 2  # the summary and every test's details
    for table in m["tables"]:
        assert table["box"]["right"] <= m["body"]["right"] + 0.5
    for table in with_verdict:
        for cell in table["verdicts"]:
            assert table["box"]["left"] <= cell["left"]
            assert cell["right"] <= table["box"]["right"] + 0.5
    summary = m["tables"][0]
    assert not summary["scrolls"]  # the summary fits whole


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_figures_fit_their_column_at_a_readable_scale(measured, width):
    m = measured[width]
    assert len(m["figures"]) >= 10
    titles = {f["title"] for f in m["figures"]}
    assert any(t.startswith("Probes of") for t in titles)  # the contact sheets too
    for figure in m["figures"]:
        assert figure["img"]["right"] <= figure["figure"]["right"] + 0.5, figure["title"]
        scale = figure["img"]["width"] / figure["natural"]
        assert scale >= MIN_FIGURE_SCALE, (figure["title"], scale)
