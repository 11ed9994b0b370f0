"""Table Storage adapters: the jobs, idempotency, resources, quota-ledger and monitoring tables behind one `Store`."""

from __future__ import annotations

from typing import Any

from snapshot.settings import Settings
from snapshot.store.drifts import DriftTable
from snapshot.store.fleet import FleetTable
from snapshot.store.idempotency import IdempotencyKeys
from snapshot.store.jobs import JobTable
from snapshot.store.monitors import MonitorTable
from snapshot.store.quota_ledger import QuotaLedger
from snapshot.store.resources import ResourceTable
from snapshot.store.runs import RunTable
from snapshot.store.tables import Tables
from snapshot.store.tenants import TenantTable
from snapshot.tenancy import Tenant, home_tenant


class Store:
    """One tenant's rows in the app's tables on one table service (one client per table, reused).

    `tables` may be shared by every tenant's Store; the tenant only decides the PartitionKeys (snapshot/tenancy.py).
    """

    def __init__(
        self, settings: Settings, tenant: Tenant | None = None, tables: Tables | None = None, **client_options: Any
    ) -> None:
        self.settings = settings
        self.tenant = tenant = tenant or home_tenant(settings)
        self.tables = tables = tables or Tables(settings, **client_options)
        names = settings.tables
        self.jobs = JobTable(tables, names.jobs, tenant)
        self.keys = IdempotencyKeys(tables, names.idempotency, tenant)
        self.resources = ResourceTable(tables, names.resources, tenant)
        self.ledger = QuotaLedger(tables, names.quota, tenant)
        self.monitors = MonitorTable(tables, names.monitors, tenant)
        self.drifts = DriftTable(tables, names.drifts, tenant)
        self.runs = RunTable(tables, names.runs, tenant)
        self.tenants = TenantTable(tables, names.tenants)  # the registry: the same rows for every tenant's Store
        self.fleet = FleetTable(tables, names.fleet)  # rows about all tenants: the same for every tenant's Store

    def for_tenant(self, tenant: Tenant) -> Store:
        """The same tables, another tenant's rows."""
        return Store(self.settings, tenant, self.tables)

    async def close(self) -> None:
        await self.tables.close()

    async def ping(self) -> None:
        await self.tables.ping()
