"""Rounds: a snapshot in every working tenant through the fan-out, followed to an outcome per tenant
(docs/fleet.md, "Rounds"; the records and rules in snapshot/rounds.py).

- `start_round` writes a member row per working tenant, then the round's row, then sends one `round` message
  per tenant. A send that fails removes the round's row (its messages, if any went, find no round and are
  dropped), and the caller's retry starts a new round.
- `start_member` (the message's run, in the tenant's scope) starts the tenant's snapshot with the round's
  Idempotency-Key, so a message delivered twice starts one job. A refusal that a retry cannot change (a bad
  type, the quota, Graph's 12 jobs) marks the member failed with the reason; anything retryable raises, so
  the queue tries again, and a message that keeps failing marks the member failed from the poison queue.
- `status` decides each open member's outcome from its job's row (rounds.outcome_of) and keeps the decided
  ones, so a round polled again reads only the jobs still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime

from snapshot import clients, errors
from snapshot.models import StartSnapshotRequest
from snapshot.onboarding import WORKING
from snapshot.queues import POLL_QUEUE, WorkMessage
from snapshot.rounds import OPEN, Member, MemberState, Round, RoundRequest, deadline_of, outcome_of
from snapshot.store.fleet import ROUND_PARTITION, member_partition
from snapshot.store.tables import ConcurrencyConflict
from snapshot.usecases import start, tenants

log = logging.getLogger(__name__)
READS_IN_FLIGHT = 16
KEY_NAMESPACE = uuid.UUID("3f7c1a52-6d1e-4c8e-9a57-2b1f0e6d9c41")  # round ids made from Idempotency-Keys


async def start_round(request: RoundRequest, idempotency_key: str | None = None) -> tuple[Round, list[Member]]:
    """Start a round. With an Idempotency-Key its id is made from the key, so a retry (the Logic App's, after a
    5xx that came too late) finds the round the first request started and completes what that one may not have
    (member rows, messages) instead of starting a second one."""
    round_id = str(uuid.uuid5(KEY_NAMESPACE, idempotency_key)) if idempotency_key else str(uuid.uuid4())
    table = clients.store().fleet
    existing = await table.get_record(Round, ROUND_PARTITION, round_id) if idempotency_key else None
    if existing is not None:
        return await _resume(existing)
    types = request.resourceTypes or await _standard_types()
    working = [record for record in await tenants.list_all() if record.status in WORKING]
    now = datetime.now(UTC)
    round_ = Round(
        id=round_id, resource_types=types, started=now, deadline=deadline_of(now, request), tenants=len(working),
    )  # fmt: skip
    try:
        await table.insert_record(ROUND_PARTITION, round_.id, round_)
    except ConcurrencyConflict:  # the same key's other request got there first: complete its round
        return await _resume(await _round(round_id))
    members = [Member(tenant_id=r.tenant_id, display_name=r.display_name) for r in working]
    try:
        await table.upsert_records(member_partition(round_.id), {m.tenant_id: m for m in members})
        await _send(round_, members)
    except Exception:
        if not idempotency_key:  # nobody can complete it: its messages, if any went, find no round
            with contextlib.suppress(errors.ServiceError):
                await table.delete_record(ROUND_PARTITION, round_.id)
        raise
    log.info("fleet round %s: %d tenants queued", round_.id, len(members))
    return round_, members


async def _send(round_: Round, members: list[Member]) -> None:
    messages = [WorkMessage(kind="round", tenantId=m.tenant_id, roundId=round_.id) for m in members]
    await clients.queues().send(POLL_QUEUE, messages)


async def _resume(round_: Round) -> tuple[Round, list[Member]]:
    """The same key again: add the member rows the first request may not have written (only where absent), send
    the messages of members still queued again (a member runs once: its run needs it queued), then its status."""
    table = clients.store().fleet
    partition = member_partition(round_.id)
    members = await table.records(Member, partition)
    if len(members) < round_.tenants:
        known = {member.tenant_id for member in members}
        for record in await tenants.list_all():
            if record.status in WORKING and record.tenant_id not in known:
                with contextlib.suppress(ConcurrencyConflict):
                    await table.insert_record(partition, record.tenant_id, Member(
                        tenant_id=record.tenant_id, display_name=record.display_name))  # fmt: skip
        members = await table.records(Member, partition)
    queued = [member for member in members if member.state == MemberState.QUEUED]
    if queued and datetime.now(UTC) < round_.deadline:
        await _send(round_, queued)
    return round_, await _outcomes(round_, members)


async def _standard_types() -> list[str]:
    standard = await clients.store().fleet.standard()
    if standard is None:
        rule = "is required when no fleet standard is set (the round snapshots the standard's types by default)"
        raise errors.ValidationFailed([errors.FieldError("resourceTypes", rule)])
    return standard.resource_types


async def _round(round_id: str) -> Round:
    round_ = await clients.store().fleet.get_record(Round, ROUND_PARTITION, round_id)
    if round_ is None:
        raise errors.NotFound(f"no fleet round {round_id}")
    return round_


async def start_member(round_id: str) -> None:
    """The `round` message's run in the current tenant: start its snapshot once, record the job on its member."""
    tenant = clients.current_tenant()
    table = clients.store().fleet
    round_ = await table.get_record(Round, ROUND_PARTITION, round_id)
    member = await table.get_record(Member, member_partition(round_id), tenant.id)
    if round_ is None or member is None or member.state != MemberState.QUEUED:
        log.info("round message for tenant %s dropped: round %s gone or its member already run", tenant.id, round_id)
        return
    if datetime.now(UTC) >= round_.deadline:
        return  # past the deadline: GET decides it timed out
    request = StartSnapshotRequest(displayName=round_.display_name, resources=round_.resource_types)
    try:
        result = await start.start_snapshot(request, round_.idempotency_key)
    except errors.Retryable:
        raise
    except errors.ServiceError as exc:
        if exc.status >= 500:
            raise
        await _save(round_id, _failed(member, exc.detail))
        return
    await _save(round_id, member.model_copy(update={"state": MemberState.STARTED, "job_id": result.record.id}))
    log.info("round %s: tenant %s started snapshot %s", round_id, tenant.id, result.record.id)


