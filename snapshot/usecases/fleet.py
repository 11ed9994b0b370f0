"""The fleet: the standard every tenant is compared with, each tenant's summary, and a page of them
(docs/fleet.md).

A tenant's summary is computed from its stored rows (no Graph call) when one of its snapshots is stored (the
content message's run, usecases/downloads.py), when the standard changes (a `fleet` message per tenant), and
its drift count after each drift poll. GET /api/fleet then reads three things whatever the fleet's size: the
registry, the summaries' partition and the standard; never a diff per tenant per request.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import get_args

from snapshot import clients, errors
from snapshot.fleet import (
    PAGE_MAX,
    Counts,
    FleetRow,
    OrderBy,
    Standard,
    StandardRequest,
    Summary,
    deviations_by_workload,
    group_counts,
    ordered,
)
from snapshot.models import LATEST, JobRecord, Lifecycle
from snapshot.onboarding import WORKING, TenantStatus
from snapshot.queues import POLL_QUEUE, WorkMessage
from snapshot.store import Store
from snapshot.store.tables import ConcurrencyConflict
from snapshot.usecases import compare, quota, reads, tenants

log = logging.getLogger(__name__)
ATTEMPTS = 5
JOBS_LOOKED_AT = 100  # one page: Graph keeps at most 12 jobs, so the newest stored one is among them in practice
ORDERS: tuple[OrderBy, ...] = get_args(OrderBy)
WHOLE = re.compile(r"[0-9]{1,7}")  # ASCII digits only: str.isdigit() also takes "²", which int() refuses


async def get_standard() -> Standard:
    standard = await clients.store().fleet.standard()
    if standard is None:
        raise errors.NotFound("no fleet standard is set: PUT /api/fleet/standard names one")
    return standard


async def set_standard(request: StandardRequest) -> tuple[Standard, int]:
    """Name the standard; every working tenant's summary is then computed again (the count of messages sent)."""
    golden = await tenants.active(request.tenantId)
    with clients.working_in(golden):
        if request.snapshotId == LATEST:
            job = await compare.latest_stored(clients.store(), {name.lower() for name in request.resourceTypes or []})
        else:
            job = await reads.stored_job(request.snapshotId)
    types = request.resourceTypes or sorted(job.resource_type_counts or job.resources)
    lacking = sorted(name for name in types if name.lower() not in reads.types_of(job))
    if lacking:
        rule = f"must be types of snapshot {job.id}; it has none of {', '.join(lacking)}"
        raise errors.ValidationFailed([errors.FieldError("resourceTypes", rule)])
    standard = await _save_standard(golden.id, job, request.snapshotId == LATEST, types)
    return standard, await fan_out(standard)


async def _save_standard(tenant_id: str, job: JobRecord, follows: bool, types: list[str]) -> Standard:
    table = clients.store().fleet
    for _ in range(ATTEMPTS):
        current = await table.standard()
        standard = Standard(
            tenant_id=tenant_id, snapshot_id=job.id, follows_latest=follows, resource_types=types,
            revision=(current.revision + 1) if current else 1, set_at=datetime.now(UTC),
            snapshot_stored=job.stored, etag=current.etag if current else None,
        )  # fmt: skip
        try:
            return await table.save_standard(standard)
        except ConcurrencyConflict:
            continue
    raise errors.RowContended(f"the fleet standard changed under each of {ATTEMPTS} writes; retry", retry_after=1)


async def fan_out(standard: Standard) -> int:
    """One `fleet` message per working tenant, each computing that tenant's summary against `standard`; then the
    standard records that its revision went out. A send that fails leaves it unrecorded, so the golden tenant's
    next summary (a retried content message, its next snapshot, its `fleet` message) sends them again."""
    working = [record for record in await tenants.list_all() if record.status in WORKING]
    messages = [WorkMessage(kind="fleet", tenantId=record.tenant_id) for record in working]
    await clients.queues().send(POLL_QUEUE, messages)
    marked = standard.model_copy(update={"refreshed_revision": standard.revision})
    with contextlib.suppress(ConcurrencyConflict):  # changed meanwhile: the newer revision goes out on its own
        await clients.store().fleet.save_standard(marked)
    return len(messages)


