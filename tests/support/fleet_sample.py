"""Fleet pages for the browser tests and the screenshot: a plausible fleet, and one of hostile tenant names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from snapshot.fleet import Counts, FleetRow, Standard, Summary, ordered, row_view
from snapshot.onboarding import TenantRecord, TenantStatus
from snapshot.report import fleet_page
from tests.support.report_sample import HOSTILE_NAMES

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
BASE = "https://func-snapshots.azurewebsites.net/api"
STANDARD = Standard(
    tenant_id="7e1a0000-0000-4000-8000-00000000f0a1", snapshot_id="5b1c2d3e-0000-4000-8000-000000000001",
    follows_latest=True, resource_types=["microsoft.entra.conditionalAccessPolicy", "microsoft.exchange.acceptedDomain"],
    revision=3, set_at=NOW - timedelta(days=20),
)  # fmt: skip


def tenant_id(n: int) -> str:
    return f"7e1a0000-0000-4000-8000-{n:012x}"


def _row(n: int, name: str, status: TenantStatus, **summary: Any) -> FleetRow:
    tenant = TenantRecord(tenant_id=tenant_id(n), display_name=name, status=status, registered=NOW,
                          last_error=summary.pop("last_error", None))  # fmt: skip
    base = {"tenant_id": tenant_id(n), "snapshot_id": f"5b1c2d3e-0000-4000-8000-{n:012x}", "resource_count": 140,
            "snapshot_stored": NOW - timedelta(hours=summary.pop("age", 30)), "previous_id": "prev",
            "standard_revision": 3, "quota_month": "2026-12", "quota_used": 420, "job_slots_used": 4,
            "refreshed": NOW}  # fmt: skip
    return FleetRow(tenant=tenant, summary=Summary.model_validate({**base, **summary}), standard_revision=3)


def sample_rows() -> list[FleetRow]:
    quiet = {"changes": Counts(), "deviations": {"entra": 0, "exchange": 0}}
    rows = [
        _row(1, "Northwind (golden)", TenantStatus.READY, **quiet),
        _row(2, "Fabrikam", TenantStatus.READY, changes=Counts(changed=2), deviations={"entra": 3, "exchange": 1},
             active_drifts=2),
        _row(3, "Tailspin Toys", TenantStatus.FAILING, changes=None, deviations={"entra": 0},
             last_error="RowContended: the row of tenant changed under each of 5 writes; retry", age=200),
        _row(4, "Contoso Pharma", TenantStatus.READY, changes=Counts(added=1, removed=1), deviations={"entra": 0}),
        _row(5, "Adatum", TenantStatus.READY, deviations=None, deviation_error="snapshot 5b1c lacks the standard's "
             "microsoft.exchange.acceptedDomain"),
        *(_row(10 + i, f"Customer {i:03d}", TenantStatus.READY, **quiet) for i in range(12)),
    ]  # fmt: skip
    pending = TenantRecord(tenant_id=tenant_id(6), display_name="Litware (consent pending)", registered=NOW,
                           detail="AADSTS700016: Application not found in the directory")  # fmt: skip
    return [*rows, FleetRow(tenant=pending, summary=None, standard_revision=3)]


def hostile_rows() -> list[FleetRow]:
    rows = []
    for n, name in enumerate(HOSTILE_NAMES, start=1):
        status = TenantStatus.FAILING if n % 3 == 0 else TenantStatus.READY
        rows.append(_row(n, name, status, changes=Counts(changed=n % 2), deviations={name[:40]: n % 3},
                         last_error=name if n % 3 == 0 else None))  # fmt: skip
    return rows


def render(rows: list[FleetRow]) -> str:
    views = [row_view(row, BASE, NOW) for row in ordered(rows, "deviations")]
    return fleet_page.page(views, STANDARD.view(), NOW)
