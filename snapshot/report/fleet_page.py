"""The fleet page: every tenant on one self-contained HTML page (inline styles, no script, no remote URL), the
tenants that deviate or failed first, then those that changed, then the quiet ones collapsed into a count.

It renders the rows of GET /api/fleet (fleet.row_view); every value from a tenant goes through markup.text,
and the only links are the change-report URLs the rows carry.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from snapshot.fleet import Group
from snapshot.report.markup import H1, H2, MONO, NOTE, PAGE, WRAP, element, row, table, text, when

HEADER = ("Tenant", "Status", "Deviations", "Changes", "Last snapshot", "Drifts", "Last error")
WIDTHS = ("21%", "13%", "17%", "11%", "13%", "7%", "18%")
BAD = "color:#cf222e;font-weight:600"
TITLES = {
    Group.ATTENTION: "Deviate from the standard, or could not be worked on",
    Group.CHANGED: "Changed since their previous snapshot",
}


def page(views: list[dict[str, Any]], standard: dict[str, Any] | None, now: datetime) -> str:
    groups: dict[str, list[dict[str, Any]]] = {group.value: [] for group in Group}
    for view in views:
        groups[view["group"]].append(view)
    body = [element("h1", f"Fleet: {len(views)} tenant{'s' if len(views) != 1 else ''}", H1)]
    body.append(element("p", _standard_line(standard) + f" Made {when(now)}.", NOTE))
    counts = ", ".join(f"{len(groups[g.value])} {g.value}" for g in Group)
    body.append(element("p", html.escape(counts), NOTE))
    for group in (Group.ATTENTION, Group.CHANGED):
        body.append(element("h2", f"{html.escape(TITLES[group])} ({len(groups[group.value])})", H2))
        rows = [_row(view) for view in groups[group.value]]
        body.append(table(HEADER, rows, WIDTHS) if rows else element("p", "None.", NOTE))
    body.append(_quiet(groups[Group.QUIET.value]))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>Fleet: {len(views)} tenants</title></head><body style="margin:0;padding:0;background:#f6f8fa">'
        f'<div style="{PAGE}">{"".join(body)}</div></body></html>'
    )


def _standard_line(standard: dict[str, Any] | None) -> str:
    if standard is None:
        return "No standard is set, so no deviations are counted."
    follows = " (its latest)" if standard["followsLatest"] else ""
    return (
        f'Standard: snapshot <span style="{MONO}">{text(standard["snapshotId"])}</span>{follows} of tenant '
        f'<span style="{MONO}">{text(standard["tenantId"])}</span>, {len(standard["resourceTypes"])} resource types.'
    )


def _row(view: dict[str, Any]) -> str:
    return row([_tenant(view), _status(view), _deviations(view), _changes(view), _snapshot(view),
                str(view["activeDrifts"]), text(view["lastError"] or "")])  # fmt: skip


def _tenant(view: dict[str, Any]) -> str:
    name = f"<b>{text(view['displayName'])}</b>"
    snapshot = view["lastSnapshot"]
    url = snapshot and snapshot["reportUrl"]
    linked = f'<a href="{text(url)}" style="color:#0969da">{name}</a>' if url else name
    return f'{linked}<br><span style="{MONO};{WRAP}">{text(view["tenantId"])}</span>'


def _status(view: dict[str, Any]) -> str:
    status = text(view["status"])
    return status if view["status"] == "ready" else f'<span style="{BAD}">{status}</span>'


def _deviations(view: dict[str, Any]) -> str:
    deviations = view["deviations"]
    if deviations is None:
        return "not compared"
    parts = []
    if deviations["total"] is not None:
        by = ", ".join(f"{text(w)} {n}" for w, n in (deviations["byWorkload"] or {}).items() if n)
        total = deviations["total"]
        parts.append((f'<span style="{BAD}">{total}</span>' if total else "0") + (f" ({by})" if by else ""))
    elif not deviations["current"]:
        parts.append("being compared with the new standard")
    if deviations["error"]:
        parts.append(text(deviations["error"]))
    return "<br>".join(parts)


def _changes(view: dict[str, Any]) -> str:
    changes = view["changes"]
    if changes is None:
        return "no earlier snapshot"
    return f"{changes['total']} (+{changes['added']} -{changes['removed']} ~{changes['changed']})"


def _snapshot(view: dict[str, Any]) -> str:
    snapshot = view["lastSnapshot"]
    if snapshot is None:
        return "none stored"
    age = snapshot["ageHours"]
    return f"{when(snapshot['storedAt'])}" + (f"<br>{age:g} h ago" if age is not None else "")


def _quiet(views: list[dict[str, Any]]) -> str:
    title = f"Quiet: {len(views)} tenant{'s' if len(views) != 1 else ''} with no change and no deviation"
    if not views:
        return element("h2", html.escape(title), H2)
    names = "".join(f'<li style="{WRAP}">{_tenant(view)}</li>' for view in views)
    return (
        f'<details style="margin:20px 0 0 0"><summary style="{H2};cursor:pointer">{html.escape(title)}</summary>'
        f'<ul style="margin:6px 0;padding-left:20px">{names}</ul></details>'
    )
