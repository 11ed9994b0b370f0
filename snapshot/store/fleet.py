"""The fleet table: rows about all tenants at once, so not keyed by tenant (like the registry).

- PartitionKey `standard`, RowKey `current`: the standard (fleet.Standard), ETag-guarded.
- PartitionKey `summary`, RowKey = tenant id: each tenant's summary (fleet.Summary), ETag-guarded; the whole
  partition is one query (1,000 tenants are one page), so a page of the fleet costs a constant number of reads.
- PartitionKey `round`, RowKey = round id: a round (rounds.Round); PartitionKey `round|<id>`, RowKey = tenant
  id: each tenant's part of that round (rounds.Member).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from pydantic import BaseModel

from snapshot.fleet import Standard, Summary
from snapshot.store.records import record_entity, record_of, upsert_all
from snapshot.store.tables import ConcurrencyConflict, Tables, is_table_key, storage_errors

STANDARD_PARTITION, STANDARD_ROW = "standard", "current"
SUMMARY_PARTITION = "summary"
ROUND_PARTITION = "round"
M = TypeVar("M", bound=BaseModel)


def member_partition(round_id: str) -> str:
    return f"{ROUND_PARTITION}|{round_id}"


class FleetTable:
    def __init__(self, tables: Tables, name: str) -> None:
        self._tables = tables
        self._name = name

    async def get_record(self, model: type[M], partition: str, row: str) -> M | None:
        if not is_table_key(row):
            return None
        table = await self._tables.get(self._name)
        with storage_errors():
            try:
                return record_of(model, await table.get_entity(partition, row))
            except ResourceNotFoundError:
                return None

    async def records(self, model: type[M], partition: str) -> list[M]:
        table = await self._tables.get(self._name)
        with storage_errors():
            rows = table.query_entities("PartitionKey eq @p", parameters={"p": partition})
            return [record_of(model, row) async for row in rows]

    async def _write(self, entity: dict[str, Any], etag: str | None) -> str | None:
        """Insert (etag None: only if absent) or replace (only if unchanged since `etag`); the new ETag."""
        table = await self._tables.get(self._name)
        try:
            with storage_errors():
                if etag is None:
                    meta = await table.create_entity(entity)
                else:
                    meta = await table.update_entity(
                        entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                    )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            raise ConcurrencyConflict(entity["RowKey"]) from None
        return meta.get("etag")

    async def standard(self) -> Standard | None:
        return await self.get_record(Standard, STANDARD_PARTITION, STANDARD_ROW)

    async def save_standard(self, standard: Standard) -> Standard:
        """Write the standard if nobody changed it since it was read (`etag`; None: there was none)."""
        etag = await self._write(record_entity(STANDARD_PARTITION, STANDARD_ROW, standard), standard.etag)
        return standard.model_copy(update={"etag": etag})

    async def summary(self, tenant_id: str) -> Summary | None:
        return await self.get_record(Summary, SUMMARY_PARTITION, tenant_id)

    async def summaries(self) -> list[Summary]:
        return await self.records(Summary, SUMMARY_PARTITION)

    async def save_summary(self, summary: Summary) -> Summary:
        """Write the summary if its row is unchanged since it was read (`etag`; None: there was none)."""
        etag = await self._write(record_entity(SUMMARY_PARTITION, summary.tenant_id, summary), summary.etag)
        return summary.model_copy(update={"etag": etag})

    async def delete_summary(self, tenant_id: str) -> None:
        await self.delete_record(SUMMARY_PARTITION, tenant_id)

    async def insert_record(self, partition: str, row: str, record: BaseModel) -> None:
        """Add a row; ConcurrencyConflict if it is already there."""
        await self._write(record_entity(partition, row, record), None)

    async def replace_record(self, partition: str, row: str, record: BaseModel, etag: str | None) -> str | None:
        """Replace the row if unchanged since `etag` (None: insert it); the new ETag, or ConcurrencyConflict."""
        return await self._write(record_entity(partition, row, record), etag)

    async def delete_record(self, partition: str, row: str) -> None:
        table = await self._tables.get(self._name)
        with storage_errors(), contextlib.suppress(ResourceNotFoundError):
            await table.delete_entity(partition, row)

    async def upsert_records(self, partition: str, records: Mapping[str, BaseModel]) -> None:
        table = await self._tables.get(self._name)
        await upsert_all(table, [record_entity(partition, row, record) for row, record in records.items()])
