"""The tenants table: the registry of tenants (PartitionKey `tenant`, RowKey = tenant id), ETag-guarded.

It is the one table not keyed by tenant: it lists them. Its rows are read whole (1,000 tenants are one page).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from snapshot import errors
from snapshot.onboarding import TenantRecord
from snapshot.store.records import record_entity, record_of
from snapshot.store.tables import ConcurrencyConflict, Tables, is_table_key, storage_errors

TENANTS_PARTITION = "tenant"
Changes = dict[str, Any] | Callable[[TenantRecord], dict[str, Any]]
TRANSACTION_ROWS = 100  # Table Storage's limit of operations in one entity-group transaction


class TenantTable:
    def __init__(self, tables: Tables, name: str) -> None:
        self._tables = tables
        self._name = name

    def _entity(self, record: TenantRecord) -> dict[str, Any]:
        return record_entity(TENANTS_PARTITION, record.tenant_id, record, Status=record.status.value)

    async def get(self, tenant_id: str) -> TenantRecord | None:
        if not is_table_key(tenant_id):
            return None
        table = await self._tables.get(self._name)
        with storage_errors():
            try:
                return record_of(TenantRecord, await table.get_entity(TENANTS_PARTITION, tenant_id))
            except ResourceNotFoundError:
                return None

    async def insert(self, record: TenantRecord) -> TenantRecord:
        """Add a tenant; ConcurrencyConflict if it is already there."""
        table = await self._tables.get(self._name)
        try:
            with storage_errors():
                meta = await table.create_entity(self._entity(record))
        except ResourceExistsError:
            raise ConcurrencyConflict(record.tenant_id) from None
        return record.model_copy(update={"etag": meta.get("etag")})

    async def update(self, record: TenantRecord) -> TenantRecord:
        """Replace the row if nobody changed it since `record.etag`; ConcurrencyConflict otherwise."""
        table = await self._tables.get(self._name)
        try:
            with storage_errors():
                meta = await table.update_entity(
                    self._entity(record),
                    mode=UpdateMode.REPLACE,
                    etag=record.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise ConcurrencyConflict(record.tenant_id) from None
        return record.model_copy(update={"etag": meta.get("etag")})

    async def update_all(self, records: list[TenantRecord]) -> list[TenantRecord]:
        """Replace up to TRANSACTION_ROWS rows in one transaction, each only if unchanged since its `etag`: all of
        them or none (ConcurrencyConflict when any one changed). The rows share one partition, so they can."""
        if len(records) > TRANSACTION_ROWS:
            raise ValueError(f"at most {TRANSACTION_ROWS} rows per transaction")
        condition = {"mode": UpdateMode.REPLACE, "match_condition": MatchConditions.IfNotModified}
        operations: list[Any] = [("update", self._entity(r), {**condition, "etag": r.etag}) for r in records]
        table = await self._tables.get(self._name)
        with storage_errors():
            try:
                results = await table.submit_transaction(operations)
            except TableTransactionError as exc:
                if exc.status_code in (404, 409, 412):
                    raise ConcurrencyConflict(str(exc.status_code)) from None
                raise
        return [r.model_copy(update={"etag": meta.get("etag")}) for r, meta in zip(records, results, strict=True)]

    async def apply(self, tenant_id: str, changes: Changes, attempts: int = 5) -> TenantRecord | None:
        """Set these fields on the current row, reading it again when someone changed it first (None: no row;
        RowContended when it changed under every attempt). `changes` may be a function of the current row,
        evaluated on each attempt, so what it decides from the row is decided from the row it writes; when it
        answers no change, nothing is written and the row is returned as it is."""
        for _ in range(attempts):
            record = await self.get(tenant_id)
            if record is None:
                return None
            update = changes(record) if callable(changes) else changes
            if not update:
                return record
            try:
                return await self.update(record.model_copy(update=update))
            except ConcurrencyConflict:
                continue
        raise errors.RowContended(
            f"the row of tenant {tenant_id} changed under each of {attempts} writes; retry", retry_after=1
        )

    async def all(self) -> list[TenantRecord]:
        table = await self._tables.get(self._name)
        with storage_errors():
            rows = table.query_entities("PartitionKey eq @p", parameters={"p": TENANTS_PARTITION})
            return [record_of(TenantRecord, row) async for row in rows]

    async def delete(self, tenant_id: str) -> None:
        table = await self._tables.get(self._name)
        with storage_errors(), contextlib.suppress(ResourceNotFoundError):
            await table.delete_entity(TENANTS_PARTITION, tenant_id)
