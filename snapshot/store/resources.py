"""The resources table: PartitionKey = the tenant's partition of the job id, one entity (or a few, for very large resources) per resource.

Writes are upserts in entity-group transactions of at most 100 entities and ~3 MiB, a few in flight at
once; the same content always gives the same entities, so rewriting a job's resources is safe. A transaction
that fails transiently is sent again with backoff (a few times); `WriteProgress` tells how many entities at
the start of the sequence are stored, so a caller can resume a write that stopped early.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from snapshot import errors
from snapshot.content.rowkeys import PART_PREFIX
from snapshot.store.tables import Page, Tables, read_page, storage_errors
from snapshot.tenancy import Tenant

TRANSACTION_MAX_ENTITIES = 100
TRANSACTIONS_IN_FLIGHT = 4
TRANSACTION_MAX_BYTES = 3 * 1024 * 1024  # below the 4 MiB batch payload limit, leaving room for the envelope
TRANSACTION_ATTEMPTS = 4
RETRY_BACKOFF_SECONDS = 0.5  # doubled after each failed attempt: 0.5, 1, 2 s
CHECKPOINT_TRANSACTIONS = 50  # how often `write` reports progress to its checkpoint
HEADS_END = PART_PREFIX[0]  # continuation parts' RowKeys start with PART_PREFIX; every head sorts before it

log = logging.getLogger(__name__)
Checkpoint = Callable[[int], Awaitable[None]]


@dataclass
class WriteProgress:
    """How far a write got. `committed`: entities at the start of the sequence whose transactions all
    committed (a rerun may skip that many); `written`: entities this write stored, in any order."""

    committed: int = 0
    written: int = 0
    _sizes: list[int] = field(default_factory=list)
    _done: set[int] = field(default_factory=set)
    _next: int = 0  # the first transaction not yet counted in `committed`

    def started(self, size: int) -> int:
        self._sizes.append(size)
        return len(self._sizes) - 1

    def finished(self, index: int) -> None:
        self._done.add(index)
        self.written += self._sizes[index]
        while self._next in self._done:
            self._done.remove(self._next)
            self.committed += self._sizes[self._next]
            self._next += 1


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
        if isinstance(value, bytes):
            size += 2 * len(key) + 8 + (len(value) + 2) // 3 * 4  # base64 in the batch body
        elif isinstance(value, str):
            size += 2 * (len(key) + len(value)) + 8
        else:
            size += 2 * len(key) + 24
    return size


class ResourceTable:
    def __init__(self, tables: Tables, name: str, tenant: Tenant) -> None:
        self._tables = tables
        self._name = name
        self._tenant = tenant

    def partition_of(self, job_id: str) -> str:
        """The PartitionKey of a job's resources (the entity builders are given it as their `job_id`)."""
        return self._tenant.partition(job_id)

    async def write(
        self,
        entities: Iterable[dict[str, Any]],
        progress: WriteProgress | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> int:
        """Upsert the entities, a few transactions in flight at once (memory stays bounded: at most
        TRANSACTIONS_IN_FLIGHT batches are held). `progress` follows the write as it goes; `checkpoint` is
        awaited with `progress.committed` every CHECKPOINT_TRANSACTIONS transactions. Returns the count written."""
        table = await self._tables.get(self._name)
        progress = progress if progress is not None else WriteProgress()
        in_flight: dict[asyncio.Task[int], int] = {}
        settled = 0
        try:
            for batch in transaction_batches(entities):
                if len(in_flight) >= TRANSACTIONS_IN_FLIGHT:
                    settled += await _settle(in_flight, progress)
                index = progress.started(len(batch))
                in_flight[asyncio.ensure_future(self._submit_retrying(table, batch))] = index
                await asyncio.sleep(0)  # it is encoded and sent now: Table Storage starts on it while the next is built
                if checkpoint is not None and settled >= CHECKPOINT_TRANSACTIONS:
                    settled = 0
                    await checkpoint(progress.committed)
            while in_flight:
                await _settle(in_flight, progress)
        finally:
            for task in in_flight:  # a transaction failed for good: stop the others, `progress` says what stands
                task.cancel()
        return progress.written

    async def _submit_retrying(self, table: TableClient, batch: list[Any]) -> int:
        """azure-core retries 5xx, but not a POST whose connection broke after it was sent (it cannot know the
        POST is idempotent); a transaction of upserts is, so a transient failure is sent again here."""
        attempt = 1
        while True:
            try:
                return await self._submit(table, batch)
            except errors.StorageUnavailable as exc:
                if attempt >= TRANSACTION_ATTEMPTS:
                    raise
                log.info("resource transaction failed (%s), attempt %d; sending it again", exc.detail, attempt)
                await asyncio.sleep(RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1))
                attempt += 1

    async def _submit(self, table: TableClient, batch: list[Any]) -> int:
        with storage_errors():
            await table.submit_transaction(batch)
        return len(batch)

    async def heads_page(self, job_id: str, resource_type: str | None, top: int, continuation: str | None) -> Page:
        """One page of resource head entities (continuation parts are read with `parts`)."""
        table = await self._tables.get(self._name)
        query = "PartitionKey eq @job and RowKey lt @heads_end"
        parameters = {"job": self.partition_of(job_id), "heads_end": HEADS_END}
        if resource_type:
            query += " and ResourceType eq @type"
            parameters["type"] = resource_type.lower()
        return await read_page(table, query, parameters, top, continuation)

    async def parts(self, job_id: str, row_keys: list[str]) -> list[dict[str, Any]]:
        table = await self._tables.get(self._name)
        with storage_errors():
            return [dict(await table.get_entity(self.partition_of(job_id), row_key)) for row_key in row_keys]

    async def scan(self, job_id: str, page_size: int = 1000) -> AsyncIterator[dict[str, Any]]:
        """Every entity of the job (heads and parts), in RowKey order."""
        table = await self._tables.get(self._name)
        with storage_errors():
            parameters = {"job": self.partition_of(job_id)}
            query = table.query_entities("PartitionKey eq @job", parameters=parameters, results_per_page=page_size)
            async for entity in query:
                yield entity

    async def delete_all(self, job_id: str) -> int:
        table = await self._tables.get(self._name)
        deleted = 0
        batch: list[Any] = []
        partition = self.partition_of(job_id)
        with storage_errors():
            query = table.query_entities("PartitionKey eq @job", parameters={"job": partition}, select=["RowKey"])
            async for entity in query:
                batch.append(("delete", {"PartitionKey": partition, "RowKey": entity["RowKey"]}))
                if len(batch) == TRANSACTION_MAX_ENTITIES:
                    deleted += await self._submit(table, batch)
                    batch = []
        if batch:
            deleted += await self._submit(table, batch)
        return deleted


async def _settle(in_flight: dict[asyncio.Task[int], int], progress: WriteProgress) -> int:
    """Wait for at least one transaction; record the ones that committed, then raise the first failure."""
    done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
    failure: BaseException | None = None
    for task in done:
        index = in_flight.pop(task)
        if task.exception() is None:
            progress.finished(index)
        else:
            failure = failure or task.exception()
    if failure is not None:
        raise failure
    return len(done)
