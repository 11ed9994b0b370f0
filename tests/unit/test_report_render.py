"""snapshot.report: the HTML change report rendered from the merge's events (pure: no services)."""

from __future__ import annotations

import json
import re
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest

from snapshot.diff.merge import diff_events, diff_streams
from snapshot.report.markup import ELEMENTS, MAX_VALUE_CHARS, visible
from snapshot.report.render import MAX_PATHS, ChangeReport, Heading
from tests.support.report_html import read
from tests.support.report_sample import (
    CA,
    DIFF_URL,
    HOSTILE_NAMES,
    hostile_pair,
    in_row_key_order,
    job,
    render,
    res,
    sample_pair,
)
from tests.unit.test_diff_merge import SIZE, Lockstep, generated

pytestmark = pytest.mark.timeout(60)

ALLOWED_ATTRIBUTES = {"style", "lang", "charset", "name", "content", "href"}


def test_tenant_data_is_text_never_markup() -> None:
    old, new = hostile_pair()
    page = read(render(old, new))
    assert {tag for tag, _ in page.elements} <= ELEMENTS
    for tag, attrs in page.elements:
        assert {name for name, _ in attrs} <= ALLOWED_ATTRIBUTES, (tag, attrs)
    assert [href for href in page.links] == []  # nothing left out, so no link
    for name in HOSTILE_NAMES:
        assert visible(name) in page.text, name[:40]
    assert "\u202e" not in page.text and "\x00" not in page.text and "\u2028" not in page.text


def test_the_elements_do_not_depend_on_the_data() -> None:
    """The same diff with plain names gives the same elements, attribute for attribute: no name added any."""
    old, new = hostile_pair()
    hostile = read(render(old, new)).elements
    plain_old, plain_new = hostile_pair([f"plain name {index}" for index in range(len(HOSTILE_NAMES))])
    plain = read(render(plain_old, plain_new)).elements
    assert [tag for tag, _ in hostile] == [tag for tag, _ in plain]
    assert hostile == plain


def test_report_names_the_changed_properties_with_old_and_new_values() -> None:
    old, new = sample_pair()
    html = render(old, new)
    page = read(html)
    change_rows = [r for r in page.rows if len(r) == 3 and r != ["Property", "Old", "New"]]
    assert change_rows == [
        ["ExcludeUsers", "[]", '["breakglass@contoso.onmicrosoft.com"]'],
        ["IncludeRoles", '["Global Administrator", "Security Administrator"]', '["Global Administrator"]'],
        ["State", '"enabled"', '"enabledForReportingButNotEnforced"'],
        ["IpRanges", '["203.0.113.0/24"]', '["203.0.113.0/24", "198.51.100.0/24"]'],
        ["AllowCloudRecording", "false", "true"],
    ]
    assert "Not comparable (Graph gave a placeholder): SessionControls" in page.text
    assert any("AADNamedLocationPolicy-Branch <Lyon>" in item for item in page.items)
    assert any("EXOTransportRule-External disclaimer" in item for item in page.items)
    assert "Weekly 20261116" in page.text and "old-id" in page.text and "2026-11-16 06:00 UTC" in page.text
    assert "Weekly 20261123" in page.text and "new-id" in page.text and "contoso.onmicrosoft.com" in page.text
    summary = {r[1]: r[2:] for r in page.rows if len(r) == 7}
    assert summary[CA] == ["0", "0", "1", "1", "1"]  # added, removed, changed, not comparable, unchanged
    assert summary["microsoft.exchange.transportrule"] == ["0", "1", "0", "0", "0"]
    assert summary[""] == ["1", "1", "3", "1", "1"]  # the "All" row
    assert [r[0] for r in page.rows if len(r) == 7][1:4] == ["entra", "entra", "exchange"]  # by workload


def test_no_style_block_script_or_remote_content() -> None:
    old, new = hostile_pair()
    html = render(old, new, max_bytes=20_000)
    assert re.search(r"<(style|script|img|link|iframe|object)\b", html, re.I) is None
    tags = re.findall(r"<[A-Za-z][^>]*>", html)
    assert not [tag for tag in tags if re.search(r"\s(src|srcset|background|on\w+)=", tag, re.I)]
    assert read(html).links == [DIFF_URL]


