"""Table Storage adapters: the jobs, idempotency, resources, quota-ledger and monitoring tables behind one `Store`."""

from __future__ import annotations

from typing import Any

from snapshot.settings import Settings
from snapshot.store.drifts import DriftTable
from snapshot.store.idempotency import IdempotencyKeys
from snapshot.store.jobs import JobTable
from snapshot.store.monitors import MonitorTable
from snapshot.store.quota_ledger import QuotaLedger
from snapshot.store.resources import ResourceTable
from snapshot.store.runs import RunTable
from snapshot.store.tables import Tables


class Store:
    """The app's tables on one table service (one client per table, reused)."""

    def __init__(self, settings: Settings, **client_options: Any) -> None:
        self.settings = settings
        self.tables = Tables(settings, **client_options)
        self.jobs = JobTable(self.tables, settings.tables.jobs)
        self.keys = IdempotencyKeys(self.tables, settings.tables.idempotency)
        self.resources = ResourceTable(self.tables, settings.tables.resources)
        self.ledger = QuotaLedger(self.tables, settings.tables.quota)
        self.monitors = MonitorTable(self.tables, settings.tables.monitors)
        self.drifts = DriftTable(self.tables, settings.tables.drifts)
        self.runs = RunTable(self.tables, settings.tables.runs)

    async def close(self) -> None:
        await self.tables.close()

    async def ping(self) -> None:
        await self.tables.ping()
