"""The poller's use case: reconcile every job Graph shows with the jobs table, then store, prune and call back.

One tick makes one Graph list call (plus its pages), a GET only for a tracked job that vanished from the
list (to tell "deleted or expired" from a glitch), and one download per job that finished. A failure on
one job never stops the tick for the others; throttling ends the tick's Graph work until the next tick.

One jobs-table write per job and tick: a job whose content is due after Graph's news is saved once, with
its content (ingest.store_contents); if its content is not stored this tick, `_save_left` saves the news.
Either way the table shows every job Graph listed, as Graph showed it, when the tick ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from snapshot import clients, errors
from snapshot.models import ContentState, JobRecord, JobStatus
from snapshot.settings import get_settings
from snapshot.store import Store
from snapshot.store.tables import ConcurrencyConflict
from snapshot.usecases import ingest, notify, room
from snapshot.usecases.graph_jobs import forget_in_graph, record_from_graph
from snapshot.usecases.tick_report import TickReport

if TYPE_CHECKING:
    from snapshot.graph import GraphJob, UtcmClient

log = logging.getLogger(__name__)


def _changed(record: JobRecord, job: GraphJob) -> bool:
    status = JobStatus.fields_of(job.status)
    return (
        (record.status, record.graph_status) != (status["status"], status["graph_status"])
        or record.completed != job.completed
        or record.resource_location != job.resource_location
        or record.error_details != job.error_details
        or (not record.resources and bool(job.resources))
    )


def _apply(record: JobRecord, job: GraphJob) -> JobRecord:
    status = JobStatus.fields_of(job.status)
    update: dict[str, object] = {
        **status,
        "completed": job.completed,
        "resource_location": job.resource_location,
        "error_details": job.error_details,
        "resources": record.resources or job.resources,
        "tenant_id": record.tenant_id or job.tenant_id,
    }
    if status["status"] == JobStatus.FAILED and record.content_state == ContentState.PENDING:
        update["content_state"] = ContentState.UNAVAILABLE
    return record.model_copy(update=update)


async def _save(store: Store, record: JobRecord, change: JobRecord) -> JobRecord:
    """Guarded update; on a lost race re-read and let the next tick decide (never overwrite blindly)."""
    try:
        return await store.jobs.update(change)
    except ConcurrencyConflict:
        log.info("job %s changed under this tick; left for the next one", record.id)
        return await store.jobs.get(record.id) or record


async def _insert(store: Store, adopted: JobRecord) -> JobRecord:
    try:
        return await store.jobs.insert(adopted)
    except ConcurrencyConflict:  # recorded by a start or another poller meanwhile
        record = await store.jobs.get(adopted.id)
        if record is None:
            raise errors.StorageUnavailable(f"job {adopted.id} vanished from the table") from None
        return record


async def poll() -> TickReport:
    started = time.monotonic()
    report = TickReport()
    client = clients.graph()
    store = clients.store()
    calls_before = client.calls
    try:
        records, unsaved = await _reconcile(client, store, report)
        await ingest.store_contents(client, store, records, report)
        await _save_left(store, records, unsaved, report)
        if get_settings().prune_stored_jobs:
            await _prune_retained(client, store, records, report)
        await notify.deliver_callbacks(store, records, report)
    finally:
        report.graph_calls = client.calls - calls_before
        report.duration_ms = int((time.monotonic() - started) * 1000)
        log.info("poll tick %s", json.dumps(asdict(report)))
    return report


async def _reconcile(
    client: UtcmClient, store: Store, report: TickReport
) -> tuple[list[JobRecord], dict[str, JobRecord]]:
    """Every job's record brought up to Graph's view, and those of them handed on unsaved (by job id)."""
    stored_jobs = asyncio.ensure_future(store.jobs.all())  # read while Graph answers: neither waits for the other
    try:
        graph_jobs = await client.list_jobs()
    except BaseException as exc:
        stored_jobs.cancel()
        await asyncio.gather(stored_jobs, return_exceptions=True)  # its own failure, if any, is read and dropped
        if not isinstance(exc, (errors.GraphThrottled, errors.GraphUnavailable)):
            raise
        report.throttled = True
        log.warning("job list failed, tick ends: %s (retry after %ss)", exc.detail, exc.retry_after)
        return [], {}
    report.seen = len(graph_jobs)
    records = {record.id: record for record in await stored_jobs}
    result: list[JobRecord] = []
    unsaved: dict[str, JobRecord] = {}
    now = datetime.now(UTC)
    for job in graph_jobs:
        record = records.pop(job.id, None)
        try:
            followed = await _follow(store, record, job, report, now)
        except errors.ServiceError as exc:
            report.fail(job.id, exc.detail)
            log.warning("job %s not reconciled: %s", job.id, exc.detail)
            continue
        result.append(followed)
        if _unsaved(record, followed):
            unsaved[job.id] = followed
    for record in records.values():
        if report.throttled:
            break
        try:
            followed = await _vanished(client, store, record, report)
            result.append(followed)
            if _unsaved(record, followed):
                unsaved[record.id] = followed
        except errors.GraphThrottled:
            report.throttled = True
        except errors.ServiceError as exc:
            report.fail(record.id, exc.detail)
            log.warning("job %s not reconciled: %s", record.id, exc.detail)
    return result, unsaved


def _unsaved(before: JobRecord | None, after: JobRecord) -> bool:
    """A changed record that was not written: every write gives the row a new ETag."""
    return after is not before and after.etag == (before.etag if before else None)


async def _save_left(store: Store, records: list[JobRecord], unsaved: dict[str, JobRecord], report: TickReport) -> None:
    """Save the news the content writes were to carry but did not (throttled, or the write failed)."""
    for index, record in enumerate(records):
        if unsaved.get(record.id) is not record:
            continue  # saved by its content write
        try:
            records[index] = await (_insert(store, record) if record.etag is None else _save(store, record, record))
        except errors.ServiceError as exc:
            report.fail(record.id, exc.detail)
            log.warning("job %s not saved: %s", record.id, exc.detail)


async def _follow(
    store: Store, record: JobRecord | None, job: GraphJob, report: TickReport, now: datetime
) -> JobRecord:
    """The job's record brought up to Graph's view, saved unless its content is due (saved with it, below)."""
    if record is None:
        adopted = record_from_graph(job, "adopted")
        report.adopted += 1
        log.info("adopted job %s (%r)", job.id, job.display_name)
        return adopted if ingest.content_due(adopted, now) else await _insert(store, adopted)
    if not _changed(record, job):
        return record
    report.changed += 1
    changed = _apply(record, job)
    return changed if ingest.content_due(changed, now) else await _save(store, record, changed)


async def _vanished(client: UtcmClient, store: Store, record: JobRecord, report: TickReport) -> JobRecord:
    """A tracked job the list did not show: confirm with a GET, then mark it (once)."""
    if record.graph_deleted or record.status == JobStatus.EXPIRED:
        return record
    try:
        job = await client.get_job(record.id)
    except errors.GraphNotFound:
        job = None
    if job is not None:  # listed late: treat as seen
        return await _follow(store, record, job, report, datetime.now(UTC))
    if record.content_state == ContentState.STORED or record.status == JobStatus.FAILED:
        return await _save(store, record, record.model_copy(update={"graph_deleted": True}))
    report.expired += 1
    log.info("job %s is gone from Graph before its content was stored: expired", record.id)
    change = record.model_copy(
        update={"status": JobStatus.EXPIRED, "content_state": ContentState.UNAVAILABLE, "graph_deleted": True}
    )
    return await _save(store, record, change)


async def _prune_retained(client: UtcmClient, store: Store, records: list[JobRecord], report: TickReport) -> None:
    """Graph deletes content after 7 days anyway: free the slots of stored jobs older than that (room.freeable)."""
    for record in room.past_retention(records):
        if report.throttled:
            return
        try:
            await forget_in_graph(store, client, record, "after its 7-day retention")
            report.pruned += 1
        except errors.GraphThrottled:
            report.throttled = True
        except errors.ServiceError as exc:
            report.fail(record.id, exc.detail)
            log.warning("job %s not pruned: %s", record.id, exc.detail)