async def refresh_later(tenant_id: str) -> None:
    """One `fleet` message for this tenant (its newest snapshot was deleted); a send that fails is logged, and
    the tenant's next stored snapshot or standard change computes its summary again."""
    try:
        await clients.queues().send(POLL_QUEUE, [WorkMessage(kind="fleet", tenantId=tenant_id)])
    except Exception as exc:  # the delete itself succeeded; the summary is repaired by the next refresh
        log.warning("fleet summary of %s not queued for a refresh: %s", tenant_id, type(exc).__name__)


async def summarise() -> Summary:
    """Compute the current tenant's summary from its rows and store it. The write is guarded by the ETag read
    before computing, so of two refreshes at once the one that read later state writes last."""
    store = clients.store()
    tenant = clients.current_tenant()
    for _ in range(ATTEMPTS):
        existing = await store.fleet.summary(tenant.id)
        fresh = await _computed(store, tenant.id, existing)
        try:
            return await store.fleet.save_summary(
                fresh.model_copy(update={"etag": existing.etag if existing else None})
            )
        except ConcurrencyConflict:
            continue
    raise errors.RowContended(f"the fleet summary of {tenant.id} changed under each of {ATTEMPTS} writes; retry")


async def _computed(store: Store, tenant_id: str, existing: Summary | None) -> Summary:
    page, _ = await store.jobs.page(None, JOBS_LOOKED_AT, None)
    newest = next((record for record in page if record.lifecycle == Lifecycle.STORED), None)
    standard = await _followed(store, tenant_id, newest)
    used = await quota.status(store)
    fields: dict[str, object] = {
        "tenant_id": tenant_id,
        "active_drifts": existing.active_drifts if existing else len(await store.drifts.active()),
        "quota_month": used.month,
        "quota_used": used.used,
        "job_slots_used": sum(1 for record in page if not record.graph_deleted),
        "last_failure": _failure(page[0]) if page else None,
        "standard_revision": standard.revision if standard else None,
        "refreshed": datetime.now(UTC),
    }
    if newest is None:
        return Summary.model_validate(fields)
    fields |= {"snapshot_id": newest.id, "snapshot_stored": newest.stored, "resource_count": newest.resource_count}
    fields |= await _changes(newest)
    if standard is not None:
        fields |= await _deviations(newest, standard)
    return Summary.model_validate(fields)


def _failure(record: JobRecord) -> str | None:
    if record.lifecycle in (Lifecycle.FAILED, Lifecycle.NO_CONTENT):
        reasons = record.content_error or "; ".join(record.error_details) or record.status.value
        return f"snapshot {record.id}: {reasons}"[:500]
    return None


async def _changes(newest: JobRecord) -> dict[str, object]:
    try:
        previous = await reads.previous_job(newest)
    except errors.NotFound:
        return {}
    pair = compare.Compared(newest, previous, sorted(reads.types_of(newest)), clients.store(), clients.store())
    counts = await compare.counts_of(pair)
    return {
        "previous_id": previous.id,
        "changes": Counts(added=counts.added, removed=counts.removed, changed=counts.changed),
    }


async def _deviations(newest: JobRecord, standard: Standard) -> dict[str, object]:
    types = [name for name in standard.resource_types if name.lower() in reads.types_of(newest)]
    missing = sorted(set(standard.resource_types) - set(types))
    if not types:
        return {"deviation_error": f"snapshot {newest.id} has none of the standard's resource types"}
    try:
        counts = await compare.counts_against(newest, standard.tenant_id, standard.snapshot_id, types)
    except (errors.NotFound, errors.TenantNotRegistered) as exc:
        return {"deviation_error": f"the standard could not be read: {exc.detail}"}
    by_type = {name: c.to_json() for name, c in counts.by_resource_type.items()}
    lacks = f"snapshot {newest.id} lacks the standard's {', '.join(missing)}" if missing else None
    return {"deviations": deviations_by_workload(by_type), "deviation_error": lacks}


