"""Onboarding and the tenant registry: register, probe, read, list and remove tenants (docs/tenants.md).

The home tenant is always there (a row made on first use) and reached with the managed identity itself; any
other tenant needs SNAPSHOT_TENANCY=multi. A probe gets the tenant's Graph token and lists its snapshot jobs
(one GET, nothing changed in the tenant); its status comes from what that showed (snapshot/onboarding.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from snapshot import clients, errors, tenancy
from snapshot.onboarding import (
    CONSENT_PENDING_CODES,
    MESSAGE_LEASE,
    RegisterTenantRequest,
    TenantRecord,
    TenantStatus,
    claim_holds,
)
from snapshot.settings import get_settings
from snapshot.store.purge import purge_rows
from snapshot.store.tables import ConcurrencyConflict
from snapshot.tenancy import Tenant

log = logging.getLogger(__name__)
HOME_DISPLAY_NAME = "Home tenant"


async def home_record() -> TenantRecord:
    """The home tenant's row, made (as ready: the app has always worked there) the first time it is asked for."""
    settings = get_settings()
    home = tenancy.home_tenant(settings)
    table = clients.store().tenants
    record = await table.get(home.id)
    if record is None:
        fresh = TenantRecord(
            tenant_id=home.id, display_name=HOME_DISPLAY_NAME, home=True, status=TenantStatus.READY,
            registered=datetime.now(UTC),
        )  # fmt: skip
        try:
            record = await table.insert(fresh)
        except ConcurrencyConflict:
            record = await table.get(home.id) or fresh
    return record


async def register(request: RegisterTenantRequest) -> tuple[TenantRecord, bool]:
    """Add the tenant (or take it back after a removal) and probe it; (its record, whether it was new)."""
    settings = get_settings()
    tenant = tenancy.parse_tenant_id(settings, request.tenantId)
    if tenant.home:
        return await home_record(), False
    clients.graph_of(tenant)  # refuses, before anything is stored, a tenant this deployment cannot reach
    table = clients.store().tenants
    created = True
    try:
        await table.insert(
            TenantRecord(tenant_id=tenant.id, display_name=request.displayName, registered=datetime.now(UTC))
        )
    except ConcurrencyConflict:
        created = False
        await table.apply(tenant.id, lambda record: _taken_back(record, request.displayName))
    return await probe(tenant), created


def _taken_back(record: TenantRecord, display_name: str) -> dict[str, Any]:
    """A registration of a tenant already there: its new name, and, if it was removed, back to be probed."""
    back = {"status": TenantStatus.PENDING_CONSENT} if record.status == TenantStatus.REMOVED else {}
    return {"display_name": display_name, **back}


async def probe(tenant: Tenant) -> TenantRecord:
    """Ask Entra for the tenant's token and Graph for its job list; store the status that follows (not over
    `removed`)."""
    status, detail, codes = await _observe(tenant)
    observed: dict[str, Any] = {"status": status, "detail": detail, "error_codes": codes, "checked": datetime.now(UTC)}
    # A tenant removed while the probe ran stays removed: the probe started before the removal.
    record = await clients.store().tenants.apply(
        tenant.id, lambda current: {} if current.status == TenantStatus.REMOVED else observed
    )
    if record is None:
        raise errors.TenantNotRegistered(f"no tenant {tenant.id} is registered")
    log.info("tenant %s probed: %s", tenant.id, status.value)
    return record


async def _observe(tenant: Tenant) -> tuple[TenantStatus, str | None, list[int]]:
    with clients.working_in(tenant):
        graph = clients.graph()
        try:
            await graph.token_check()
            await graph.list_jobs()
        except errors.TenantRefusedToken as exc:
            pending = CONSENT_PENDING_CODES.intersection(exc.error_codes)
            return (TenantStatus.PENDING_CONSENT if pending else TenantStatus.UNREACHABLE), exc.entra, exc.error_codes
        except errors.GraphPermissionDenied as exc:
            return TenantStatus.MISSING_PERMISSIONS, exc.detail, []
        except errors.ServiceError as exc:
            return TenantStatus.UNREACHABLE, exc.detail, []
    return TenantStatus.READY, None, []


