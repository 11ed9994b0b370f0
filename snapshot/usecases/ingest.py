"""Store finished content: download each job's content once it finished and write its resources and ledger row."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from snapshot import errors
from snapshot.content.entities import resource_entities
from snapshot.content.stream import read_content
from snapshot.models import ContentState, JobRecord
from snapshot.store import Store
from snapshot.store.tables import ConcurrencyConflict
from snapshot.usecases.quota import month_of
from snapshot.usecases.resume import write_resources
from snapshot.usecases.tick_report import TickReport

if TYPE_CHECKING:
    from snapshot.graph import UtcmClient

log = logging.getLogger(__name__)
TOO_DEEP_TO_STORE = "the content nests values deeper than this app can store"  # Python's stack: ~1,000 levels


async def store_contents(client: UtcmClient, store: Store, records: list[JobRecord], report: TickReport) -> None:
    """Download and store each finished job's content; `records` is updated in place.

    A record may hold Graph's news not written yet, or be new to the table: the reconcile leaves it to be
    written with the content's own changes (so every save here is `jobs.save`). A record this saved is
    replaced in `records`; the poller writes the news of one it did not save. A download or a document that
    fails marks that job's content `error` (retried with backoff, up to models.CONTENT_ATTEMPTS_MAX); the other
    jobs of the tick go on. Throttling ends the tick's downloads.
    """
    now = datetime.now(UTC)
    for index, record in enumerate(records):
        if report.throttled:
            return
        if not record.download_due(now):
            continue
        try:
            stored = await ingest(client, store, record)
        except errors.GraphThrottled as exc:
            report.throttled = True
            log.warning("downloads paused until the next tick: %s", exc.detail)
            return
        except (errors.GraphError, RecursionError) as exc:  # this job's download or document
            reason = exc.detail if isinstance(exc, errors.GraphError) else TOO_DEEP_TO_STORE
            report.fail(record.id, reason)
            records[index] = await _content_failed(store, record, reason, now)
            continue
        except errors.ServiceError as exc:  # storage or identity: not the job's fault, tried next tick
            report.fail(record.id, exc.detail)
            log.warning("content of job %s not stored this tick: %s", record.id, exc.detail)
            continue
        records[index] = stored
        report.downloaded += 1
        report.resources_stored += stored.resource_count or 0


async def _content_failed(store: Store, record: JobRecord, reason: str, now: datetime) -> JobRecord:
    change = record.content_failed(reason, now)
    retry = change["content_retry_at"]
    log.warning("content of job %s not stored (attempt %d): %s; %s", record.id, change["content_attempts"], reason,
                f"next try after {retry.isoformat()}" if retry else "no more attempts")  # fmt: skip
    try:
        return await store.jobs.save(record.model_copy(update=change))
    except ConcurrencyConflict:
        log.info("job %s changed under this tick; left for the next one", record.id)
        return record


async def ingest(client: UtcmClient, store: Store, record: JobRecord) -> JobRecord:
    """Download the job's content and store every resource; a rerun resumes after the rows already stored."""
    assert record.resource_location is not None
    async with client.download(record.resource_location) as stream:
        try:
            content = read_content(stream)
        except ValueError as exc:
            raise errors.ContentInvalid(f"{exc}; nothing of it was stored") from None
        # The ledger row (the resources Graph extracted) is written while the resources are, and is always
        # written before the job is marked stored: a crash in between leaves a row that the rerun rewrites.
        month = month_of(record.completed or record.created or datetime.now(UTC))
        ledger = asyncio.ensure_future(store.ledger.record(month, record.id, content.count))
        entities = resource_entities(store.resources.partition_of(record.id), content.resources)
        try:
            record = await write_resources(store, record, entities)
        except BaseException:
            ledger.cancel()
            await asyncio.gather(ledger, return_exceptions=True)  # its own failure, if any, is read and dropped
            raise
        await ledger
    stored = {
        "content_state": ContentState.STORED,
        "content_error": None,
        "content_retry_at": None,
        "content_progress": None,
        "content_queued": None,
        "content_metadata": content.metadata,
        "resource_count": entities.count,
        "resource_type_counts": dict(sorted(entities.type_counts.items())),
        "stored": datetime.now(UTC),
    }
    try:
        return await store.jobs.save(record.model_copy(update=stored))
    except ConcurrencyConflict:  # written meanwhile (a start recording its job, a callback claim, a poller)
        current = await store.jobs.get(record.id)
        if current is None:
            raise errors.StorageUnavailable(f"job {record.id} vanished while its content was stored") from None
        if current.content_state == ContentState.STORED:
            return current  # another poller stored the same rows first
        return await store.jobs.apply(current, {**record.graph_fields(), **stored})  # with this tick's news
