"""The change report, built from the merge's events as they come: complete counts, bounded detail, one page.

`ChangeReport.take(event)` counts every resource (with the JSON diff's own `ResultBuilder`, so both agree)
and keeps the markup of a changed, added, removed or not-comparable resource while the detail budget
lasts; past it, it only counts what it leaves out. `html(heading)` writes the page: never more than
`max_bytes` bytes (UTF-8), dropping kept resources from the end if the heading and summary need the room.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Final

from snapshot import catalogue
from snapshot.diff.merge import DiffEvent
from snapshot.diff.result import DiffSummary, ResultBuilder, TypeCounts
from snapshot.diff.values import PropertyChange
from snapshot.models import JobRecord
from snapshot.report import markup
from snapshot.report.markup import element, row, table, text, when

MAX_REPORT_BYTES: Final = 1_048_576  # 1 MiB; see the package docstring
PLACEHOLDER_NOTE: Final = (
    "Graph gave a placeholder (System.Collections.Hashtable) for these values, so they cannot be compared."
)
MAX_PATHS: Final = 200  # property paths listed per resource
NOTES_RESERVE: Final = 600  # bytes kept for the "left out" note (plus its link) and the closing tags


@dataclass(frozen=True)
class Heading:
    """What the page says about the two snapshots, and where the whole JSON diff is (a URL without a key)."""

    new: JobRecord
    old: JobRecord
    diff_url: str
    resource_types: list[str] | None = None
    normalisation: list[dict[str, Any]] | None = None  # across tenants: the rules applied (diff/tenant_values.py)


@dataclass
class _Section:
    title: str
    listed: bool  # blocks are <li> items (else headed blocks)
    intro: str = ""
    blocks: list[str] = field(default_factory=list)
    size: int = 0
    left_out: int = 0


class ChangeReport:
    def __init__(self, max_bytes: int = MAX_REPORT_BYTES) -> None:
        self.max_bytes = max_bytes
        self._counts = ResultBuilder(0, 0)
        self.changed = _Section("Changed resources", listed=False)
        self.added = _Section("Added resources", listed=True)
        self.removed = _Section("Removed resources", listed=True)
        self.not_comparable = _Section("Not comparable", listed=True, intro=PLACEHOLDER_NOTE)
        self._kept = 0

    @property
    def summary(self) -> DiffSummary:
        return self._counts.result.summary

    @property
    def sections(self) -> tuple[_Section, ...]:
        return (self.changed, self.added, self.removed, self.not_comparable)

    @property
    def has_changes(self) -> bool:
        return self.summary.added + self.summary.removed + self.summary.changed > 0

    def take(self, event: DiffEvent) -> None:
        self._counts.take(event.kind, event.ref, event.changes)
        name = markup.resource_name(event.ref.resource_type, event.ref.display_name)
        if event.kind == "added":
            self._keep(self.added, element("li", name))
        elif event.kind == "removed":
            self._keep(self.removed, element("li", name))
        else:
            real = [change for change in event.changes if change.kind != "notComparable"]
            vague = [change for change in event.changes if change.kind == "notComparable"]
            if real:
                self._keep(self.changed, _changed_block(name, real, vague))
            elif vague:
                self._keep(self.not_comparable, element("li", f"{name}: {_paths(vague)}"))

    def _keep(self, section: _Section, block: str) -> None:
        size = len(block.encode())
        if self._kept + size > self.max_bytes:
            section.left_out += 1
            return
        section.blocks.append(block)
        section.size += size
        self._kept += size

    def html(self, heading: Heading) -> str:
        head = _head(heading)
        body = _summary(self.summary, heading) if self.has_changes else _no_changes(self.summary)
        link = len(html.escape(heading.diff_url, quote=True).encode())
        self._fit(len(head.encode()) + len(body.encode()) + NOTES_RESERVE + link)
        pieces = [head, body]
        for section in self.sections:
            if section.blocks or section.left_out:
                pieces += _section(section)
        pieces += [_left_out_note(self.sections, heading.diff_url), "</div></body></html>"]
        return "".join(pieces)  # one join: the kept markup is copied once

    def _fit(self, fixed: int) -> None:
        """Drop kept blocks from the last section backwards until the page fits `max_bytes`."""
        for section in reversed(self.sections):
            while section.blocks and fixed + self._kept > self.max_bytes:
                size = len(section.blocks.pop().encode())
                section.size -= size
                self._kept -= size
                section.left_out += 1


def _paths(changes: list[PropertyChange]) -> str:
    return ", ".join(f'<span style="{markup.MONO}">{text(c.path) or "(the properties)"}</span>' for c in changes)


def _changed_block(name: str, real: list[PropertyChange], vague: list[PropertyChange]) -> str:
    rows = [markup.change_row(change) for change in real[:MAX_PATHS]]
    block = element("h3", name, markup.H3) + table(("Property", "Old", "New"), rows, ("34%", "33%", "33%"))
    if len(real) > MAX_PATHS:
        block += element("p", f"… and {len(real) - MAX_PATHS:,} more changed paths (see the JSON diff).", markup.NOTE)
    if vague:
        block += element("p", f"Not comparable (Graph gave a placeholder): {_paths(vague[:MAX_PATHS])}", markup.NOTE)
    return block


def _head(heading: Heading) -> str:
    new, old = heading.new, heading.old
    title = f"Tenant changes: {text(old.display_name)} → {text(new.display_name)}"
    tenant = text(new.tenant_id or old.tenant_id or "unknown tenant")
    scope = "all resource types"
    if heading.resource_types is not None:
        scope = "resource types " + ", ".join(text(name) for name in heading.resource_types)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title}</title></head><body style="margin:0;padding:0;background:#f6f8fa">'
        f'<div style="{markup.PAGE}">'
        + element("h1", f"What changed in tenant {tenant}", markup.H1)
        + element("p", f"From <b>{text(old.display_name)}</b> ({text(old.id)}, taken {when(old.created)})", markup.NOTE)
        + element("p", f"to <b>{text(new.display_name)}</b> ({text(new.id)}, taken {when(new.created)})", markup.NOTE)
        + element("p", f"Compared: {scope}.", markup.NOTE)
        + _normalisation(heading.normalisation, old, new)
    )


def _normalisation(rules: list[dict[str, Any]] | None, old: JobRecord, new: JobRecord) -> str:
    """Across tenants: which of each side's own values were replaced by the same placeholder before comparing."""
    if rules is None:
        return ""
    rows = []
    for rule in rules:
        cells = [f'<span style="{markup.MONO}">{text(rule["rule"])}</span>']
        for side in (rule["against"], rule["snapshot"]):
            knows = ", ".join(text(str(value)) for value in side["knows"]) or "none known"
            cells.append(f"{knows}: {side['replaced']:,} replaced")
        rows.append(row(cells))
    # table() escapes its header; markup.visible first, so a name's control and bidi characters show as \uXXXX
    header = ("Rule", f"{markup.visible(old.display_name)} (the other tenant's)", markup.visible(new.display_name))
    return (
        element("h2", "Normalised before comparing", markup.H2)
        + element("p", "Values that only name their tenant were replaced on both sides by the same placeholder "
                  "(docs/fleet.md in the project lists the rules).", markup.NOTE)
        + table(header, rows, ("22%", "39%", "39%"))
    )  # fmt: skip


