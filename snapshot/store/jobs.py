"""The jobs table: one partition `job` per tenant (`Tenant.partition`), two rows per job written together in one entity-group transaction.

- the record, RowKey = the Graph job id (point reads, ETag-guarded updates);
- the listing row, RowKey = `~<inverted created ticks>_<id>`, so a range query reads newest first and
  Table Storage's own continuation token pages it.
A record's fields map to columns by one table (`COLUMNS`); list, dict and model fields are stored as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import typing
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode
from pydantic import BaseModel

from snapshot import errors
from snapshot.models import JobRecord
from snapshot.recent import Recent
from snapshot.store.tables import (
    ConcurrencyConflict,
    Tables,
    is_table_key,
    newest_first_key,
    read_page,
    storage_errors,
)
from snapshot.tenancy import Tenant

JOBS_PARTITION = "job"
LISTING_PREFIX = "~"
PARSED_RECORDS_KEPT = 512  # a few KB each; Graph runs at most 12 jobs at once, so polled jobs all fit

# JobRecord field -> column, where the column is not the field's PascalCase name.
COLUMN_NAMES = {
    "id": "JobId",
    "created": "CreatedDateTime",
    "completed": "CompletedDateTime",
    "stored": "StoredDateTime",
    "updated": "UpdatedDateTime",
}


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _is_json(annotation: Any) -> bool:
    """list, dict and model fields (also when optional) are stored as one JSON string column."""
    kinds = (annotation, *typing.get_args(annotation))
    return any(
        typing.get_origin(kind) in (list, dict) or (isinstance(kind, type) and issubclass(kind, BaseModel))
        for kind in kinds
    )


FIELDS = [name for name in JobRecord.model_fields if name != "etag"]
COLUMNS = {name: COLUMN_NAMES.get(name, _pascal(name)) for name in FIELDS}
JSON_FIELDS = frozenset(name for name in FIELDS if _is_json(JobRecord.model_fields[name].annotation))


def listing_key(record: JobRecord) -> str:
    return LISTING_PREFIX + newest_first_key(record.created or datetime.now(UTC), record.id)


def job_entity(record: JobRecord, row_key: str, partition: str = JOBS_PARTITION) -> dict[str, Any]:
    """The record as a Table entity (None values are left out, so the column is absent)."""
    record = record.model_copy(update={"updated": datetime.now(UTC)})
    plain = record.model_dump(exclude=set(JSON_FIELDS) | {"etag"})
    as_json = record.model_dump(mode="json", include=set(JSON_FIELDS))
    entity: dict[str, Any] = {"PartitionKey": partition, "RowKey": row_key}
    for name in FIELDS:
        if name in JSON_FIELDS:
            value = None if as_json[name] is None else json.dumps(as_json[name])
        else:
            value = plain[name].value if isinstance(plain[name], Enum) else plain[name]
        if value is not None:
            entity[COLUMNS[name]] = value
    return entity


def record_from_entity(entity: Mapping[str, Any]) -> JobRecord:
    values: dict[str, Any] = {}
    for name in FIELDS:
        value = entity.get(COLUMNS[name])
        if value is None:
            continue
        values[name] = json.loads(value) if name in JSON_FIELDS else value
    metadata = getattr(entity, "metadata", {}) or {}
    return JobRecord.model_validate({**values, "etag": metadata.get("etag")})


class ParsedRecords:
    """Records already parsed, by (RowKey, ETag), the most recently used kept: a row read again unchanged (a
    Logic App polling its job) is not decoded and validated again. Table Storage gives a row a new ETag on
    every write, so an entry is never stale; records are immutable, so every reader can share one."""

    def __init__(self, size: int = PARSED_RECORDS_KEPT) -> None:
        self._records: Recent[tuple[str, str], JobRecord] = Recent(size)

    def record(self, entity: Mapping[str, Any]) -> JobRecord:
        etag = (getattr(entity, "metadata", None) or {}).get("etag")
        if not etag:
            return record_from_entity(entity)
        key = (str(entity.get("RowKey")), str(etag))
        return self._records.get_or_make(key, lambda: record_from_entity(entity))


class JobTable:
    def __init__(self, tables: Tables, name: str, tenant: Tenant) -> None:
        self._tables = tables
        self._name = name
        self._partition = tenant.partition(JOBS_PARTITION)
        self._parsed = ParsedRecords()

    def _entity(self, record: JobRecord, row_key: str) -> dict[str, Any]:
        return job_entity(record, row_key, self._partition)

    async def get(self, job_id: str) -> JobRecord | None:
        if not is_table_key(job_id) or job_id.startswith(LISTING_PREFIX):  # listing rows share the partition
            return None
        table = await self._tables.get(self._name)
        with storage_errors():
            try:
                entity = await table.get_entity(self._partition, job_id)
            except ResourceNotFoundError:
                return None
        return self._parsed.record(entity)

    async def get_many(self, job_ids: list[str]) -> list[JobRecord | None]:
        """Point reads of a few jobs at once (e.g. the at most 12 Graph shows), in the order asked."""
        return list(await asyncio.gather(*(self.get(job_id) for job_id in job_ids)))

    async def insert(self, record: JobRecord) -> JobRecord:
        """Write a new job (record + listing row); ConcurrencyConflict if the id is already there."""
        operations: list[Any] = [
            ("create", self._entity(record, record.id)),
            ("upsert", self._entity(record, listing_key(record)), {"mode": UpdateMode.REPLACE}),
        ]
        return await self._transact(record, operations)

    async def update(self, record: JobRecord) -> JobRecord:
        """Replace the job if nobody changed it since `record.etag` was read; else ConcurrencyConflict."""
        if record.etag is None:
            raise ValueError("update needs the ETag the record was read with")
        guarded = {"mode": UpdateMode.REPLACE, "etag": record.etag, "match_condition": MatchConditions.IfNotModified}
        operations: list[Any] = [
            ("update", self._entity(record, record.id), guarded),
            ("upsert", self._entity(record, listing_key(record)), {"mode": UpdateMode.REPLACE}),
        ]
        return await self._transact(record, operations)

    async def save(self, record: JobRecord) -> JobRecord:
        """`insert` a record never saved (it has no ETag yet), else `update` it."""
        return await (self.insert(record) if record.etag is None else self.update(record))

    async def apply(self, record: JobRecord, changes: dict[str, Any], attempts: int = 5) -> JobRecord:
        """Set these fields, re-reading the job and applying them again when someone else changed it first."""
        for _ in range(attempts):
            try:
                return await self.update(record.model_copy(update=changes))
            except ConcurrencyConflict:
                current = await self.get(record.id)
                if current is None:
                    raise errors.NotFound(f"no snapshot job with id {record.id!r}") from None
                record = current
        raise errors.StorageUnavailable(f"job {record.id} kept changing; try again", retry_after=1)

    async def _transact(self, record: JobRecord, operations: list[Any]) -> JobRecord:
        table = await self._tables.get(self._name)
        with storage_errors():
            try:
                results = await table.submit_transaction(operations)
            except TableTransactionError as exc:
                code = str(getattr(exc, "error_code", "") or "")
                if exc.status_code in (409, 412) or code in ("EntityAlreadyExists", "UpdateConditionNotSatisfied"):
                    raise ConcurrencyConflict(code) from None
                raise
        return record.model_copy(update={"etag": results[0].get("etag")})

    async def delete(self, record: JobRecord) -> None:
        table = await self._tables.get(self._name)
        with storage_errors():
            for row_key in (listing_key(record), record.id):
                with contextlib.suppress(ResourceNotFoundError):
                    await table.delete_entity(self._partition, row_key)

    async def all(self) -> list[JobRecord]:
        """Every job record (the poller reconciles them all; the table holds at most thousands)."""
        table = await self._tables.get(self._name)
        query = "PartitionKey eq @partition and RowKey lt @listing"
        parameters = {"partition": self._partition, "listing": LISTING_PREFIX}
        with storage_errors():
            return [self._parsed.record(e) async for e in table.query_entities(query, parameters=parameters)]

    async def older(self, record: JobRecord) -> AsyncIterator[JobRecord]:
        """The jobs listed after `record` (created before it, or at the same time with a greater id), newest first."""
        table = await self._tables.get(self._name)
        query = "PartitionKey eq @partition and RowKey gt @after"
        parameters = {"partition": self._partition, "after": listing_key(record)}
        with storage_errors():
            async for entity in table.query_entities(query, parameters=parameters):
                yield self._parsed.record(entity)

    async def page(self, status: str | None, top: int, continuation: str | None) -> tuple[list[JobRecord], str | None]:
        """One page of jobs, newest first (the listing rows), optionally of one status."""
        table = await self._tables.get(self._name)
        query = "PartitionKey eq @partition and RowKey gt @listing"
        parameters = {"partition": self._partition, "listing": LISTING_PREFIX}
        if status:
            query += " and Status eq @status"
            parameters["status"] = status
        page = await read_page(table, query, parameters, top, continuation)
        return [self._parsed.record(e) for e in page.items], page.continuation
