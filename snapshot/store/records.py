"""Monitor-side rows: a pydantic record kept as one JSON column `Record`, plus the columns queries filter on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from azure.data.tables.aio import TableClient
from pydantic import BaseModel

from snapshot.store.resources import transaction_batches
from snapshot.store.tables import Tables, storage_errors
from snapshot.tenancy import Tenant

RECORD_COLUMN = "Record"

M = TypeVar("M", bound=BaseModel)


class RecordTable:
    """A tenant's records in a table on the shared table service (PartitionKeys made by `tenant.partition`)."""

    def __init__(self, tables: Tables, name: str, tenant: Tenant) -> None:
        self._tables = tables
        self._name = name
        self._tenant = tenant


def record_entity(partition: str, row: str, record: BaseModel, **columns: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {"PartitionKey": partition, "RowKey": row, RECORD_COLUMN: record.model_dump_json()}
    entity.update({name: value for name, value in columns.items() if value is not None})
    return entity


def record_of(model: type[M], entity: Mapping[str, Any]) -> M:
    record = model.model_validate_json(entity[RECORD_COLUMN])
    etag = getattr(entity, "metadata", {}).get("etag")
    if etag is not None and "etag" in model.model_fields:
        record = record.model_copy(update={"etag": etag})
    return record


async def upsert_all(table: TableClient, entities: list[dict[str, Any]]) -> None:
    """Upsert in entity-group transactions (one partition each, under the limits of `transaction_batches`)."""
    by_partition: dict[str, list[dict[str, Any]]] = {}
    for entity in entities:
        by_partition.setdefault(entity["PartitionKey"], []).append(entity)
    for group in by_partition.values():
        for batch in transaction_batches(group):
            with storage_errors():
                await table.submit_transaction(batch)