def _count_cells(counts: TypeCounts) -> list[str]:
    return [f"{n:,}" for n in (counts.added, counts.removed, counts.changed, counts.not_comparable, counts.unchanged)]


def _summary(summary: DiffSummary, heading: Heading) -> str:
    rows = []
    for resource_type in sorted(summary.by_resource_type, key=lambda t: (catalogue.workload(t), t)):
        counts = summary.by_resource_type[resource_type]
        names = [text(catalogue.workload(resource_type)), f'<span style="{markup.MONO}">{text(resource_type)}</span>']
        rows.append(row(names + _count_cells(counts)))
    rows.append(row(["<b>All</b>", "", *(f"<b>{cell}</b>" for cell in _count_cells(summary))]))
    header = ("Workload", "Resource type", "Added", "Removed", "Changed", "Not comparable", "Unchanged")
    widths = ("12%", "28%", "12%", "12%", "12%", "12%", "12%")
    return element("h2", "Summary", markup.H2) + table(header, rows, widths)


def _no_changes(summary: DiffSummary) -> str:
    compared = summary.unchanged + summary.changed
    line = f"No changes: the {compared:,} resources in both snapshots are the same; none was added or removed."
    return element("h2", "No changes", markup.H2) + element("p", line)


def _section(section: _Section) -> list[str]:
    count = len(section.blocks) + section.left_out
    pieces = [element("h2", f"{html.escape(section.title)} ({count:,})", markup.H2)]
    if section.intro:
        pieces.append(element("p", section.intro, markup.NOTE))
    if not section.listed:
        return pieces + section.blocks
    if not section.blocks:
        return pieces
    return [*pieces, f'<ul style="margin:4px 0;padding-left:20px;{markup.WRAP}">', *section.blocks, "</ul>"]


def _left_out_note(sections: tuple[_Section, ...], diff_url: str) -> str:
    left = [f"{s.left_out:,} {s.title.lower()}" for s in sections if s.left_out]
    if not left:
        return ""
    link = f'<a href="{html.escape(diff_url, quote=True)}">the JSON diff</a>'
    line = f"This report stops at its size limit: it leaves out {', '.join(left)}. Every change is in {link}"
    return element("p", line + " (add your function key to the link).", markup.NOTE)
