"""The fleet as kept: the standard (the golden tenant's snapshot every tenant is compared with), one summary per
tenant (refreshed when a snapshot is stored), and how a page of the fleet is ordered and grouped (docs/fleet.md).

Pure: records and rules only. usecases/fleet.py computes and stores the summaries; the page reads them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapshot import catalogue
from snapshot.models import GRAPH_JOB_LIMIT, LATEST
from snapshot.onboarding import TenantRecord, TenantStatus

PAGE_MAX = 100


class StandardRequest(BaseModel):
    """PUT /api/fleet/standard."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    tenantId: str = Field(min_length=1, description="the golden tenant: a registered tenant's id, or home")
    snapshotId: str = Field(
        LATEST, min_length=1, description="one of its stored snapshots, or latest (its newest, followed as it changes)"
    )
    resourceTypes: list[str] | None = Field(
        None, min_length=1, max_length=400, description="the types compared (default: every type of the snapshot)"
    )

    @field_validator("resourceTypes")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else catalogue.documented_types(value)


class Standard(BaseModel):
    """The standard as stored. `revision` grows with every change, so a summary knows whether it is current."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    snapshot_id: str  # the snapshot compared with (resolved when `follows_latest`)
    follows_latest: bool
    resource_types: list[str]
    revision: int
    set_at: datetime
    snapshot_stored: datetime | None = None  # when the standard's snapshot was stored: it only moves forward
    refreshed_revision: int = 0  # the revision whose `fleet` messages were all sent
    etag: str | None = Field(None, exclude=True)

    def view(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id,
            "snapshotId": self.snapshot_id,
            "followsLatest": self.follows_latest,
            "resourceTypes": self.resource_types,
            "revision": self.revision,
            "setAt": self.set_at,
        }


class Counts(BaseModel):
    model_config = ConfigDict(frozen=True)

    added: int = 0
    removed: int = 0
    changed: int = 0

    @property
    def total(self) -> int:
        return self.added + self.removed + self.changed


class Summary(BaseModel):
    """One tenant's row of the fleet, as its last refresh computed it from stored rows."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    snapshot_id: str | None = None  # the newest stored snapshot
    snapshot_stored: datetime | None = None
    resource_count: int | None = None
    previous_id: str | None = None
    changes: Counts | None = None  # since `previous_id`; None: no earlier snapshot to compare with
    standard_revision: int | None = None  # the standard the deviations were counted against
    deviations: dict[str, int] | None = None  # per workload (added + removed + changed); None: not compared
    deviation_error: str | None = None  # why the comparison with the standard could not be made
    active_drifts: int = 0
    quota_month: str | None = None
    quota_used: int = 0
    job_slots_used: int = 0  # jobs Graph still keeps, as the poller last saw them
    last_failure: str | None = None  # the newest job's failure, when its snapshot or content failed
    refreshed: datetime | None = None
    etag: str | None = Field(None, exclude=True)

    @property
    def deviation_total(self) -> int | None:
        return None if self.deviations is None else sum(self.deviations.values())


def deviations_by_workload(by_resource_type: dict[str, dict[str, int]]) -> dict[str, int]:
    """Per-type diff counts (the diff's `byResourceType`) -> added + removed + changed per workload."""
    workloads: dict[str, int] = {}
    for name, counts in by_resource_type.items():
        count = counts.get("added", 0) + counts.get("removed", 0) + counts.get("changed", 0)
        workloads[catalogue.workload(name)] = workloads.get(catalogue.workload(name), 0) + count
    return workloads


class Group(StrEnum):
    """Where a tenant shows on the fleet page, in this order."""

    ATTENTION = "attention"  # deviates from the standard, or the app could not work there
    CHANGED = "changed"  # changed since its previous snapshot
    QUIET = "quiet"


TROUBLED = frozenset(
    {TenantStatus.FAILING, TenantStatus.UNREACHABLE, TenantStatus.MISSING_PERMISSIONS, TenantStatus.PENDING_CONSENT}
)


