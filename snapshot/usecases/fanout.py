"""The fan-out: a timer tick enqueues one message per tenant, and a queue-triggered function does that tenant's
work (docs/tenants.md). The distributed engine is Azure Functions: it scales the queue trigger out.

- A tick sends a `poll` (or `drifts`) message for every tenant that works (ready, or failing but still
  tried), and a `probe` for a tenant not ready whose last check is older than PROBE_EVERY.
- A tenant whose previous message is still waiting gets none: the tick first claims the tenant's row (its
  `poll_queued` set, ETag-guarded, so two ticks at once claim it once; up to 100 rows per transaction), and
  the message's run clears it. A
  claim older than MESSAGE_LEASE is taken again (its message was lost, or its run died).
- A run records its failure on the tenant's row (`last_error`) and raises, so the host tries the message
  again; a message that failed maxDequeueCount times lands in the poison queue, whose trigger marks the tenant
  `failing` with that error. A later run that succeeds makes it `ready` again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from snapshot import clients, errors, tenancy
from snapshot.onboarding import WORKING, TenantRecord, TenantStatus
from snapshot.queues import DRIFTS_QUEUE, POLL_QUEUE, Kind, WorkMessage, parse_message
from snapshot.store.tables import ConcurrencyConflict
from snapshot.store.tenants import TRANSACTION_ROWS
from snapshot.usecases import drifts, poll, tenants

log = logging.getLogger(__name__)

MESSAGE_LEASE = timedelta(minutes=10)  # the queue's own lease of a message whose host died
PROBE_EVERY = timedelta(minutes=5)
BATCHES_IN_FLIGHT = 4  # claim transactions (of up to 100 tenants) at once, each then sending its messages


@dataclass
class FanOut:
    queued: list[str] = field(default_factory=list)  # tenant ids a message was sent for
    waiting: list[str] = field(default_factory=list)  # skipped: their previous message is still waiting
    probes: list[str] = field(default_factory=list)


def _queued_at(record: TenantRecord, kind: Kind) -> datetime | None:
    return record.drifts_queued if kind == "drifts" else record.poll_queued


def _work_for(record: TenantRecord, kind: Kind, now: datetime) -> Kind | None:
    if record.status in WORKING:
        return kind
    if kind == "poll" and record.status != TenantStatus.REMOVED:
        due = record.checked is None or now - record.checked >= PROBE_EVERY
        return "probe" if due else None
    return None


async def enqueue(kind: Kind) -> FanOut:
    """One tick: claim and enqueue each tenant's work (kind `poll` or `drifts`).

    Claims go in transactions of up to 100 rows (the tenants share one partition), each row guarded by its ETag;
    a transaction that loses a race (another tick, a run just finished) is claimed again row by row, so only the
    rows that changed are left for their next tick. Each batch's messages are sent as soon as its claim holds.
    """
    now = datetime.now(UTC)
    report = FanOut()
    due: list[tuple[TenantRecord, Kind]] = []
    for record in await tenants.list_all():
        work = _work_for(record, kind, now)
        if work is None:
            continue
        queued = _queued_at(record, kind)
        if queued is not None and now - queued < MESSAGE_LEASE:
            report.waiting.append(record.tenant_id)
        else:
            due.append((record, work))
    gate = asyncio.Semaphore(BATCHES_IN_FLIGHT)
    batches = [due[i : i + TRANSACTION_ROWS] for i in range(0, len(due), TRANSACTION_ROWS)]
    await asyncio.gather(*(_claim_and_send(batch, kind, now, report, gate) for batch in batches))
    log.info(
        "fan-out %s: %d queued, %d probes, %d still waiting",
        kind,
        len(report.queued),
        len(report.probes),
        len(report.waiting),
    )
    return report


async def _claim_and_send(
    batch: list[tuple[TenantRecord, Kind]], kind: Kind, now: datetime, report: FanOut, gate: asyncio.Semaphore
) -> None:
    table = clients.store().tenants
    column = "drifts_queued" if kind == "drifts" else "poll_queued"
    claimed: list[tuple[TenantRecord, Kind]] = []
    async with gate:
        try:
            await table.update_all([record.model_copy(update={column: now}) for record, _ in batch])
            claimed = batch
        except ConcurrencyConflict:
            for record, work in batch:
                try:
                    await table.update(record.model_copy(update={column: now}))
                    claimed.append((record, work))
                except ConcurrencyConflict:  # another tick claimed it (or a run just finished): its turn
                    report.waiting.append(record.tenant_id)
        messages = [WorkMessage(kind=work, tenantId=record.tenant_id) for record, work in claimed]
        try:
            await clients.queues().send(DRIFTS_QUEUE if kind == "drifts" else POLL_QUEUE, messages)
        except Exception:
            await _release(claimed, column)  # so the next tick sends them, not one after the claims' lease
            raise
    for record, work in claimed:
        (report.probes if work == "probe" else report.queued).append(record.tenant_id)


async def _release(claimed: list[tuple[TenantRecord, Kind]], column: str) -> None:
    """Clear the claims of messages that may not have been sent (a message sent twice is harmless)."""
    table = clients.store().tenants
    for record, _ in claimed:
        try:
            await table.apply(record.tenant_id, {column: None})
        except (errors.ServiceError, ConcurrencyConflict):
            log.warning("tenant %s keeps its claim until it lapses (%s)", record.tenant_id, MESSAGE_LEASE)


async def run(body: str) -> None:
    """One queue message: that tenant's poll, probe or drift poll, in its scope."""
    message = parse_message(body)
    try:
        tenant = await tenants.active(message.tenantId)
    except errors.TenantNotRegistered:
        log.info("message for tenant %s dropped: it is not registered (or was removed)", message.tenantId)
        return
    column = "drifts_queued" if message.kind == "drifts" else "poll_queued"
    table = clients.store().tenants
    note: str | None = None
    with tenancy.scoped(tenant):
        try:
            if message.kind == "poll" and (await poll.poll()).throttled:
                note = "Microsoft Graph throttled or failed this tenant's job list; the next tick tries again"
            elif message.kind == "drifts":
                await drifts.poll_drifts()
            elif message.kind == "probe":
                await tenants.probe(tenant)
        except Exception as exc:
            await table.apply(tenant.id, {"last_error": describe(exc)})
            raise
    done: dict[str, object] = {column: None, "last_error": note}
    record = await table.get(tenant.id)
    if record is not None and record.status == TenantStatus.FAILING:
        done["status"] = TenantStatus.READY
    await table.apply(tenant.id, done)


async def poisoned(body: str) -> None:
    """A message that kept failing: its tenant is marked `failing`, with the last error its runs recorded."""
    try:
        message = parse_message(body)
    except errors.ValidationFailed:
        log.error("a poison message that is not this app's was left in the poison queue")
        return
    table = clients.store().tenants
    record = await table.get(message.tenantId)
    if record is None:
        return
    reason = record.last_error or "its queue message failed every attempt"
    column = "drifts_queued" if message.kind == "drifts" else "poll_queued"
    await table.apply(message.tenantId, {"status": TenantStatus.FAILING, "last_error": reason, column: None})
    log.error("tenant %s is failing: %s", message.tenantId, reason)


def describe(exc: Exception) -> str:
    detail = exc.detail if isinstance(exc, errors.ServiceError) else "see the function log"
    return f"{type(exc).__name__}: {detail}"[:500]
