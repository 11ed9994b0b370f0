"""Table Storage repository: jobs, idempotency keys and stored resources (azure-data-tables, async).

Jobs table, one partition `job`, two rows per job written together in one entity-group transaction:
- the record, RowKey = the Graph job id (point reads, ETag-guarded updates);
- the listing row, RowKey = `~<inverted created ticks>_<id>`, so a range query reads newest first and
  Table Storage's own continuation token pages it.
Idempotency table: PartitionKey = sha256 of the key, one row per key, inserted before Graph is called.
Resources table: PartitionKey = job id, one entity (or a few, for very large resources) per resource.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.identity.aio import ManagedIdentityCredential

from snapshot import errors
from snapshot.lifetime import ProcessWide
from snapshot.models import ContentState, JobRecord, JobStatus
from snapshot.settings import Settings, table_connection

JOBS_PARTITION = "job"
LISTING_PREFIX = "~"
MAX_TICKS = 10**17
TRANSACTION_MAX_ENTITIES = 100
TRANSACTIONS_IN_FLIGHT = 4
TRANSACTION_MAX_BYTES = 3 * 1024 * 1024  # below the 4 MiB batch payload limit, leaving room for the envelope


class ConcurrencyConflict(Exception):
    """Someone else changed the row since it was read (ETag mismatch) or created it first."""


@dataclass
class IdempotencyClaim:
    key: str
    body_hash: str
    job_id: str | None
    state: str  # "pending" while a Graph create may be under way, "created" once the job id is known
    created: datetime
    etag: str
    owned: bool  # this request inserted the row
    taken_over: bool = False  # owned by taking over a stale key: an earlier request may have created the job


def _storage_error(exc: Exception) -> errors.StorageUnavailable:
    return errors.StorageUnavailable(f"Table Storage did not answer ({type(exc).__name__})", retry_after=5)


@contextlib.contextmanager
def storage_errors() -> Any:
    """Map transport failures and 5xx to StorageUnavailable; leave the typed Table errors alone."""
    try:
        yield
    except (ResourceExistsError, ResourceNotFoundError, ResourceModifiedError, TableTransactionError):
        raise
    except HttpResponseError as exc:
        if exc.status_code is not None and exc.status_code < 500 and exc.status_code != 408:
            raise
        raise _storage_error(exc) from None
    except AzureError as exc:
        raise _storage_error(exc) from None
    except OSError as exc:
        raise _storage_error(exc) from None


def listing_key(record: JobRecord) -> str:
    created = record.created or datetime.now(UTC)
    ticks = int(created.timestamp() * 1_000_000)
    return f"{LISTING_PREFIX}{MAX_TICKS - ticks:017d}_{record.id}"


def _drop_none(entity: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entity.items() if value is not None}


def job_entity(record: JobRecord, row_key: str) -> dict[str, Any]:
    return _drop_none(
        {
            "PartitionKey": JOBS_PARTITION,
            "RowKey": row_key,
            "JobId": record.id,
            "DisplayName": record.display_name,
            "Description": record.description,
            "Resources": json.dumps(record.resources),
            "Status": record.status.value,
            "CreatedDateTime": record.created,
            "CompletedDateTime": record.completed,
            "TenantId": record.tenant_id,
            "ErrorDetails": json.dumps(record.error_details),
            "ResourceLocation": record.resource_location,
            "ContentState": record.content_state.value,
            "ContentError": record.content_error,
            "StoredDateTime": record.stored,
            "ResourceCount": record.resource_count,
            "ResourceTypeCounts": json.dumps(record.resource_type_counts),
            "ContentMetadata": None if record.content_metadata is None else json.dumps(record.content_metadata),
            "Source": record.source,
            "GraphDeleted": record.graph_deleted,
            "IdempotencyKey": record.idempotency_key,
            "JobUrl": record.job_url,
            "Callback": None if record.callback is None else json.dumps(record.callback, default=str),
            "UpdatedDateTime": datetime.now(UTC),
        }
    )


def record_from_entity(entity: Mapping[str, Any]) -> JobRecord:
    metadata = getattr(entity, "metadata", {}) or {}
    return JobRecord(
        id=entity["JobId"],
        display_name=entity.get("DisplayName", ""),
        description=entity.get("Description"),
        resources=json.loads(entity.get("Resources", "[]")),
        status=JobStatus.parse(entity.get("Status", "")),
        created=entity.get("CreatedDateTime"),
        completed=entity.get("CompletedDateTime"),
        tenant_id=entity.get("TenantId"),
        error_details=json.loads(entity.get("ErrorDetails", "[]")),
        resource_location=entity.get("ResourceLocation"),
        content_state=ContentState(entity.get("ContentState", "pending")),
        content_error=entity.get("ContentError"),
        stored=entity.get("StoredDateTime"),
        resource_count=entity.get("ResourceCount"),
        resource_type_counts=json.loads(entity.get("ResourceTypeCounts", "{}")),
        content_metadata=json.loads(entity["ContentMetadata"]) if entity.get("ContentMetadata") else None,
        source=entity.get("Source", "api"),
        graph_deleted=bool(entity.get("GraphDeleted", False)),
        idempotency_key=entity.get("IdempotencyKey"),
        job_url=entity.get("JobUrl"),
        callback=json.loads(entity["Callback"]) if entity.get("Callback") else None,
        updated=entity.get("UpdatedDateTime"),
        etag=metadata.get("etag"),
    )


def encode_token(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> Any:
    """The Table continuation behind an opaque token; ValueError if it is not one of ours."""
    if not token:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValueError("is not a continuation token this API issued") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError("is not a continuation token this API issued")
    return value


FORBIDDEN_KEY_CHARACTERS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f]")


def is_table_key(value: str) -> bool:
    """Table keys forbid / \\ # ? and control characters and hold at most 1 KiB: no job id has them."""
    return 0 < len(value) <= 512 and not FORBIDDEN_KEY_CHARACTERS.search(value)