def _failed(member: Member, reason: str) -> Member:
    detail = f"its snapshot could not be started: {reason}"[:500]
    return member.model_copy(update={"state": MemberState.FAILED, "detail": detail})


async def _save(round_id: str, member: Member) -> None:
    """Write the member if its row is unchanged since it was read; if another run or a status read decided it
    meanwhile, that decision stands (a job this run started stays in the tenant's history)."""
    try:
        await clients.store().fleet.replace_record(member_partition(round_id), member.tenant_id, member, member.etag)
    except ConcurrencyConflict:
        log.info("round %s: tenant %s was decided meanwhile; left as it is", round_id, member.tenant_id)


async def gave_up(round_id: str, tenant_id: str, reason: str) -> None:
    """The member's message kept failing (poison queue): the member is failed with the reason, if still queued."""
    member = await clients.store().fleet.get_record(Member, member_partition(round_id), tenant_id)
    if member is not None and member.state == MemberState.QUEUED:
        await _save(round_id, _failed(member, reason))


async def status(round_id: str) -> tuple[Round, list[Member]]:
    """The round with each member's outcome as its job's row shows it now; decided outcomes are kept."""
    round_ = await _round(round_id)
    return round_, await _outcomes(round_, await clients.store().fleet.records(Member, member_partition(round_id)))


async def _outcomes(round_: Round, members: list[Member]) -> list[Member]:
    now = datetime.now(UTC)
    gate = asyncio.Semaphore(READS_IN_FLIGHT)
    current = await asyncio.gather(*(_outcome(member, round_, now, gate) for member in members))
    decided = [new for old, new in zip(members, current, strict=True) if new != old]

    async def keep(member: Member) -> None:
        async with gate:
            await _save(round_.id, member)

    await asyncio.gather(*(keep(member) for member in decided))
    return list(current)


async def summaries_pending(round_: Round, members: list[Member]) -> int:
    """Stored members whose fleet summary does not show this round's snapshot against the current standard yet
    (its content message computes it just after storing; a golden tenant that moved the standard, every
    tenant's `fleet` message). 0 once the deadline passed: the round then reports what there is."""
    stored = [member for member in members if member.state == MemberState.STORED]
    if not stored or datetime.now(UTC) >= round_.deadline:
        return 0
    table = clients.store().fleet
    standard = await table.standard()
    revision = standard.revision if standard else None
    summaries = {summary.tenant_id: summary for summary in await table.summaries()}

    def shown(member: Member) -> bool:
        summary = summaries.get(member.tenant_id)
        seen = summary.snapshot_stored if summary is not None else None
        return (
            summary is not None
            and seen is not None
            and seen >= round_.started
            and summary.standard_revision == revision
        )

    return sum(1 for member in stored if not shown(member))


async def _outcome(member: Member, round_: Round, now: datetime, gate: asyncio.Semaphore) -> Member:
    if member.state not in OPEN:
        return member
    job = None
    if member.job_id is not None:
        async with gate:
            tenant = tenants.tenant_of_id(member.tenant_id)
            job = await clients.store().for_tenant(tenant).jobs.get(member.job_id)
    return outcome_of(member, job, round_, now)