async def get(tenant_id: str, refresh: bool = False) -> TenantRecord:
    tenant = tenancy.parse_tenant_id(get_settings(), tenant_id)
    if tenant.home:
        return await home_record()
    record = await clients.store().tenants.get(tenant.id)
    if record is None:
        raise errors.TenantNotRegistered(f"no tenant {tenant.id} is registered; POST /api/tenants registers it")
    if refresh and record.status != TenantStatus.REMOVED:
        record = await probe(tenant)
    return record


async def list_all() -> list[TenantRecord]:
    """Every tenant, the home tenant first, then by display name.

    A row marked home under another id is the home tenant's from before SNAPSHOT_HOME_TENANT_ID was set (or
    changed): the home tenant's rows are keyed without its id, so they are the current home's now, and that
    row is left out rather than polled as a second tenant.
    """
    home = await home_record()
    others = [r for r in await clients.store().tenants.all() if r.tenant_id != home.tenant_id and not r.home]
    return [home, *sorted(others, key=lambda r: (r.display_name.lower(), r.tenant_id))]


async def active(tenant_id: str) -> Tenant:
    """The tenant of a tenant-scoped route: registered and not removed (the home tenant always is)."""
    record = await get(tenant_id)
    if record.status == TenantStatus.REMOVED:
        raise errors.TenantNotRegistered(f"tenant {record.tenant_id} was removed; POST /api/tenants registers it again")
    return tenant_of(record)


def tenant_of(record: TenantRecord) -> Tenant:
    return tenant_of_id(record.tenant_id)


def tenant_of_id(tenant_id: str) -> Tenant:
    """The tenant a registered id names: the home tenant is the one the settings name now."""
    return Tenant(tenant_id, home=tenant_id == tenancy.home_tenant(get_settings()).id)


async def remove(tenant_id: str, purge: bool) -> int:
    """Stop all work for the tenant; with `purge`, also delete its stored rows (the count deleted)."""
    settings = get_settings()
    tenant = tenancy.parse_tenant_id(settings, tenant_id)
    if tenant.home:
        raise errors.ValidationFailed([errors.FieldError("tenantId", "the home tenant cannot be removed")])
    store = clients.store()
    now = datetime.now(UTC)
    record = await store.tenants.apply(tenant.id, {"status": TenantStatus.REMOVED, "checked": now})
    if record is None and not purge:
        raise errors.TenantNotRegistered(f"no tenant {tenant.id} is registered")
    if not purge:
        return 0
    if record is not None:
        await _refuse_while_in_flight(record, tenant, now)
    names = [name for name in settings.tables if name not in (settings.tables.tenants, settings.tables.fleet)]
    deleted = await purge_rows(store.tables, names, tenant)
    await store.fleet.delete_summary(tenant.id)
    await store.tenants.delete(tenant.id)
    return deleted


async def _refuse_while_in_flight(record: TenantRecord, tenant: Tenant, now: datetime) -> None:
    """A message claimed before the removal may still be running: purging under it would leave rows it writes
    after. Each run clears its own claim (a removed tenant's message is dropped, its claim cleared), so this
    state clears once the queue has delivered them, or at the latest when the claims lapse."""
    jobs = await clients.store().for_tenant(tenant).jobs.all()
    claims = [record.poll_queued, record.drifts_queued, *(job.content_queued for job in jobs)]
    live = [claim for claim in claims if claim is not None and claim_holds(claim, now)]
    if live:
        newest = max(live)
        raise errors.TenantWorkInFlight(
            f"tenant {record.tenant_id} is removed (no new work starts), but {len(live)} queue message(s) claimed "
            f"before that have not run yet (the newest at {newest.isoformat()}); purge again once they have run, "
            f"at the latest at {(newest + MESSAGE_LEASE).isoformat()}",
            retry_after=30,
        )
