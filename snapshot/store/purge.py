"""Deleting every row one tenant has in the app's tables (DELETE /api/tenants/{id}?purge=true).

The rows are found by the tenant's PartitionKey range (snapshot/tenancy.py), so no other tenant's row can be
touched, and deleted in entity-group transactions of one partition each. A purge that stops half-way is run
again by the same request: it deletes what is left.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableTransactionError

from snapshot.store.resources import TRANSACTION_MAX_ENTITIES
from snapshot.store.tables import Tables, storage_errors
from snapshot.tenancy import Tenant


async def purge_rows(tables: Tables, names: list[str], tenant: Tenant) -> int:
    """Delete the tenant's rows in each named table; the count deleted. The home tenant is never purged."""
    if tenant.home:
        raise ValueError("the home tenant's rows are never purged")
    clause, parameters = tenant.range_filter()
    deleted = 0
    for name in names:
        table = await tables.get(name)
        batches: dict[str, list[Any]] = {}
        with storage_errors():
            rows = table.query_entities(clause, parameters=parameters, select=["PartitionKey", "RowKey"])
            async for row in rows:
                batch = batches.setdefault(row["PartitionKey"], [])
                batch.append(("delete", {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"]}))
                if len(batch) == TRANSACTION_MAX_ENTITIES:
                    deleted += await _submit(table, batches.pop(row["PartitionKey"]))
            for batch in batches.values():
                deleted += await _submit(table, batch)
    return deleted


async def _submit(table: Any, batch: list[Any]) -> int:
    try:
        await table.submit_transaction(batch)
    except (
        TableTransactionError,
        ResourceNotFoundError,
    ):  # a row deleted meanwhile (a purge running twice): delete the rest one by one
        for _, entity in batch:
            try:
                await table.delete_entity(entity["PartitionKey"], entity["RowKey"])
            except ResourceNotFoundError:
                continue
    return len(batch)