async def _followed(store: Store, tenant_id: str, newest: JobRecord | None) -> Standard | None:
    """The standard; advanced first to `newest` when this is the golden tenant, the standard follows its latest
    snapshot and `newest` was stored after the standard's (never backwards), and sent again to every tenant if
    its revision's messages did not all go out."""
    standard = await store.fleet.standard()
    if standard is None or standard.tenant_id != tenant_id:
        return standard
    if standard.follows_latest and newest is not None and _later(newest, standard):
        advanced = standard.model_copy(update={
            "snapshot_id": newest.id, "snapshot_stored": newest.stored, "revision": standard.revision + 1,
            "set_at": datetime.now(UTC),
        })  # fmt: skip
        try:
            standard = await store.fleet.save_standard(advanced)
        except ConcurrencyConflict:  # changed meanwhile (a PUT, another refresh): decide from what it is now
            return await store.fleet.standard()
        log.info(
            "fleet standard follows tenant %s to snapshot %s (revision %d)", tenant_id, newest.id, standard.revision
        )
    if standard.refreshed_revision < standard.revision:
        await fan_out(standard)
    return standard


def _later(newest: JobRecord, standard: Standard) -> bool:
    if newest.id == standard.snapshot_id or newest.stored is None:
        return False
    if not {name.lower() for name in standard.resource_types} <= reads.types_of(newest):
        return False
    return standard.snapshot_stored is None or newest.stored > standard.snapshot_stored


async def note_drifts() -> None:
    """After a drift poll: the current tenant's count of active drifts on its summary."""
    store = clients.store()
    tenant = clients.current_tenant()
    active = len(await store.drifts.active())
    for _ in range(ATTEMPTS):
        existing = await store.fleet.summary(tenant.id) or Summary(tenant_id=tenant.id)
        if existing.active_drifts == active and existing.etag is not None:
            return
        try:
            await store.fleet.save_summary(existing.model_copy(update={"active_drifts": active}))
            return
        except ConcurrencyConflict:
            continue


@dataclass
class FleetPage:
    rows: list[FleetRow]
    continuation: str | None
    count: int  # tenants in the fleet
    groups: dict[str, int]  # tenants per fleet.Group
    standard: Standard | None


async def page(order_by: str | None, top: str | None, token: str | None) -> FleetPage:
    """One page of the fleet, ordered, from three reads (the registry, the summaries, the standard)."""
    order = _order(order_by)
    size, offset = _size(top), _offset(token)
    rows, standard = await fleet_rows()
    chosen = ordered(rows, order)[offset : offset + size]
    following = offset + size
    return FleetPage(
        chosen, str(following) if following < len(rows) else None, len(rows),
        group_counts(rows), standard,
    )  # fmt: skip


async def fleet_rows() -> tuple[list[FleetRow], Standard | None]:
    """Every tenant not removed, with its summary; and the standard."""
    store = clients.store()
    registry = [record for record in await tenants.list_all() if record.status != TenantStatus.REMOVED]
    summaries = {summary.tenant_id: summary for summary in await store.fleet.summaries()}
    standard = await store.fleet.standard()
    revision = standard.revision if standard else None
    rows = [FleetRow(tenant=r, summary=summaries.get(r.tenant_id), standard_revision=revision) for r in registry]
    return rows, standard


def _order(value: str | None) -> OrderBy:
    chosen = ORDERS[0] if value is None else value
    for order in ORDERS:
        if chosen == order:
            return order
    raise errors.ValidationFailed([errors.FieldError("orderBy", f"must be one of {', '.join(ORDERS)}")])


def _size(value: str | None) -> int:
    if value is None:
        return PAGE_MAX
    if not WHOLE.fullmatch(value) or not 1 <= int(value) <= PAGE_MAX:
        raise errors.ValidationFailed([errors.FieldError("top", f"must be a whole number from 1 to {PAGE_MAX}")])
    return int(value)


def _offset(value: str | None) -> int:
    if value is None:
        return 0
    if not WHOLE.fullmatch(value):
        raise errors.ValidationFailed([errors.FieldError("continuationToken", "must be a token a nextLink gave")])
    return int(value)