def odata_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Page:
    items: list[dict[str, Any]]
    continuation: str | None


class TableStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        connection = table_connection(settings)
        self._credential: ManagedIdentityCredential | None = None
        if connection.connection_string:
            self.service = TableServiceClient.from_connection_string(connection.connection_string)
        else:
            assert connection.endpoint is not None
            self._credential = ManagedIdentityCredential(client_id=connection.client_id or settings.azure_client_id)
            self.service = TableServiceClient(endpoint=connection.endpoint, credential=self._credential)
        self._ready: set[str] = set()
        self.requests = 0  # Table requests started by this store (transactions count once)

    async def close(self) -> None:
        await self.service.close()
        if self._credential is not None:
            await self._credential.close()

    async def table(self, name: str) -> TableClient:
        client = self.service.get_table_client(name)
        if name not in self._ready:
            with storage_errors():
                self.requests += 1
                with contextlib.suppress(ResourceExistsError):
                    await self.service.create_table(name)
            self._ready.add(name)
        return client

    async def ping(self) -> None:
        """One cheap request, no retries, short timeout: is Table Storage reachable?"""
        try:
            pages = self.service.list_tables(results_per_page=1, retry_total=0, connection_timeout=3).by_page()
            async for _ in await pages.__anext__():
                break
        except StopAsyncIteration:
            return
        except Exception as exc:
            raise errors.StorageUnavailable(f"Table Storage is not reachable ({type(exc).__name__})") from None

    # --- jobs --------------------------------------------------------------------------------------

    async def get_job(self, job_id: str) -> JobRecord | None:
        if not is_table_key(job_id) or job_id.startswith(LISTING_PREFIX):  # listing rows share the partition
            return None
        table = await self.table(self.settings.jobs_table)
        with storage_errors():
            self.requests += 1
            try:
                entity = await table.get_entity(JOBS_PARTITION, job_id)
            except ResourceNotFoundError:
                return None
        return record_from_entity(entity)

    async def insert_job(self, record: JobRecord) -> JobRecord:
        """Write a new job (record + listing row); ConcurrencyConflict if the id is already there."""
        operations: list[Any] = [
            ("create", job_entity(record, record.id)),
            ("upsert", job_entity(record, listing_key(record)), {"mode": UpdateMode.REPLACE}),
        ]
        return await self._transact(record, operations)

    async def update_job(self, record: JobRecord) -> JobRecord:
        """Replace the job if nobody changed it since `record.etag` was read; else ConcurrencyConflict."""
        if record.etag is None:
            raise ValueError("update_job needs the ETag the record was read with")
        operations: list[Any] = [
            (
                "update",
                job_entity(record, record.id),
                {"mode": UpdateMode.REPLACE, "etag": record.etag, "match_condition": MatchConditions.IfNotModified},
            ),
            ("upsert", job_entity(record, listing_key(record)), {"mode": UpdateMode.REPLACE}),
        ]
        return await self._transact(record, operations)

    async def apply_to_job(self, record: JobRecord, changes: dict[str, Any], attempts: int = 5) -> JobRecord:
        """Set these fields, re-reading the job and applying them again when someone else changed it first."""
        for _ in range(attempts):
            try:
                return await self.update_job(record.model_copy(update=changes))
            except ConcurrencyConflict:
                current = await self.get_job(record.id)
                if current is None:
                    raise errors.NotFound(f"no snapshot job with id {record.id!r}") from None
                record = current
        raise errors.StorageUnavailable(f"job {record.id} kept changing; try again", retry_after=1)

    async def _transact(self, record: JobRecord, operations: list[Any]) -> JobRecord:
        table = await self.table(self.settings.jobs_table)
        with storage_errors():
            self.requests += 1
            try:
                results = await table.submit_transaction(operations)
            except TableTransactionError as exc:
                code = str(getattr(exc, "error_code", "") or "")
                if exc.status_code in (409, 412) or code in ("EntityAlreadyExists", "UpdateConditionNotSatisfied"):
                    raise ConcurrencyConflict(code) from None
                raise
        return record.model_copy(update={"etag": results[0].get("etag")})

    async def delete_job(self, record: JobRecord) -> None:
        table = await self.table(self.settings.jobs_table)
        with storage_errors():
            for row_key in (listing_key(record), record.id):
                self.requests += 1
                with contextlib.suppress(ResourceNotFoundError):
                    await table.delete_entity(JOBS_PARTITION, row_key)

    async def all_jobs(self) -> list[JobRecord]:
        """Every job record (the poller reconciles them all; the table holds at most thousands)."""
        table = await self.table(self.settings.jobs_table)
        query = f"PartitionKey eq '{JOBS_PARTITION}' and RowKey lt '{LISTING_PREFIX}'"
        with storage_errors():
            self.requests += 1
            return [record_from_entity(e) async for e in table.query_entities(query)]

    async def list_jobs(
        self, status: str | None, top: int, continuation: str | None
    ) -> tuple[list[JobRecord], str | None]:
        table = await self.table(self.settings.jobs_table)
        query = f"PartitionKey eq '{JOBS_PARTITION}' and RowKey gt '{LISTING_PREFIX}'"
        if status:
            query += f" and Status eq {odata_literal(status)}"
        page = await self._page(table, query, top, continuation)
        return [record_from_entity(e) for e in page.items], page.continuation

    async def _page(self, table: TableClient, query: str, top: int, continuation: str | None) -> Page:
        token = decode_token(continuation)
        with storage_errors():
            self.requests += 1
            pages = table.query_entities(query, results_per_page=top).by_page(continuation_token=token)
            try:
                items = [entity async for entity in await pages.__anext__()]
            except StopAsyncIteration:
                items = []
        return Page([dict(item) for item in items], encode_token(getattr(pages, "continuation_token", None)))

    # --- idempotency -------------------------------------------------------------------------------

    @staticmethod
    def _key_partition(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    async def claim_key(self, key: str, body_hash: str) -> IdempotencyClaim:
        """Insert the key (we own it) or read the existing one; the insert is the race's referee."""
        table = await self.table(self.settings.idempotency_table)
        now = datetime.now(UTC)
        entity = {
            "PartitionKey": self._key_partition(key),
            "RowKey": "",
            "Key": key[:1024],
            "BodyHash": body_hash,
            "State": "pending",
            "CreatedDateTime": now,
        }
        with storage_errors():
            self.requests += 1
            try:
                meta = await table.create_entity(entity)
                return IdempotencyClaim(key, body_hash, None, "pending", now, meta["etag"], owned=True)
            except ResourceExistsError:
                pass
        claim = await self.read_key(key)
        if claim is None:  # deleted between our insert and read: try once more
            return await self.claim_key(key, body_hash)
        return claim

    async def read_key(self, key: str) -> IdempotencyClaim | None:
        table = await self.table(self.settings.idempotency_table)
        with storage_errors():
            self.requests += 1
            try:
                entity = await table.get_entity(self._key_partition(key), "")
            except ResourceNotFoundError:
                return None
        return IdempotencyClaim(
            key,
            entity["BodyHash"],
            entity.get("JobId"),
            entity.get("State", "pending"),
            entity["CreatedDateTime"],
            str(entity.metadata["etag"]),
            owned=False,
        )

    async def take_over_key(self, claim: IdempotencyClaim) -> IdempotencyClaim:
        """Claim a stale pending key left by a request that died; ConcurrencyConflict if someone did first."""
        table = await self.table(self.settings.idempotency_table)
        now = datetime.now(UTC)
        entity = {"PartitionKey": self._key_partition(claim.key), "RowKey": "", "Key": claim.key[:1024],
                  "BodyHash": claim.body_hash, "State": "pending", "CreatedDateTime": now}  # fmt: skip
        with storage_errors():
            self.requests += 1
            try:
                meta = await table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=claim.etag, match_condition=MatchConditions.IfNotModified
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                raise ConcurrencyConflict("idempotency key") from None
        return IdempotencyClaim(claim.key, claim.body_hash, None, "pending", now, meta["etag"], owned=True)

    async def complete_key(self, claim: IdempotencyClaim, job_id: str) -> None:
        table = await self.table(self.settings.idempotency_table)
        entity = {"PartitionKey": self._key_partition(claim.key), "RowKey": "", "Key": claim.key[:1024],
                  "BodyHash": claim.body_hash, "State": "created", "JobId": job_id,
                  "CreatedDateTime": claim.created}  # fmt: skip
        with storage_errors():
            self.requests += 1
            await table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    async def release_key(self, claim: IdempotencyClaim) -> None:
        """Forget a key whose create definitely failed, so a corrected retry can use it."""
        table = await self.table(self.settings.idempotency_table)
        with storage_errors(), contextlib.suppress(ResourceNotFoundError, ResourceModifiedError):
            self.requests += 1
            await table.delete_entity(
                self._key_partition(claim.key), "", etag=claim.etag, match_condition=MatchConditions.IfNotModified
            )

    # --- monthly quota ledger: one row per (month, job), so a rerun or a second poller counts a job once ---

    async def record_usage(self, month: str, job_id: str, resources: int) -> None:
        table = await self.table(self.settings.quota_table)
        with storage_errors():
            self.requests += 1
            await table.upsert_entity(
                {"PartitionKey": month, "RowKey": job_id, "Resources": resources}, mode=UpdateMode.REPLACE
            )

    async def usage(self, month: str) -> int:
        table = await self.table(self.settings.quota_table)
        with storage_errors():
            self.requests += 1
            rows = table.query_entities(f"PartitionKey eq {odata_literal(month)}", select=["Resources"])
            total = 0
            async for row in rows:
                total += int(row.get("Resources", 0))
            return total

    # --- resources ---------------------------------------------------------------------------------

    async def write_resources(self, entities: Iterable[dict[str, Any]]) -> int:
        """Upsert entities of one partition in transactions of at most 100 entities / ~3 MiB, a few in flight
        at once (memory stays bounded: at most TRANSACTIONS_IN_FLIGHT batches are held). Returns the count."""
        table = await self.table(self.settings.resources_table)
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
            self.requests += 1
            await table.submit_transaction(batch)
        return len(batch)

    async def query_resources(self, job_id: str, resource_type: str | None, top: int, continuation: str | None) -> Page:
        """One page of resource head entities (continuation parts are read with `resource_parts`)."""
        table = await self.table(self.settings.resources_table)
        query = resources_query(job_id, resource_type) + f" and RowKey lt '{LISTING_PREFIX}'"
        return await self._page(table, query, top, continuation)

    async def resource_parts(self, job_id: str, row_keys: list[str]) -> list[dict[str, Any]]:
        table = await self.table(self.settings.resources_table)
        parts = []
        with storage_errors():
            for row_key in row_keys:
                self.requests += 1
                parts.append(dict(await table.get_entity(job_id, row_key)))
        return parts

    async def iter_resources(self, job_id: str, page_size: int = 1000) -> AsyncIterator[dict[str, Any]]:
        table = await self.table(self.settings.resources_table)
        with storage_errors():
            self.requests += 1
            async for entity in table.query_entities(resources_query(job_id, None), results_per_page=page_size):
                yield entity

    async def delete_resources(self, job_id: str) -> int:
        table = await self.table(self.settings.resources_table)
        deleted = 0
        batch: list[Any] = []
        with storage_errors():
            self.requests += 1
            query = f"PartitionKey eq {odata_literal(job_id)}"
            async for entity in table.query_entities(query, select=["PartitionKey", "RowKey"]):
                batch.append(("delete", {"PartitionKey": entity["PartitionKey"], "RowKey": entity["RowKey"]}))
                if len(batch) == TRANSACTION_MAX_ENTITIES:
                    deleted += await self._submit(table, batch)
                    batch = []
        if batch:
            deleted += await self._submit(table, batch)
        return deleted


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


def resources_query(job_id: str, resource_type: str | None) -> str:
    query = f"PartitionKey eq {odata_literal(job_id)}"
    if resource_type:
        query += f" and ResourceType eq {odata_literal(resource_type.lower())}"
    return query


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


_stores: ProcessWide[TableStore] = ProcessWide(TableStore)
get_store = _stores.get
reset_store = _stores.reset
