"""The HTML change report of a stored snapshot against another (or `previous`), streamed from the table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from snapshot.diff.merge import diff_events
from snapshot.diff.result import DiffSummary
from snapshot.report.render import ChangeReport, Heading
from snapshot.usecases.reads import compared_pair, stored_resources


@dataclass(frozen=True)
class Report:
    html: str
    against: str  # the id of the snapshot compared with (`previous` resolved)
    summary: DiffSummary


async def change_report(job_id: str, against: str | None, diff_url: Callable[[str], str]) -> Report:
    """The report from `against` (an id or `previous`) to `job_id`. `diff_url(against id)` is the URL of the
    JSON diff of the same pair, without a key: the report links it when it leaves resources out."""
    pair = await compared_pair(job_id, against)
    report = ChangeReport()
    events = diff_events(stored_resources(pair.old.id), stored_resources(pair.new.id), pair.resource_types)
    async for event in events:
        report.take(event)
    page = report.html(Heading(pair.new, pair.old, diff_url(pair.old.id), pair.resource_types))
    return Report(page, pair.old.id, report.summary)
