"""The resources table: PartitionKey = job id, one entity (or a few, for very large resources) per resource.

Writes are upserts in entity-group transactions of at most 100 entities and ~3 MiB, a few in flight at
once; the same content always gives the same entities, so rewriting a job's resources is safe.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from snapshot.content.rowkeys import PART_PREFIX
from snapshot.store.tables import Page, Tables, read_page, storage_errors

TRANSACTION_MAX_ENTITIES = 100
TRANSACTIONS_IN_FLIGHT = 4
TRANSACTION_MAX_BYTES = 3 * 1024 * 1024  # below the 4 MiB batch payload limit, leaving room for the envelope
HEADS_END = PART_PREFIX[0]  # continuation parts' RowKeys start with PART_PREFIX; every head sorts before it


def transaction_batches(entities: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    """Upsert operations grouped under Table Storage's limits: 100 entities and 4 MiB per transaction."""
    batch: list[Any] = []
    size = 0
    for entity in entities:
        entity_size = approximate_size(entity)
        if batch and (len(batch) >= TRANSACTION_MAX_ENTITIES or size + entity_size > TRANSACTION_MAX_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(("upsert", entity, {"mode": UpdateMode.REPLACE}))
        size += entity_size
    if batch:
        yield batch


def approximate_size(entity: Mapping[str, Any]) -> int:
    size = 0
    for key, value in entity.items():
        size += 2 * len(key) + 8
        if isinstance(value, bytes):
            size += (len(value) + 2) // 3 * 4  # base64 in the batch body
        elif isinstance(value, str):
            size += 2 * len(value)
        else:
            size += 16
    return size


class ResourceTable:
    def __init__(self, tables: Tables, name: str) -> None:
        self._tables = tables
        self._name = name

    async def write(self, entities: Iterable[dict[str, Any]]) -> int:
        """Upsert the entities, a few transactions in flight at once (memory stays bounded: at most
        TRANSACTIONS_IN_FLIGHT batches are held). Returns the count written."""
        table = await self._tables.get(self._name)
        in_flight: set[asyncio.Task[int]] = set()
        written = 0
        try:
            for batch in transaction_batches(entities):
                if len(in_flight) >= TRANSACTIONS_IN_FLIGHT:
                    done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    written += sum(task.result() for task in done)
                in_flight.add(asyncio.ensure_future(self._submit(table, batch)))
            if in_flight:
                written += sum(await asyncio.gather(*in_flight))
                in_flight = set()
        finally:
            for task in in_flight:  # a transaction failed: stop the others, the rerun rewrites them all
                task.cancel()
        return written

    async def _submit(self, table: TableClient, batch: list[Any]) -> int:
        with storage_errors():
            await table.submit_transaction(batch)
        return len(batch)

    async def heads_page(self, job_id: str, resource_type: str | None, top: int, continuation: str | None) -> Page:
        """One page of resource head entities (continuation parts are read with `parts`)."""
        table = await self._tables.get(self._name)
        query = "PartitionKey eq @job and RowKey lt @heads_end"
        parameters = {"job": job_id, "heads_end": HEADS_END}
        if resource_type:
            query += " and ResourceType eq @type"
            parameters["type"] = resource_type.lower()
        return await read_page(table, query, parameters, top, continuation)

    async def parts(self, job_id: str, row_keys: list[str]) -> list[dict[str, Any]]:
        table = await self._tables.get(self._name)
        with storage_errors():
            return [dict(await table.get_entity(job_id, row_key)) for row_key in row_keys]

    async def scan(self, job_id: str, page_size: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every entity of the job (heads and parts), in RowKey order."""
        table = await self._tables.get(self._name)
        with storage_errors():
            query = table.query_entities("PartitionKey eq @job", parameters={"job": job_id}, results_per_page=page_size)
            async for entity in query:
                yield entity

    async def delete_all(self, job_id: str) -> int:
        table = await self._tables.get(self._name)
        deleted = 0
        batch: list[Any] = []
        with storage_errors():
            query = table.query_entities("PartitionKey eq @job", parameters={"job": job_id}, select=["RowKey"])
            async for entity in query:
                batch.append(("delete", {"PartitionKey": job_id, "RowKey": entity["RowKey"]}))
                if len(batch) == TRANSACTION_MAX_ENTITIES:
                    deleted += await self._submit(table, batch)
                    batch = []
        if batch:
            deleted += await self._submit(table, batch)
        return deleted
