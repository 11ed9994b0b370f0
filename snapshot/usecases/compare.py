"""Which two stored snapshots a diff or a report compares, and their resource streams: in the current tenant
(`against` an id or `previous`), or across tenants (`against=<tenantId>:<id|latest>`), where each side's own
values (its tenant id, its domains, its objects' ids) are normalised first (diff/tenant_values.py, docs/fleet.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from snapshot import clients, errors
from snapshot.clients import Tenant
from snapshot.diff.merge import diff_streams
from snapshot.diff.result import DiffSummary
from snapshot.diff.tenant_values import TenantValues, learn_from, normalised, rules_applied
from snapshot.models import LATEST, JobRecord, Lifecycle
from snapshot.store import Store
from snapshot.usecases import reads, tenants

PAGE = 100


@dataclass
class Compared:
    """Two stored snapshots, where each one's rows are, and (across tenants) what each side's own values are."""

    new: JobRecord
    old: JobRecord
    resource_types: list[str] | None
    new_store: Store
    old_store: Store
    old_tenant: Tenant | None = None  # another tenant than the current one
    values: tuple[TenantValues, TenantValues] | None = None  # (old, new), learned by `streams`

    @property
    def against(self) -> str:
        """How `against` names the old snapshot (what the JSON diff answers and the report links)."""
        return self.old.id if self.old_tenant is None else f"{self.old_tenant.id}:{self.old.id}"

    async def streams(self) -> tuple[AsyncIterator[dict[str, Any]], AsyncIterator[dict[str, Any]]]:
        old = reads.stored_resources(self.old.id, self.old_store)
        new = reads.stored_resources(self.new.id, self.new_store)
        if self.old_tenant is None:
            return old, new
        current = clients.current_tenant()
        old_values = TenantValues(_tenant_id(self.old, self.old_tenant))
        new_values = TenantValues(_tenant_id(self.new, current))
        await learn_from(old_values, old)
        await learn_from(new_values, new)
        self.values = (old_values, new_values)
        return (
            normalised(old_values, reads.stored_resources(self.old.id, self.old_store)),
            normalised(new_values, reads.stored_resources(self.new.id, self.new_store)),
        )

    def normalisation(self) -> list[dict[str, Any]] | None:
        """The rules applied and what each replaced (None: same tenant, nothing normalised)."""
        return None if self.values is None else rules_applied(*self.values)


def _tenant_id(record: JobRecord, tenant: Tenant) -> str:
    """The side's tenant id: Graph's own on the job (the home tenant may be configured without its id)."""
    return (record.tenant_id or tenant.id).lower()


async def compared(job_id: str, against: str | None, resource_type: str | None = None) -> Compared:
    """Snapshot `job_id` and the one `against` names: an id or `previous` in this tenant, or `<tenant>:<id|latest>`."""
    if against and ":" in against:
        return await _across(job_id, against, resource_type)
    pair = await reads.compared_pair(job_id, against, resource_type)
    store = clients.store()
    return Compared(pair.new, pair.old, pair.resource_types, store, store)


async def _across(job_id: str, against: str, resource_type: str | None) -> Compared:
    tenant_part, _, reference = against.partition(":")
    try:
        other = await tenants.active(tenant_part)
    except errors.ValidationFailed:
        raise errors.ValidationFailed(
            [errors.FieldError("against", "must be <tenantId>:<snapshot id or latest> (a tenant id, a GUID, or home)")]
        ) from None
    if not reference:
        raise errors.ValidationFailed(
            [errors.FieldError("against", "names no snapshot after the tenant: add :latest or :<id>")]
        )
    new = await reads.stored_job(job_id)
    only = reads.resource_type_filter(resource_type)
    types = [only] if only else None
    with clients.working_in(other):
        old_store = clients.store()
        old = (
            await latest_stored(old_store, reads.types_of(new))
            if reference == LATEST
            else await reads.stored_job(reference)
        )
    if reference == LATEST and types is None:
        types = sorted(reads.types_of(new))
    return _pair(new, other, old, old_store, types)


def _pair(new: JobRecord, other: Tenant, old: JobRecord, old_store: Store, types: list[str] | None) -> Compared:
    if other == clients.current_tenant():
        return Compared(new, old, types, old_store, old_store)
    return Compared(new, old, types, clients.store(), old_store, old_tenant=other)


async def counts_against(new: JobRecord, tenant_id: str, snapshot_id: str, types: list[str] | None) -> DiffSummary:
    """The counts (no lists) of the diff from another tenant's (or this one's) stored snapshot to `new`."""
    other = await tenants.active(tenant_id)
    with clients.working_in(other):
        old_store = clients.store()
        old = await reads.stored_job(snapshot_id)
    return await counts_of(_pair(new, other, old, old_store, types))


async def counts_of(pair: Compared) -> DiffSummary:
    old, new = await pair.streams()
    return (await diff_streams(old, new, pair.resource_types, max_entries=0, max_changes=0)).summary


async def latest_stored(store: Store, wanted: set[str]) -> JobRecord:
    """The tenant's newest stored snapshot whose resource types (lower-cased) include all of `wanted`."""
    continuation: str | None = None
    looked = 0
    while True:
        page, continuation = await store.jobs.page(None, PAGE, continuation)
        for candidate in page:
            if candidate.lifecycle == Lifecycle.STORED:
                looked += 1
                if wanted <= reads.types_of(candidate):
                    return candidate
        if continuation is None:
            raise errors.NotFound(
                f"the tenant has no stored snapshot with all of the resource types {', '.join(sorted(wanted))}: "
                f"{looked} stored snapshot(s) looked at"
            )


async def diff_jobs(job_id: str, against: str | None, resource_type: str | None) -> dict[str, Any]:
    """What changed from snapshot `against` (older, `previous`, or `<tenant>:<id|latest>`) to `job_id`, streamed
    from the table; across tenants, with the rules that normalised each side's own values."""
    pair = await compared(job_id, against, resource_type)
    old, new = await pair.streams()
    result = await diff_streams(old, new, pair.resource_types)
    normalisation = pair.normalisation()
    extra = {} if normalisation is None else {"normalised": normalisation}
    return {"id": job_id, "against": pair.against, **result.to_json(), **extra}
