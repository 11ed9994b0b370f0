"""The poller's use case: reconcile every job Graph shows with the jobs table, then store finished content.

One tick makes one Graph list call (plus its pages), a GET only for a tracked job that vanished from the
list (to tell "deleted or expired" from a glitch), and one download per job that finished. A failure on
one job never stops the tick for the others; throttling ends the tick's Graph work until the next tick.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from snapshot import callbacks, errors, quota
from snapshot.content.entities import resource_entities
from snapshot.content.stream import iter_resources, read_metadata
from snapshot.models import ContentState, JobRecord, JobStatus, job_view
from snapshot.service import forget_in_graph, graph_client, record_from_graph, table_store
from snapshot.settings import get_settings
from snapshot.store import ConcurrencyConflict, TableStore

if TYPE_CHECKING:
    from snapshot.graph import GraphJob, UtcmClient

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    seen: int = 0  # jobs Graph listed
    changed: int = 0  # tracked jobs whose status or details changed
    adopted: int = 0  # jobs Graph showed that the table did not know
    expired: int = 0  # tracked jobs Graph no longer has, content never stored
    downloaded: int = 0  # contents downloaded and stored
    resources_stored: int = 0
    failures: int = 0  # jobs whose reconcile or ingestion failed this tick (retried next tick)
    graph_calls: int = 0
    callbacks: int = 0  # completion callbacks attempted
    pruned: int = 0  # stored jobs deleted from Graph after its 7-day retention
    throttled: bool = False
    duration_ms: int = 0


def _changed(record: JobRecord, job: GraphJob) -> bool:
    return (
        record.status != JobStatus.parse(job.status)
        or record.completed != job.completed
        or record.resource_location != job.resource_location
        or record.error_details != job.error_details
        or (not record.resources and bool(job.resources))
    )


def _apply(record: JobRecord, job: GraphJob) -> JobRecord:
    status = JobStatus.parse(job.status)
    update: dict[str, object] = {
        "status": status,
        "completed": job.completed,
        "resource_location": job.resource_location,
        "error_details": job.error_details,
        "resources": record.resources or job.resources,
        "tenant_id": record.tenant_id or job.tenant_id,
    }
    if status == JobStatus.FAILED and record.content_state == ContentState.PENDING:
        update["content_state"] = ContentState.UNAVAILABLE
    return record.model_copy(update=update)


async def _save(store: TableStore, record: JobRecord, change: JobRecord) -> JobRecord:
    """Guarded update; on a lost race re-read and let the next tick decide (never overwrite blindly)."""
    try:
        return await store.update_job(change)
    except ConcurrencyConflict:
        log.info("job %s changed under this tick; left for the next one", record.id)
        return await store.get_job(record.id) or record


async def poll() -> TickReport:
    started = time.monotonic()
    report = TickReport()
    client = graph_client()
    store = table_store()
    calls_before = client.calls
    try:
        records = await _reconcile(client, store, report)
        await _store_contents(client, store, records, report)
        if get_settings().prune_stored_jobs:
            await _prune_retained(client, store, records, report)
        await _deliver_callbacks(store, records, report)
    finally:
        report.graph_calls = client.calls - calls_before
        report.duration_ms = int((time.monotonic() - started) * 1000)
        log.info("poll tick %s", json.dumps(asdict(report)))
    return report


async def _reconcile(client: UtcmClient, store: TableStore, report: TickReport) -> list[JobRecord]:
    try:
        graph_jobs = await client.list_jobs()
    except (errors.GraphThrottled, errors.GraphUnavailable) as exc:
        report.throttled = True
        log.warning("job list failed, tick ends: %s (retry after %ss)", exc.detail, getattr(exc, "retry_after", "?"))
        return []
    report.seen = len(graph_jobs)
    records = {record.id: record for record in await store.all_jobs()}
    result: list[JobRecord] = []
    for job in graph_jobs:
        record = records.pop(job.id, None)
        try:
            result.append(await _follow(store, record, job, report))
        except errors.ServiceError as exc:
            report.failures += 1
            log.warning("job %s not reconciled: %s", job.id, exc.detail)
    for record in records.values():
        if report.throttled:
            break
        try:
            result.append(await _vanished(client, store, record, report))
        except errors.GraphThrottled:
            report.throttled = True
        except errors.ServiceError as exc:
            report.failures += 1
            log.warning("job %s not reconciled: %s", record.id, exc.detail)
    return result


async def _follow(store: TableStore, record: JobRecord | None, job: GraphJob, report: TickReport) -> JobRecord:
    if record is None:
        try:
            record = await store.insert_job(record_from_graph(job, "adopted"))
            report.adopted += 1
            log.info("adopted job %s (%r)", job.id, job.display_name)
        except ConcurrencyConflict:  # recorded by a start or another poller meanwhile
            record = await store.get_job(job.id)
            if record is None:
                raise errors.StorageUnavailable(f"job {job.id} vanished from the table") from None
        return record
    if not _changed(record, job):
        return record
    report.changed += 1
    return await _save(store, record, _apply(record, job))


async def _vanished(client: UtcmClient, store: TableStore, record: JobRecord, report: TickReport) -> JobRecord:
    """A tracked job the list did not show: confirm with a GET, then mark it (once)."""
    if record.graph_deleted or record.status == JobStatus.EXPIRED:
        return record
    try:
        job = await client.get_job(record.id)
    except errors.GraphNotFound:
        job = None
    if job is not None:  # listed late: treat as seen
        return await _follow(store, record, job, report)
    if record.content_state == ContentState.STORED or record.status == JobStatus.FAILED:
        return await _save(store, record, record.model_copy(update={"graph_deleted": True}))
    report.expired += 1
    log.info("job %s is gone from Graph before its content was stored: expired", record.id)
    change = record.model_copy(
        update={"status": JobStatus.EXPIRED, "content_state": ContentState.UNAVAILABLE, "graph_deleted": True}
    )
    return await _save(store, record, change)


async def _store_contents(client: UtcmClient, store: TableStore, records: list[JobRecord], report: TickReport) -> None:
    """Download and store each finished job's content; `records` is updated in place."""
    for index, record in enumerate(records):
        if report.throttled:
            return
        if not record.awaiting_content or not record.resource_location:
            continue
        try:
            stored = await ingest(client, store, record)
        except errors.GraphThrottled as exc:
            report.throttled = True
            log.warning("downloads paused until the next tick: %s", exc.detail)
            return
        except errors.ContentRefused as exc:
            await _save(
                store,
                record,
                record.model_copy(update={"content_state": ContentState.ERROR, "content_error": exc.detail}),
            )
            report.failures += 1
            continue
        except errors.ServiceError as exc:
            report.failures += 1
            log.warning("content of job %s not stored this tick: %s", record.id, exc.detail)
            continue
        records[index] = stored
        report.downloaded += 1
        report.resources_stored += stored.resource_count or 0