def test_long_values_are_shortened_with_their_full_length() -> None:
    long_value = "y" * 5000
    page = read(render([res(CA, "p", {"V": "short"})], [res(CA, "p", {"V": long_value})]))
    (row,) = [r for r in page.rows if r[0] == "V"]
    assert row[2] == json.dumps(long_value)[:MAX_VALUE_CHARS] + "… (5,002 characters in all)"


def test_a_resource_lists_at_most_max_paths_and_says_how_many_more() -> None:
    count = MAX_PATHS + 7
    page = read(render([res(CA, "p", {f"K{i:04d}": 1 for i in range(count)})], [res(CA, "p", {})]))
    assert len([r for r in page.rows if len(r) == 3 and r[0].startswith("K")]) == MAX_PATHS
    assert "… and 7 more changed paths (see the JSON diff)." in page.text


def test_no_changes_gives_a_short_report() -> None:
    old, _ = sample_pair()
    page = read(render(old, old))
    assert page.headings[:2] == ["What changed in tenant contoso.onmicrosoft.com", "No changes"]
    assert "No changes: the 5 resources in both snapshots are the same" in page.text
    assert "Summary" not in page.headings and page.rows == []


def test_size_bound_leaves_resources_out_says_how_many_and_links_the_json_diff() -> None:
    count, limit = 400, 40_000
    old = [res(CA, f"policy {i:04d}", {"State": "enabled", "Note": "n" * 200}) for i in range(count)]
    new = [res(CA, f"policy {i:04d}", {"State": "disabled", "Note": "m" * 200}) for i in range(count)]
    html = render(old, new, max_bytes=limit)
    assert len(html.encode()) <= limit
    page = read(html)
    kept = len([h for h in page.headings if h.startswith(CA)])
    match = re.search(r"it leaves out ([\d,]+) changed resources", page.text)
    assert match is not None and 0 < kept < count
    assert kept + int(match.group(1).replace(",", "")) == count
    assert f"Changed resources ({count})" in page.headings
    assert page.links == [DIFF_URL]
    assert [r[4] for r in page.rows if len(r) == 7][1] == "400"  # the summary stays complete


def test_the_page_fits_even_when_the_heading_needs_the_room() -> None:
    old = [res(CA, f"policy {i:04d}", {"State": "enabled"}) for i in range(50)]
    new = [res(CA, f"policy {i:04d}", {"State": "disabled"}) for i in range(50)]
    for limit in (6_000, 9_000, 15_000):
        assert len(render(old, new, max_bytes=limit).encode()) <= limit


async def test_counts_agree_with_the_json_diff() -> None:
    old, new = (in_row_key_order(side) for side in hostile_pair())

    async def stream(items: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        for item in items:
            yield item

    report = ChangeReport()
    async for event in diff_events(stream(old), stream(new)):
        report.take(event)
    expected = (await diff_streams(stream(old), stream(new))).summary
    assert report.summary == expected
    assert report.has_changes


async def test_twenty_thousand_resources_streamed_in_lockstep() -> None:
    probe = Lockstep()
    report = ChangeReport(max_bytes=100_000)
    async for event in diff_events(probe.stream("old"), probe.stream("new")):
        report.take(event)
    assert report.summary.changed == SIZE // 1000
    assert probe.max_gap <= 2  # one resource per side in flight
    html = report.html(Heading(job("n", "new", 2), job("o", "old", 1), DIFF_URL))
    assert len(html.encode()) <= 100_000


async def test_memory_stays_bounded_when_everything_changed() -> None:
    """Every resource changed: the report keeps its budget's worth of markup, not the two snapshots."""
    count = 5_000
    one_snapshot = len(json.dumps([generated("old", i) for i in range(count)]).encode())

    async def side(name: str) -> AsyncIterator[dict[str, Any]]:
        for index in range(count):
            resource = generated("old", index)
            if name == "new":
                resource["properties"]["Description"] = "z" * 800
            yield resource

    tracemalloc.start()
    try:
        report = ChangeReport(max_bytes=100_000)
        async for event in diff_events(side("old"), side("new")):
            report.take(event)
        html = report.html(Heading(job("n", "new", 2), job("o", "old", 1), DIFF_URL))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.summary.changed == count
    assert len(html.encode()) <= 100_000
    assert one_snapshot > 4_000_000
    assert peak < one_snapshot // 10
