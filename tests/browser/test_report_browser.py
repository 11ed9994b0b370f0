"""The change report in a real browser: Debian's headless Chromium loads a report of hostile tenant data.

- the DOM Chromium builds (`--dump-dom`) has exactly the elements the renderer wrote (compared tag by tag and
  attribute by attribute, both read with html.parser): no name, type, path or value injected one, and the
  data's text is there (control and bidi characters shown as `\\uXXXX`);
- no horizontal overflow at 800 px. Method: a test-only copy of the report gets a script (the report itself
  has none) that measures, once laid out in an 800 px window, the document's scrollWidth against its
  clientWidth and the right edge of every element; the numbers come back in the dumped DOM;
- a screenshot at 800 px width is a PNG 800 px wide (docs/report-sample.png is one, made with
  `python -m tests.browser.test_report_browser docs/report-sample.png`).

Chromium: `chromium-headless-shell` or `chromium` on PATH; `make browser` (part of `make test`) installs it
with apt-get when missing. Without one the test fails saying so, or skips when this machine has no apt-get.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from snapshot.report.markup import ELEMENTS, visible
from tests.support.report_html import read
from tests.support.report_sample import HOSTILE_NAMES, hostile_pair, render, sample_pair

pytestmark = pytest.mark.timeout(180)

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser")
# The network is closed here, and a test browser must not call home anyway.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
MEASURE = """<script>
const root = document.documentElement;
const widest = Math.max(...Array.from(document.querySelectorAll('body *'), e => e.getBoundingClientRect().right));
const out = document.createElement('pre');
out.id = 'measure';
out.textContent = JSON.stringify({scroll: root.scrollWidth, client: root.clientWidth, inner: innerWidth, widest});
document.body.appendChild(out);
</script>"""


def chromium() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if shutil.which("apt-get"):
        pytest.fail("no Chromium on PATH: run `make browser` (apt-get install chromium-headless-shell, as root)")
    pytest.skip("no Chromium on PATH and no apt-get on this machine to install one; the browser test cannot run")


def browse(page: Path, *args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def hostile_report(tmp_path: Path, max_bytes: int = 1_000_000) -> tuple[str, Path]:
    html = render(*hostile_pair(), max_bytes=max_bytes)
    path = tmp_path / f"report-{max_bytes}.html"
    path.write_text(html, encoding="utf-8")
    return html, path


def test_the_dom_has_only_the_elements_the_renderer_wrote(tmp_path: Path) -> None:
    html, path = hostile_report(tmp_path)
    dom = read(browse(path, "--dump-dom"))
    written = read(html)
    assert {tag for tag, _ in written.elements} <= ELEMENTS
    assert dom.elements == written.elements
    assert dom.links == [] and "leaves out" not in dom.text
    for name in HOSTILE_NAMES:
        assert visible(name)[:200] in dom.text, name[:40]
    assert not re.search("[\u202a-\u202e\u2066-\u2069\x00-\x08\x7f]", dom.text)


def test_a_cut_report_links_the_json_diff_and_adds_no_element(tmp_path: Path) -> None:
    html, path = hostile_report(tmp_path, max_bytes=30_000)  # small enough to leave resources out
    dom = read(browse(path, "--dump-dom"))
    assert dom.elements == read(html).elements
    assert len(dom.links) == 1 and "leaves out" in dom.text


@pytest.mark.parametrize("which", ["hostile", "sample"])
def test_no_horizontal_overflow_at_800_px(tmp_path: Path, which: str) -> None:
    html = hostile_report(tmp_path)[0] if which == "hostile" else render(*sample_pair())
    sizes = laid_out_at_800_px(html, tmp_path)
    assert sizes["inner"] == 800
    assert sizes["scroll"] <= sizes["client"] <= 800, sizes
    assert sizes["widest"] <= sizes["client"], sizes


def laid_out_at_800_px(html: str, tmp_path: Path) -> dict[str, float]:
    """A test-only copy of the page with MEASURE added, laid out in an 800 px window: its measured sizes."""
    measured = tmp_path / "measured.html"
    measured.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = browse(measured, "--window-size=800,2000", "--dump-dom")
    match = re.search(r'<pre id="measure">([^<]*)</pre>', dom)
    assert match is not None, dom[-2000:]
    sizes: dict[str, float] = json.loads(match.group(1))
    return sizes


def screenshot(html: str, target: Path, height: int = 2000) -> None:
    page = target.with_suffix(".html")
    page.write_text(html, encoding="utf-8")
    try:
        browse(page, f"--window-size=800,{height}", f"--screenshot={target}", "--hide-scrollbars")
    finally:
        page.unlink()


def test_a_screenshot_at_800_px(tmp_path: Path) -> None:
    target = tmp_path / "report.png"
    screenshot(render(*sample_pair()), target)
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (800, 2000)


if __name__ == "__main__":
    screenshot(render(*sample_pair()), Path(sys.argv[1]).resolve(), height=1000)
