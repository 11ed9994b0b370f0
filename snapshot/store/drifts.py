"""The drifts table: PartitionKey = monitor id, RowKey = Graph's drift id; the record as JSON plus the
`Status` and `ResourceType` columns the drift list filters on. Rows are never deleted by the poller."""

from __future__ import annotations

from typing import Any

from snapshot.monitoring import DriftRecord
from snapshot.store.records import RecordTable, record_entity, record_of, upsert_all
from snapshot.store.tables import read_page, storage_errors


def drift_entity(partition: str, record: DriftRecord) -> dict[str, Any]:
    return record_entity(
        partition, record.id, record, Status=record.status.value, ResourceType=record.resource_type.lower()
    )


class DriftTable(RecordTable):
    async def for_monitor(self, monitor_id: str) -> list[DriftRecord]:
        table = await self._tables.get(self._name)
        with storage_errors():
            rows = table.query_entities("PartitionKey eq @m", parameters={"m": self._tenant.partition(monitor_id)})
            return [record_of(DriftRecord, row) async for row in rows]

    async def active(self) -> list[DriftRecord]:
        """Every drift of this tenant still active here, across monitors."""
        table = await self._tables.get(self._name)
        tenant_rows, parameters = self._tenant.range_filter()
        with storage_errors():
            rows = table.query_entities(f"{tenant_rows} and Status eq @s", parameters={**parameters, "s": "active"})
            return [record_of(DriftRecord, row) async for row in rows]

    async def write(self, records: list[DriftRecord]) -> None:
        table = await self._tables.get(self._name)
        await upsert_all(table, [drift_entity(self._tenant.partition(r.monitor_id), r) for r in records])

    async def page(
        self,
        status: str | None,
        monitor_id: str | None,
        resource_type: str | None,
        top: int,
        continuation: str | None,
    ) -> tuple[list[DriftRecord], str | None]:
        tenant_rows, parameters = self._tenant.range_filter()
        clauses = [tenant_rows]
        for column, name, value in (
            ("Status", "s", status),
            ("PartitionKey", "m", self._tenant.partition(monitor_id) if monitor_id else None),
            ("ResourceType", "t", resource_type.lower() if resource_type else None),
        ):
            if value:
                clauses.append(f"{column} eq @{name}")
                parameters[name] = value
        table = await self._tables.get(self._name)
        page = await read_page(table, " and ".join(clauses), parameters, top, continuation)
        return [record_of(DriftRecord, item) for item in page.items], page.continuation
