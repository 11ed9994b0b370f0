"""The fan-out: a timer tick enqueues one message per tenant, and a queue-triggered function does that tenant's
work (docs/tenants.md). The distributed engine is Azure Functions: it scales the queue trigger out.

- A tick sends a `poll` (or `drifts`) message for every tenant that works (ready, or failing but still
  tried), and a `probe` for a tenant not ready whose last check is older than PROBE_EVERY.
- A tenant whose previous message is still waiting gets none: the tick first claims the tenant's row (its
  `poll_queued` set, ETag-guarded, so two ticks at once claim it once; up to 100 rows per transaction), and
  the message carries its claim, which its run clears (only that claim: never a newer one). A claim older
  than onboarding.MESSAGE_LEASE is taken again (its message was lost, or its run died).
- A poll hands each content it finds due to a `content` message of its own (usecases/downloads.py).
- A tenant this deployment cannot reach (`clients.reaches`, decided where its credential is made) gets no message.
- A run records its failure on the tenant's row (`last_error`) and raises, so the host tries the message
  again; a message that failed maxDequeueCount times lands in the poison queue, whose trigger marks the tenant
  `failing` with that error. A later run that succeeds makes it `ready` again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from snapshot import clients, errors
from snapshot.clients import Tenant
from snapshot.onboarding import MESSAGE_LEASE, WORKING, TenantRecord, TenantStatus, claim_holds
from snapshot.queues import DRIFTS_QUEUE, POLL_QUEUE, Kind, WorkMessage, parse_message
from snapshot.store.tables import ConcurrencyConflict
from snapshot.store.tenants import TRANSACTION_ROWS
from snapshot.usecases import downloads, drifts, fleet, poll, rounds, tenants

log = logging.getLogger(__name__)

PROBE_EVERY = timedelta(minutes=5)
# Each kind's claim column on the tenant's row (a probe is claimed as the poll it replaces), None for the kinds
# sent without one: a content message claims its job's row, a fleet summary is computed from rows (one run
# twice computes the same summary), and a round's member starts its snapshot with the round's Idempotency-Key
# (one run twice starts one job).
CLAIM_COLUMN: dict[Kind, str | None] = {
    "poll": "poll_queued", "probe": "poll_queued", "drifts": "drifts_queued",
    "content": None, "fleet": None, "round": None,
}  # fmt: skip
UNCLAIMED = frozenset(kind for kind, column in CLAIM_COLUMN.items() if column is None)
BATCHES_IN_FLIGHT = 4  # claim transactions (of up to 100 tenants) at once, each then sending its messages


@dataclass
class FanOut:
    queued: list[str] = field(default_factory=list)  # tenant ids a message was sent for
    waiting: list[str] = field(default_factory=list)  # skipped: their previous message is still waiting
    probes: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)  # skipped: this deployment cannot reach them


def _column(kind: Kind) -> str:
    """The tenant row's claim column of a kind of message that has one."""
    column = CLAIM_COLUMN[kind]
    assert column is not None, f"{kind} messages claim no tenant row"
    return column


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
        if not clients.reaches(tenants.tenant_of(record)):
            report.unreachable.append(record.tenant_id)
        elif claim_holds(getattr(record, _column(kind)), now):
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
    column = _column(kind)
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
        messages = [WorkMessage(kind=work, tenantId=record.tenant_id, claimed=now) for record, work in claimed]
        try:
            await clients.queues().send(DRIFTS_QUEUE if kind == "drifts" else POLL_QUEUE, messages)
        except Exception:
            await _release(claimed, column, now)  # so the next tick sends them, not one after the claims' lease
            raise
    for record, work in claimed:
        (report.probes if work == "probe" else report.queued).append(record.tenant_id)


async def _release(claimed: list[tuple[TenantRecord, Kind]], column: str, now: datetime) -> None:
    """Clear the claims (still this tick's) of messages that may not have been sent (one sent twice is harmless)."""
    table = clients.store().tenants
    for record, _ in claimed:
        try:
            await table.apply(
                record.tenant_id, lambda current: {column: None} if getattr(current, column) == now else {}
            )
        except errors.ServiceError:
            log.warning("tenant %s keeps its claim until it lapses (%s)", record.tenant_id, MESSAGE_LEASE)


async def run(body: str) -> None:
    """One queue message: that tenant's poll, probe, drift poll or job content, in its scope.

    A message that cannot be run (not one this app sends, a tenant not registered, removed, or one this
    deployment cannot reach) is logged and dropped: retrying it would fail the same way.
    """
    try:
        message = parse_message(body)
        tenant = await tenants.active(message.tenantId)
    except (errors.ValidationFailed, errors.TenantNotRegistered) as exc:
        log.error("queue message dropped: %s (body %.200r)", exc.detail, body)
        await _clear_claim_of(body)
        return
    if not clients.reaches(tenant):
        log.error("message for tenant %s dropped: this deployment serves its home tenant only", tenant.id)
        await _clear_claim(message)
        return
    with clients.working_in(tenant):
        try:
            note = await _work(message, tenant)
        except Exception as exc:
            await clients.store().tenants.apply(tenant.id, {"last_error": _about(message) + describe(exc)})
            raise
    if message.kind in UNCLAIMED and note is None:
        return  # nothing to clear and nothing to say on the tenant's row
    await clients.store().tenants.apply(tenant.id, lambda record: _done(record, message, note))


