"""Change reports rendered in-process from resource lists (the pure renderer: no services), for the report's
unit and browser tests and the screenshot in docs/."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

from snapshot.content.rowkeys import row_key
from snapshot.diff.merge import diff_events
from snapshot.models import JobRecord
from snapshot.report.render import MAX_REPORT_BYTES, ChangeReport, Heading

CA = "microsoft.entra.conditionalaccesspolicy"
NAMED = "microsoft.entra.namedlocationpolicy"
EXO = "microsoft.exchange.transportrule"
TEAMS = "microsoft.teams.meetingpolicy"
DIFF_URL = "https://func-example.azurewebsites.net/api/snapshots/new-id/diff?against=old-id"

HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "\"quoted\" & 'single' </td></tr></table>",
    "RTL \u202eevil\u202c name",
    "ctrl \x00\x01\x1b[31m\x7f end",
    "line\nbreak\r\u2028sep",
    "é ü 東京 🙂",
    "lone surrogate \ud83d here",
    "<!-- comment --> <style>body{display:none}</style>",
    "x" * 3000,
]


def res(resource_type: str, name: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": resource_type, "displayName": name, "properties": properties}


def in_row_key_order(resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(r: dict[str, Any]) -> bytes:
        return row_key(r["resourceType"], r["displayName"], 0).encode("utf-16-be", "surrogatepass")

    return sorted(resources, key=key)


async def _stream(resources: Iterable[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for resource in resources:
        yield resource


def job(job_id: str, name: str, day: int, tenant: str = "contoso.onmicrosoft.com") -> JobRecord:
    return JobRecord(id=job_id, display_name=name, created=datetime(2026, 11, day, 6, 0, tzinfo=UTC), tenant_id=tenant)


async def render_async(
    old: Iterable[dict[str, Any]],
    new: Iterable[dict[str, Any]],
    max_bytes: int = MAX_REPORT_BYTES,
    heading: Heading | None = None,
) -> str:
    report = ChangeReport(max_bytes)
    async for event in diff_events(_stream(in_row_key_order(old)), _stream(in_row_key_order(new))):
        report.take(event)
    return report.html(
        heading or Heading(job("new-id", "Weekly 20261123", 23), job("old-id", "Weekly 20261116", 16), DIFF_URL)
    )


def render(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]], max_bytes: int = MAX_REPORT_BYTES) -> str:
    return asyncio.run(render_async(old, new, max_bytes))


def hostile_pair(names: list[str] = HOSTILE_NAMES) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Hostile names in every place a name appears: changed, added, removed and not comparable; hostile
    property names and values too."""
    old, new = [], []
    for index, name in enumerate(names):
        value = f"{name} old"
        old.append(res(CA, name, {"State": value, name[:40]: "same", "Odd": "System.Collections.Hashtable"}))
        new.append(res(CA, name, {"State": f"{name} new", name[:40]: "same", "Odd": {"k": index}}))
        old.append(res(EXO, f"removed {name}", {}))
        new.append(res(TEAMS, f"added {name}", {}))
    return old, new


def sample_pair() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A week in a plausible tenant: a policy loosened, a location added, a rule removed, a placeholder."""
    old = [
        res(
            CA,
            "AADConditionalAccessPolicy-Require MFA for admins",
            {
                "State": "enabled",
                "IncludeRoles": ["Global Administrator", "Security Administrator"],
                "ExcludeUsers": [],
                "SessionControls": "System.Collections.Hashtable",
            },
        ),
        res(CA, "AADConditionalAccessPolicy-Block legacy authentication", {"State": "enabled"}),
        res(NAMED, "AADNamedLocationPolicy-Head office", {"IpRanges": ["203.0.113.0/24"], "IsTrusted": True}),
        res(EXO, "EXOTransportRule-External disclaimer", {"Mode": "Enforce", "Priority": 0}),
        res(TEAMS, "TeamsMeetingPolicy-Global", {"AllowCloudRecording": False, "AllowTranscription": False}),
    ]
    new = [
        res(
            CA,
            "AADConditionalAccessPolicy-Require MFA for admins",
            {
                "State": "enabledForReportingButNotEnforced",
                "IncludeRoles": ["Global Administrator"],
                "ExcludeUsers": ["breakglass@contoso.onmicrosoft.com"],
                "SessionControls": {"SignInFrequency": {"Value": 4, "Type": "hours"}},
            },
        ),
        res(CA, "AADConditionalAccessPolicy-Block legacy authentication", {"State": "enabled"}),
        res(
            NAMED,
            "AADNamedLocationPolicy-Head office",
            {"IpRanges": ["203.0.113.0/24", "198.51.100.0/24"], "IsTrusted": True},
        ),
        res(NAMED, "AADNamedLocationPolicy-Branch <Lyon>", {"IpRanges": ["192.0.2.0/24"], "IsTrusted": False}),
        res(TEAMS, "TeamsMeetingPolicy-Global", {"AllowCloudRecording": True, "AllowTranscription": False}),
    ]
    return old, new
