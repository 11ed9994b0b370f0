"""The HTML change report of a stored snapshot against another (or `previous`), streamed from the table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from snapshot.diff.merge import diff_events
from snapshot.diff.result import DiffSummary
from snapshot.report.render import ChangeReport, Heading
from snapshot.usecases.compare import compared


@dataclass(frozen=True)
class Report:
    html: str
    against: str  # how `against` names the snapshot compared with (`previous`/`latest` resolved)
    summary: DiffSummary


async def change_report(job_id: str, against: str | None, diff_url: Callable[[str], str]) -> Report:
    """The report from `against` (an id, `previous`, or `<tenant>:<id|latest>`) to `job_id`. `diff_url(against)`
    is the URL of the JSON diff of the same pair, without a key: the report links it when it leaves resources out.
    Across tenants the page lists the normalisation rules and what each replaced."""
    pair = await compared(job_id, against)
    report = ChangeReport()
    old, new = await pair.streams()
    async for event in diff_events(old, new, pair.resource_types):
        report.take(event)
    heading = Heading(pair.new, pair.old, diff_url(pair.against), pair.resource_types, pair.normalisation())
    return Report(report.html(heading), pair.against, report.summary)