async def _work(message: WorkMessage, tenant: Tenant) -> str | None:
    """The message's work in the tenant's scope; a note for `last_error` when it ended short."""
    if message.kind == "poll" and (await poll.poll(hand_off=downloads.hand_off)).throttled:
        return "Microsoft Graph throttled or failed this tenant's job list; the next tick tries again"
    if message.kind == "drifts":
        await drifts.poll_drifts()
        try:
            await fleet.note_drifts()
        except errors.ServiceError as exc:  # the drifts are stored; the fleet row's count waits for the next poll
            log.warning("fleet drift count of %s not updated: %s", tenant.id, exc.detail)
    elif message.kind == "probe":
        await tenants.probe(tenant)
    elif message.kind == "fleet":
        await fleet.summarise()
    elif message.kind == "round":
        assert message.roundId is not None
        await rounds.start_member(message.roundId)
    elif message.kind == "content":
        assert message.jobId is not None
        report = await downloads.store_one(message.jobId, message.claimed)
        if report.throttled or report.failed_jobs:
            reasons = "; ".join(report.failed_jobs) or "Microsoft Graph throttled the download"
            return f"{_about(message)}not stored ({reasons}); the next poll sends it again"[:500]
    return None


def _about(message: WorkMessage) -> str:
    if message.kind == "round":
        return f"fleet round {message.roundId}: "
    return f"content of job {message.jobId}: " if message.kind == "content" else ""


def _done(record: TenantRecord, message: WorkMessage, note: str | None) -> dict[str, object]:
    """The change after a run that succeeded: its claim cleared (if still its own), the note set, `failing` back
    to ready. A content message says nothing about the tenant's status: it only records a content not stored."""
    if record.status == TenantStatus.REMOVED:
        return _claim_cleared(record, message)
    if message.kind in UNCLAIMED:
        return {"last_error": note} if note else {}
    changes: dict[str, object] = {"last_error": note, **_claim_cleared(record, message)}
    if record.status == TenantStatus.FAILING:
        changes["status"] = TenantStatus.READY
    return changes


def _claim_cleared(record: TenantRecord, message: WorkMessage) -> dict[str, object]:
    """The change that clears the message's claim on the tenant's row: only the claim it was sent with (a message
    sent before claims were carried clears whichever claim there is, as it did then)."""
    if message.kind in UNCLAIMED:
        return {}
    column = _column(message.kind)
    if getattr(record, column) is None or (message.claimed is not None and getattr(record, column) != message.claimed):
        return {}
    return {column: None}


async def _clear_claim(message: WorkMessage) -> None:
    """Clear the claim of a message dropped or poisoned (the tenant's row, or the job's for `content`)."""
    if message.kind == "content":
        tenant = _job_tenant(message)
        if tenant is not None and message.jobId is not None:
            with clients.working_in(tenant):
                await downloads.release(clients.store(), message.jobId, message.claimed)
        return
    await clients.store().tenants.apply(message.tenantId, lambda record: _claim_cleared(record, message))


async def _clear_claim_of(body: str) -> None:
    with contextlib.suppress(errors.ValidationFailed):
        await _clear_claim(parse_message(body))


async def poisoned(body: str) -> None:
    """A message that kept failing: its tenant is marked `failing`, with the last error its runs recorded.

    Not for a tenant removed meanwhile (it stays removed), and not for a probe: a probe's tenant keeps the
    status its last probe observed (pendingConsent stays pendingConsent), with the failure in `lastError`. A
    content message's job has its content marked `error` (tried again with ingest's backoff, up to its limit),
    and its tenant keeps its status: one content that always fails does not stop the tenant's polls.
    """
    try:
        message = parse_message(body)
    except errors.ValidationFailed as exc:
        log.error("a poison message that is not this app's was left in the poison queue: %s", exc.detail)
        return
    reason = "its queue message failed every attempt"

    def marked(record: TenantRecord) -> dict[str, object]:
        nonlocal reason
        if record.status == TenantStatus.REMOVED:
            return _claim_cleared(record, message)
        reason = record.last_error or reason
        changes: dict[str, object] = {"last_error": reason, **_claim_cleared(record, message)}
        if message.kind in ("poll", "drifts"):
            changes["status"] = TenantStatus.FAILING
        return changes

    record = await clients.store().tenants.apply(message.tenantId, marked)
    if message.kind == "content":
        await _content_gave_up(message, reason)
    if message.kind == "round" and message.roundId is not None:
        await rounds.gave_up(message.roundId, message.tenantId, reason)
    if record is None or record.status == TenantStatus.REMOVED:
        log.error("poison message for tenant %s, which is not registered or was removed: dropped", message.tenantId)
        return
    log.error("tenant %s: its %s message failed every attempt: %s", message.tenantId, message.kind, reason)


async def _content_gave_up(message: WorkMessage, reason: str) -> None:
    tenant = _job_tenant(message)
    if tenant is not None and message.jobId is not None:
        with clients.working_in(tenant):
            await downloads.gave_up(clients.store(), message.jobId, message.claimed, reason)


def _job_tenant(message: WorkMessage) -> Tenant | None:
    """The tenant of a content message's job row, even one removed meanwhile (None: not a tenant id, so no job
    row can be its)."""
    try:
        return clients.tenant_named(message.tenantId)
    except errors.ValidationFailed:
        return None


def describe(exc: Exception) -> str:
    detail = exc.detail if isinstance(exc, errors.ServiceError) else "see the function log"
    return f"{type(exc).__name__}: {detail}"[:500]
