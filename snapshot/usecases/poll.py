"""The poller's use case: reconcile every job Graph shows with the jobs table, then store, prune and call back.

One tick makes one Graph list call (plus its pages), a GET only for a tracked job that vanished from the
list (to tell "deleted or expired" from a glitch), and one download per job that finished. A failure on
one job never stops the tick for the others; throttling ends the tick's Graph work until the next tick.

Graph's news about a job whose content it makes due (finished, or a job new to the table) is not written on
its own: the content's write carries it (ingest.store_contents), and if the content is not stored in that
tick, `_write_news` writes it before the tick goes on. So a finished job costs one jobs-table write, not two.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
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


HandOff = Callable[[Store, list[JobRecord], TickReport], Awaitable[None]]


async def poll(hand_off: HandOff | None = None) -> TickReport:
    """One tick for the current tenant. The contents due are downloaded here, or, with `hand_off` (the
    fan-out's downloads.hand_off), each sent to be downloaded by its own queue message."""
    started = time.monotonic()
    report = TickReport()
    client = clients.graph()
    store = clients.store()
    calls_before = client.calls
    try:
        records, news = await _reconcile(client, store, report)
        try:
            if hand_off is None:
                await ingest.store_contents(client, store, records, report)
            else:
                await hand_off(store, records, report)
        finally:  # whatever stopped the downloads, Graph's news is written
            await _write_news(store, records, news, report)
        if get_settings().prune_stored_jobs:
            await _prune_retained(client, store, records, report)
        await notify.deliver_callbacks(store, records, report)
    finally:
        report.graph_calls = client.calls - calls_before
        report.duration_ms = int((time.monotonic() - started) * 1000)
        log.info("poll tick %s", json.dumps(asdict(report)))
    return report


Followed = tuple[JobRecord, bool]  # the record brought up to Graph's view; True: that view is not written yet


async def _reconcile(
    client: UtcmClient, store: Store, report: TickReport
) -> tuple[list[JobRecord], dict[str, JobRecord]]:
    """Every job's record brought up to Graph's view, and (by job id) those whose new view is not written yet:
    their content is due, and its write will carry it (ingest.store_contents)."""
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
    news: dict[str, JobRecord] = {}

    def keep(followed: Followed) -> None:
        record, unwritten = followed
        result.append(record)
        if unwritten:
            news[record.id] = record

    now = datetime.now(UTC)
    for job in graph_jobs:
        try:
            keep(await _follow(store, records.pop(job.id, None), job, report, now))
        except errors.ServiceError as exc:
            report.fail(job.id, exc.detail)
            log.warning("job %s not reconciled: %s", job.id, exc.detail)
    for record in records.values():
        if report.throttled:
            break
        try:
            keep(await _vanished(client, store, record, report))
        except errors.GraphThrottled:
            report.throttled = True
        except errors.ServiceError as exc:
            report.fail(record.id, exc.detail)
            log.warning("job %s not reconciled: %s", record.id, exc.detail)
    return result, news


async def _write_news(store: Store, records: list[JobRecord], news: dict[str, JobRecord], report: TickReport) -> None:
    """Write the news of the jobs whose content was not stored (throttled, or its write failed): a record
    ingest saved is no longer the one handed to it."""
    for index, record in enumerate(records):
        if news.get(record.id) is not record:
            continue
        try:
            records[index] = await store.jobs.save(record)
        except ConcurrencyConflict:  # written meanwhile (e.g. a progress marker with this news): left as it is
            records[index] = await store.jobs.get(record.id) or record
        except errors.ServiceError as exc:
            report.fail(record.id, exc.detail)
            log.warning("job %s not saved: %s", record.id, exc.detail)


async def _follow(store: Store, record: JobRecord | None, job: GraphJob, report: TickReport, now: datetime) -> Followed:
    """The record brought up to Graph's view, written now unless its content is due (written with it)."""
    if record is None:
        adopted = record_from_graph(job, "adopted")
        report.adopted += 1
        log.info("adopted job %s (%r)", job.id, job.display_name)
        if adopted.download_due(now):
            return adopted, True
        return await _insert(store, adopted), False
    if not _changed(record, job):
        return record, False
    report.changed += 1
    changed = _apply(record, job)
    if changed.download_due(now):
        return changed, True
    return await _save(store, record, changed), False


async def _vanished(client: UtcmClient, store: Store, record: JobRecord, report: TickReport) -> Followed:
    """A tracked job the list did not show: confirm with a GET, then mark it (once)."""
    if record.graph_deleted or record.status == JobStatus.EXPIRED:
        return record, False
    try:
        job = await client.get_job(record.id)
    except errors.GraphNotFound:
        job = None
    if job is not None:  # listed late: treat as seen
        return await _follow(store, record, job, report, datetime.now(UTC))
    if record.content_state == ContentState.STORED or record.status == JobStatus.FAILED:
        return await _save(store, record, record.model_copy(update={"graph_deleted": True})), False
    report.expired += 1
    log.info("job %s is gone from Graph before its content was stored: expired", record.id)
    change = record.model_copy(
        update={"status": JobStatus.EXPIRED, "content_state": ContentState.UNAVAILABLE, "graph_deleted": True}
    )
    return await _save(store, record, change), False


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