async def ingest(client: UtcmClient, store: TableStore, record: JobRecord) -> JobRecord:
    """Download the job's content and store every resource; rerunning it writes exactly the same rows."""
    assert record.resource_location is not None
    async with client.download(record.resource_location) as stream:
        metadata = read_metadata(stream)
        stream.seek(0)
        entities = resource_entities(record.id, iter_resources(stream))
        await store.write_resources(entities)
    # The ledger row comes first: a crash before the job is marked stored leaves a row the rerun rewrites.
    await store.record_usage(
        quota.month_of(record.completed or record.created or datetime.now(UTC)), record.id, entities.count
    )
    stored = {
        "content_state": ContentState.STORED,
        "content_error": None,
        "content_metadata": metadata,
        "resource_count": entities.count,
        "resource_type_counts": dict(sorted(entities.type_counts.items())),
        "stored": datetime.now(UTC),
    }
    try:
        return await store.update_job(record.model_copy(update=stored))
    except ConcurrencyConflict:
        current = await store.get_job(record.id)
        if current is None:
            raise errors.StorageUnavailable(f"job {record.id} vanished while its content was stored") from None
        if current.content_state == ContentState.STORED:
            return current  # another poller stored the same rows first
        return await store.apply_to_job(current, stored)


GRAPH_RETENTION = timedelta(days=7)


async def _prune_retained(client: UtcmClient, store: TableStore, records: list[JobRecord], report: TickReport) -> None:
    """Graph deletes content after 7 days anyway: free the slots of stored jobs older than that."""
    cutoff = datetime.now(UTC) - GRAPH_RETENTION
    for record in records:
        if report.throttled:
            return
        old = record.created is not None and record.created < cutoff
        if old and record.content_state == ContentState.STORED and not record.graph_deleted:
            try:
                await forget_in_graph(store, client, record, "after its 7-day retention")
                report.pruned += 1
            except errors.GraphThrottled:
                report.throttled = True
            except errors.ServiceError as exc:
                report.failures += 1
                log.warning("job %s not pruned: %s", record.id, exc.detail)


# What completion callbacks trust for TLS: the system's CAs (tests point it at their own test CA).
CALLBACK_VERIFY: ssl.SSLContext | str | bool = True


def job_ended(record: JobRecord) -> bool:
    return record.content_state != ContentState.PENDING or record.status in (JobStatus.FAILED, JobStatus.EXPIRED)


async def _deliver_callbacks(store: TableStore, records: list[JobRecord], report: TickReport) -> None:
    """POST the job view to each ended job's callbackUrl: claimed first (ETag), so it is sent once."""
    for record in records:
        if record.callback is None or not job_ended(record):
            continue
        state = callbacks.CallbackState.model_validate(record.callback)
        now = datetime.now(UTC)
        if not callbacks.is_due(state, now):
            continue
        claimed = callbacks.begin_attempt(state, now)
        try:
            record = await store.update_job(record.model_copy(update={"callback": claimed.model_dump(mode="json")}))
        except ConcurrencyConflict:
            continue  # another poller holds it, or the job changed: the next tick looks again
        if claimed.status != callbacks.CallbackStatus.DELIVERING:
            continue
        report.callbacks += 1
        view = job_view(record, record.job_url or "")
        outcome = await callbacks.deliver(
            claimed.url, callbacks.job_payload(view), claimed.delivery_id, get_settings().callback_hosts,
            verify=CALLBACK_VERIFY,
        )  # fmt: skip
        final = callbacks.after_attempt(claimed, outcome, datetime.now(UTC))
        log.info("callback of job %s to %s: %s", record.id, claimed.redacted_url, final.status.value)
        await _record_callback(store, record, final)


async def _record_callback(store: TableStore, record: JobRecord, state: callbacks.CallbackState) -> None:
    """The outcome must not be lost (a lost 'delivered' would send again once the claim lapses)."""
    try:
        await store.apply_to_job(record, {"callback": state.model_dump(mode="json")})
    except errors.ServiceError as exc:
        log.error("callback outcome of job %s not recorded: %s", record.id, exc.detail)
