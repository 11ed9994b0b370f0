"""The fleet page (GET /api/fleet/report) in a real browser, as the change report is (test_report_browser.py):

- the DOM Chromium builds has exactly the elements the renderer wrote, whatever the tenants are named: no name
  (or workload, or error text) injected an element, and the names are shown as text;
- the groups come in order (attention, changed, then the quiet ones collapsed into a count), each row's only
  link is its tenant's change report;
- no horizontal overflow at 800 px; a screenshot at 800 px (docs/fleet-sample.png is one, made with
  `python -m tests.browser.test_fleet_browser docs/fleet-sample.png`).
"""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

import pytest

from snapshot.report.markup import ELEMENTS, visible
from tests.browser.test_report_browser import browse, laid_out_at_800_px, screenshot
from tests.support.fleet_sample import BASE, hostile_rows, render, sample_rows
from tests.support.report_html import read
from tests.support.report_sample import HOSTILE_NAMES

pytestmark = pytest.mark.timeout(180)


def page_file(tmp_path: Path, html: str, name: str = "fleet.html") -> Path:
    path = tmp_path / name
    path.write_text(html, encoding="utf-8")
    return path


def test_hostile_tenant_names_inject_no_element(tmp_path: Path) -> None:
    html = render(hostile_rows())
    dom = read(browse(page_file(tmp_path, html), "--dump-dom"))
    written = read(html)
    assert {tag for tag, _ in written.elements} <= ELEMENTS
    assert dom.elements == written.elements
    for name in HOSTILE_NAMES:
        assert visible(name)[:200] in dom.text, name[:40]
    assert not re.search("[\u202a-\u202e\u2066-\u2069\x00-\x08\x7f]", dom.text)
    assert dom.links and all(link.startswith(BASE + "/tenants/") and link.endswith("/report?against=previous")
                             for link in dom.links)  # fmt: skip


def test_the_groups_come_in_order_and_the_quiet_ones_collapse_into_a_count(tmp_path: Path) -> None:
    dom = read(browse(page_file(tmp_path, render(sample_rows())), "--dump-dom"))
    assert dom.headings[0] == "Fleet: 18 tenants"
    assert dom.headings[1].startswith("Deviate from the standard") and dom.headings[1].endswith("(4)")
    assert dom.headings[2] == "Changed since their previous snapshot (1)"
    assert "Quiet: 13 tenants with no change and no deviation" in dom.text
    attention = [row[0] for row in dom.rows[1:5]]
    assert attention[0].startswith("Fabrikam")  # most deviations first
    assert {name.split("7e1a")[0] for name in attention} == {
        "Fabrikam", "Tailspin Toys", "Adatum", "Litware (consent pending)"}  # fmt: skip


@pytest.mark.parametrize("which", ["hostile", "sample"])
def test_no_horizontal_overflow_at_800_px(tmp_path: Path, which: str) -> None:
    html = render(hostile_rows() if which == "hostile" else sample_rows())
    # the quiet list is opened, so its rows are laid out and measured too
    sizes = laid_out_at_800_px(html.replace("<details ", "<details open "), tmp_path)
    assert sizes["inner"] == 800
    assert sizes["scroll"] <= sizes["client"] <= 800, sizes
    assert sizes["widest"] <= sizes["client"], sizes


def test_a_screenshot_at_800_px(tmp_path: Path) -> None:
    target = tmp_path / "fleet.png"
    screenshot(render(sample_rows()), target)
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (800, 2000)


if __name__ == "__main__":
    screenshot(render(sample_rows()), Path(sys.argv[1]).resolve(), height=790)
