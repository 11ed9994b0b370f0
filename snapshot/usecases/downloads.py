"""A finished job's content downloaded and stored by its own queue message (docs/tenants.md, fan-out).

Graph documents nothing about a content's size before it is downloaded (docs/graph-utcm.md), so the fan-out
does not guess which content is large: every content a tenant's poll finds due is handed to a `content`
message of its own. A poll message stays one Graph list and a few Table requests; a 20,000-resource content
holds one queue slot for itself, with its own retries and its own functionTimeout, and no other tenant's (or
job's) work waits behind it.

- `hand_off` (in the poll): claims each due job's row (`content_queued`, ETag-guarded, written with the news
  of the job the reconcile found) and sends one message per job. A job whose claim holds is not sent again.
- `store_one` (the message's run): downloads and stores that content exactly as the inline poll does
  (ingest.store_contents: resumable, each resource once), delivers the job's callback, and clears its claim.
  A content not stored (throttled, an error that ingest records) stays due, and the next poll sends it again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from snapshot import clients, errors
from snapshot.models import JobRecord, Lifecycle
from snapshot.onboarding import claim_holds
from snapshot.queues import POLL_QUEUE, WorkMessage
from snapshot.store import Store
from snapshot.store.tables import ConcurrencyConflict
from snapshot.usecases import fleet, ingest, notify
from snapshot.usecases.tick_report import TickReport

log = logging.getLogger(__name__)
RELEASE_ATTEMPTS = 3


async def hand_off(store: Store, records: list[JobRecord], report: TickReport) -> None:
    """Claim every job whose content is due and send its `content` message; `records` is updated in place."""
    now = datetime.now(UTC)
    claimed: list[JobRecord] = []
    for index, record in enumerate(records):
        if not record.download_due(now) or claim_holds(record.content_queued, now):
            continue
        try:
            records[index] = await store.jobs.save(record.model_copy(update={"content_queued": now}))
        except ConcurrencyConflict:
            log.info("job %s changed under this tick; its content is sent by the next one", record.id)
            continue
        except errors.ServiceError as exc:
            report.fail(record.id, exc.detail)
            continue
        claimed.append(records[index])
    tenant = clients.current_tenant()
    messages = [WorkMessage(kind="content", tenantId=tenant.id, jobId=r.id, claimed=now) for r in claimed]
    try:
        await clients.queues().send(POLL_QUEUE, messages)
    except Exception:
        for record in claimed:  # so the next tick sends them, not one after the claims' lease
            await release(store, record.id, now)
        raise
    report.handed_off += len(messages)


async def store_one(job_id: str, claimed: datetime | None) -> TickReport:
    """The `content` message's run: store the job's content if it is still due, then clear the claim."""
    report = TickReport()
    store = clients.store()
    record = await store.jobs.get(job_id)
    if record is None:
        log.info("content message for job %s dropped: the job is not in the table (deleted)", job_id)
        return report
    records = [record]
    try:
        await ingest.store_contents(clients.graph(), store, records, report)
        await notify.deliver_callbacks(store, records, report)
    finally:
        if records[0].content_queued is not None:  # not stored (a store clears the claim with its own write)
            await release(store, job_id, claimed)
    if records[0].lifecycle == Lifecycle.STORED:  # also when a run before this one stored it and then failed
        await fleet.summarise()
    return report


async def gave_up(store: Store, job_id: str, claimed: datetime | None, reason: str) -> None:
    """The job's content message kept failing (poison queue): its content is marked `error` with the reason,
    tried again after ingest's backoff up to its limit (models.CONTENT_ATTEMPTS_MAX), and its claim cleared."""
    record = await store.jobs.get(job_id)
    now = datetime.now(UTC)
    if record is None or not record.download_due(now) or record.content_queued != claimed:
        return
    change = {**record.content_failed(reason, now), "content_queued": None}
    try:
        await store.jobs.update(record.model_copy(update=change))
    except ConcurrencyConflict:  # changed meanwhile: its claim lapses, and the next poll decides
        log.info("job %s changed under its poison message; left as it is", job_id)


async def release(store: Store, job_id: str, claimed: datetime | None) -> None:
    """Clear the job's content claim if it is still `claimed` (never a newer claim a later tick wrote)."""
    for _ in range(RELEASE_ATTEMPTS):
        current = await store.jobs.get(job_id)
        if current is None or claimed is None or current.content_queued != claimed:
            return
        try:
            await store.jobs.update(current.model_copy(update={"content_queued": None}))
            return
        except ConcurrencyConflict:
            continue
        except errors.ServiceError as exc:
            log.warning("job %s keeps its content claim until it lapses: %s", job_id, exc.detail)
            return