class FleetRow(BaseModel):
    """A tenant's row of GET /api/fleet: its registry row and its summary, joined."""

    model_config = ConfigDict(frozen=True)

    tenant: TenantRecord
    summary: Summary | None
    standard_revision: int | None

    @property
    def current(self) -> bool:
        """Its deviations were counted against the standard as it is now."""
        return self.summary is not None and self.summary.standard_revision == self.standard_revision

    @property
    def deviations(self) -> int | None:
        return self.summary.deviation_total if self.summary is not None and self.current else None

    @property
    def error(self) -> str | None:
        summary_error = self.summary.last_failure if self.summary is not None else None
        return self.tenant.last_error or self.tenant.detail or summary_error

    @property
    def group(self) -> Group:
        troubled = self.tenant.status in TROUBLED or bool(self.tenant.last_error)
        if troubled or (self.deviations or 0) > 0 or (self.summary is not None and self.summary.deviation_error):
            return Group.ATTENTION
        changes = self.summary.changes if self.summary is not None else None
        return Group.CHANGED if changes is not None and changes.total > 0 else Group.QUIET


def group_counts(rows: list[FleetRow]) -> dict[str, int]:
    """Tenants per group, every group named (in page order)."""
    return {group.value: sum(1 for row in rows if row.group == group) for group in Group}


OrderBy = Literal["deviations", "age", "name"]


def ordered(rows: list[FleetRow], order_by: OrderBy) -> list[FleetRow]:
    """`deviations`: most first (unknown after known), `age`: oldest snapshot first (none first), `name`."""

    def name(row: FleetRow) -> tuple[str, str]:
        return (row.tenant.display_name.lower(), row.tenant.tenant_id)

    if order_by == "deviations":
        return sorted(rows, key=lambda r: (r.deviations is None, -(r.deviations or 0), name(r)))
    if order_by == "age":
        return sorted(rows, key=lambda r: (_stored_key(r), name(r)))
    return sorted(rows, key=name)


def _stored_key(row: FleetRow) -> float:
    stored = row.summary.snapshot_stored if row.summary is not None else None
    return float("-inf") if stored is None else stored.timestamp()


def row_view(row: FleetRow, api_base: str, now: datetime) -> dict[str, Any]:
    """A tenant's row of GET /api/fleet; `reportUrl` is its newest snapshot's change report (no key in it)."""
    summary, tenant = row.summary, row.tenant
    view: dict[str, Any] = {
        "tenantId": tenant.tenant_id,
        "displayName": tenant.display_name,
        "home": tenant.home,
        "status": tenant.status.value,
        "group": row.group.value,
        "lastSnapshot": None,
        "changes": None,
        "deviations": None,
        "activeDrifts": summary.active_drifts if summary else 0,
        "quota": {"month": summary.quota_month, "used": summary.quota_used} if summary else None,
        "jobSlots": {"used": summary.job_slots_used if summary else 0, "limit": GRAPH_JOB_LIMIT},
        "lastError": row.error,
        "summarisedAt": summary.refreshed if summary else None,
    }
    if summary is None or summary.snapshot_id is None:
        return view
    scope = f"{api_base}/tenants/{quote(tenant.tenant_id, safe='')}/snapshots/{quote(summary.snapshot_id, safe='')}"
    age = None if summary.snapshot_stored is None else round((now - summary.snapshot_stored).total_seconds() / 3600, 1)
    view["lastSnapshot"] = {
        "id": summary.snapshot_id, "storedAt": summary.snapshot_stored, "ageHours": age,
        "resourceCount": summary.resource_count,
        "reportUrl": f"{scope}/report?against=previous" if summary.previous_id else None,
    }  # fmt: skip
    if summary.changes is not None:
        view["changes"] = {
            "against": summary.previous_id,
            **summary.changes.model_dump(),
            "total": summary.changes.total,
        }
    view["deviations"] = {
        "current": row.current,
        "total": row.deviations,
        "byWorkload": summary.deviations if row.current else None,
        "error": summary.deviation_error,
    }
    return view
