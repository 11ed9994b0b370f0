"""The quota ledger: one row per (tenant and UTC month of completion, job) holding the resources stored for that job.

Re-running an ingestion, or two pollers storing the same job, write the same row, so each job counts once.
"""

from __future__ import annotations

from azure.data.tables import UpdateMode

from snapshot.store.tables import Tables, storage_errors
from snapshot.tenancy import Tenant


class QuotaLedger:
    def __init__(self, tables: Tables, name: str, tenant: Tenant) -> None:
        self._tables = tables
        self._name = name
        self._tenant = tenant

    async def record(self, month: str, job_id: str, resources: int) -> None:
        table = await self._tables.get(self._name)
        with storage_errors():
            await table.upsert_entity(
                {"PartitionKey": self._tenant.partition(month), "RowKey": job_id, "Resources": resources},
                mode=UpdateMode.REPLACE,
            )

    async def used(self, month: str) -> int:
        table = await self._tables.get(self._name)
        total = 0
        with storage_errors():
            rows = table.query_entities(
                "PartitionKey eq @month", parameters={"month": self._tenant.partition(month)}, select=["Resources"]
            )
            async for row in rows:
                total += int(row.get("Resources", 0))
        return total
