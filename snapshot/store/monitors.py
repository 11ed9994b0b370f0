"""The monitors table: one row per monitor the app created (PartitionKey `monitor`, RowKey = Graph's id), ETag-guarded,
and one row holding where the drift poller stopped reading monitoring results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from snapshot.monitoring import MonitorRecord
from snapshot.store.records import RecordTable, record_entity, record_of
from snapshot.store.tables import ConcurrencyConflict, is_table_key, storage_errors

MONITOR_PARTITION = "monitor"
CURSOR_PARTITION, RESULTS_CURSOR = "cursor", "results"


class MonitorTable(RecordTable):
    @property
    def _monitors(self) -> str:
        return self._tenant.partition(MONITOR_PARTITION)

    async def _entity(self, partition: str, row: str) -> Any:
        table = await self._tables.get(self._name)
        try:
            with storage_errors():
                return await table.get_entity(self._tenant.partition(partition), row)
        except ResourceNotFoundError:
            return None

    async def get(self, monitor_id: str) -> MonitorRecord | None:
        entity = await self._entity(MONITOR_PARTITION, monitor_id) if is_table_key(monitor_id) else None
        return None if entity is None else record_of(MonitorRecord, entity)

    async def put(self, record: MonitorRecord) -> None:
        table = await self._tables.get(self._name)
        with storage_errors():
            await table.upsert_entity(record_entity(self._monitors, record.id, record), mode=UpdateMode.REPLACE)

    async def update(self, record: MonitorRecord) -> MonitorRecord:
        """Replace the row if nobody changed it since it was read; ConcurrencyConflict otherwise."""
        table = await self._tables.get(self._name)
        try:
            with storage_errors():
                meta = await table.update_entity(
                    record_entity(self._monitors, record.id, record),
                    mode=UpdateMode.REPLACE,
                    etag=record.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise ConcurrencyConflict(record.id) from None
        return record.model_copy(update={"etag": meta.get("etag")})

    async def delete(self, monitor_id: str) -> None:
        table = await self._tables.get(self._name)
        with storage_errors():
            await table.delete_entity(self._monitors, monitor_id)

    async def all(self) -> list[MonitorRecord]:
        table = await self._tables.get(self._name)
        with storage_errors():
            rows = table.query_entities("PartitionKey eq @p", parameters={"p": self._monitors})
            return [record_of(MonitorRecord, row) async for row in rows]

    async def results_cursor(self) -> datetime | None:
        """The start of the newest monitoring result the poller has stored (None before the first)."""
        entity = await self._entity(CURSOR_PARTITION, RESULTS_CURSOR)
        value = None if entity is None else entity.get("Since")
        return value if isinstance(value, datetime) else None

    async def set_results_cursor(self, since: datetime) -> None:
        table = await self._tables.get(self._name)
        with storage_errors():
            await table.upsert_entity(
                {"PartitionKey": self._tenant.partition(CURSOR_PARTITION), "RowKey": RESULTS_CURSOR, "Since": since},
                mode=UpdateMode.REPLACE,
            )
