"""The report as a reader without code meets it, in a real browser: printed on A4 and Letter every table's
columns are on the page, and no two labels of a chart overlap.

These tests drive Debian's ``chromium`` through Playwright's Python package (in the ``page`` extra, which the
README's test command installs). Without either they are skipped with a message saying how to get it; they
never install anything. Screenshots and PDFs go to ``artifacts/report/`` (ignored by git) to be looked at.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import pyarrow as pa
import pytest

from sim.analysis.labels import HEADLINE, label
from sim.analysis.report import write_report
from tests.test_report import comparison_table, meta, runs_table, timelines_table, with_methods

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "report"
MM = 96 / 25.4                                   # CSS px per millimetre
#: Paper width and the report's @page margin, in mm, and the PDF page width in points.
PAPERS = {"A4": (210.0, 595.28), "Letter": (215.9, 612.0)}
PAGE_MARGIN_MM = 12.0

#: Settings as long as the studies' (several keys at once), for the label-collision checks.
LONG = ("recommender.accounts=friends_of_friends, recommender.feed=chronological, safeguards=teen_accounts_2024",
        "recommender.accounts=co_engagement, recommender.feed=chronological, safeguards=teen_accounts_2024")


@pytest.fixture(scope="module")
def browser(playwright_chromium):
    return playwright_chromium


def _renamed(table: pa.Table, names: dict[str, str]) -> pa.Table:
    rows = table.to_pylist()
    for r in rows:
        r["setting"] = names.get(r["setting"], r["setting"])
    return pa.Table.from_pylist(rows, schema=table.schema)


def _zero_costs(table: pa.Table) -> pa.Table:
    """No setting changed ordinary adults' contact: the cost axis of the study without safeguards is all 0."""
    rows = table.to_pylist()
    for r in rows:
        if r["metric"] == "legit_contact_prevented_share":
            r.update(mean=0.0, ci_low=0.0, ci_high=0.0, diff_mean=0.0 if not r["is_baseline"] else math.nan,
                     diff_low=0.0 if not r["is_baseline"] else math.nan,
                     diff_high=0.0 if not r["is_baseline"] else math.nan)
    return pa.Table.from_pylist(rows, schema=table.schema)


@pytest.fixture(scope="module", params=("presets", "long-names"))
def report(request, tmp_path_factory) -> Path:
    """The report of three presets, and of a study whose settings have long names and no cost at all."""
    folder = tmp_path_factory.mktemp(request.param)
    table, timelines, runs = with_methods(comparison_table()), timelines_table(), runs_table()
    info = meta()
    if request.param == "long-names":
        names = {"safeguards=teen_accounts_2024": LONG[0], "safeguards=all_on": LONG[1]}
        table, timelines, runs = _zero_costs(_renamed(table, names)), _renamed(timelines, names), _renamed(runs, names)
    return write_report(folder / "report.html", table, timelines, runs, info)


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


_TABLE_FIT = """() => {
  const out = [];
  for (const table of document.querySelectorAll('table')) {
    const box = table.getBoundingClientRect();
    let clipped = 0;
    for (const cell of table.querySelectorAll('th, td')) {
      if (cell.scrollWidth > cell.clientWidth + 1) clipped += 1;
    }
    const headers = Array.from(table.querySelectorAll('thead th')).map(th => th.innerText.trim());
    out.push({left: box.left, right: box.right, clipped, headers, cls: table.className});
  }
  return {tables: out, scrollWidth: document.documentElement.scrollWidth};
}"""


@pytest.mark.parametrize("paper", sorted(PAPERS))
def test_printed_every_table_column_is_on_the_page(browser, report, paper):
    """Printed on A4 or Letter portrait, every table (the main results first) lies within the printable width,
    no cell's content is cut off, and the PDF's pages are the paper's width."""
    width_mm, width_pt = PAPERS[paper]
    printable = (width_mm - 2 * PAGE_MARGIN_MM) * MM
    page = browser.new_page(viewport={"width": math.floor(printable), "height": 1100})
    try:
        page.goto(report.as_uri())
        page.emulate_media(media="print")
        found = page.evaluate(_TABLE_FIT)
        main = [t for t in found["tables"] if "main" in t["cls"].split()]
        assert len(main) == 3                                   # the headline figures in three groups
        assert [h for t in main for h in t["headers"] if h != "setting"] == [
            label(m) + (" (%)" if m.endswith("_share") else "") for m in HEADLINE]
        for t in found["tables"]:
            assert t["left"] >= 0 and t["right"] <= printable + 0.5, (paper, t)
            assert t["clipped"] == 0, (paper, t)
        assert found["scrollWidth"] <= math.ceil(printable), paper
        pdf = page.pdf(format=paper, path=str(_artifact(f"{report.parent.name}-{paper}.pdf")))
    finally:
        page.close()
    boxes = [tuple(map(float, m.groups())) for m in re.finditer(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)]
    assert boxes, "the PDF has no page"
    assert all(abs(w - width_pt) < 1.0 and h > w for w, h in boxes), (paper, set(boxes))


_LABEL_BOXES = """() => Array.from(document.querySelectorAll('figure svg')).map(svg => {
  const frame = svg.getBoundingClientRect();
  const texts = Array.from(svg.querySelectorAll('text'))
    .filter(t => t.textContent.trim() !== '')
    .map(t => { const b = t.getBoundingClientRect();
                return {text: t.textContent.trim(), left: b.left, right: b.right, top: b.top, bottom: b.bottom}; });
  return {id: svg.id, frame: {left: frame.left, right: frame.right, top: frame.top, bottom: frame.bottom}, texts};
})"""


def _overlap(a: dict, b: dict, tolerance: float = 0.5) -> bool:
    width = min(a["right"], b["right"]) - max(a["left"], b["left"])
    height = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
    return width > tolerance and height > tolerance


@pytest.mark.parametrize("width", (1280, 700))
def test_no_two_chart_labels_overlap(browser, report, width):
    """In every figure, on a wide screen and at the width of a printed page, no two text labels (titles, tick
    labels, axis labels, legend entries) overlap, and each lies inside its figure."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    try:
        page.goto(report.as_uri())
        figures = page.evaluate(_LABEL_BOXES)
        page.screenshot(path=str(_artifact(f"{report.parent.name}-{width}px.png")), full_page=True)
    finally:
        page.close()
    assert len(figures) == 4
    for fig in figures:
        assert len(fig["texts"]) >= 6, fig["id"]
        frame = fig["frame"]
        for t in fig["texts"]:
            assert (t["left"] >= frame["left"] - 1 and t["right"] <= frame["right"] + 1
                    and t["top"] >= frame["top"] - 1 and t["bottom"] <= frame["bottom"] + 1), (fig["id"], t)
        collisions = [(a["text"], b["text"]) for a, b in itertools.combinations(fig["texts"], 2) if _overlap(a, b)]
        assert not collisions, (fig["id"], collisions)


def test_a_cost_no_setting_changed_is_said_not_drawn(browser, report):
    """Where every setting's cost is 0, the cost axis says so instead of a scale of zeros."""
    page = browser.new_page()
    try:
        page.goto(report.as_uri())
        text = page.locator("#cost-benefit svg").text_content() or ""
    finally:
        page.close()
    zero = "(0 for every setting here)" in " ".join(text.split())
    assert zero is (report.parent.name.startswith("long-names"))
