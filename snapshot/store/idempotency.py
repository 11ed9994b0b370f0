"""The idempotency table: one row per Idempotency-Key (PartitionKey = its sha256), inserted before Graph is called.

The insert is the race's referee: the request that inserts the row owns the key; the others read it and
wait for the job id. ETags guard taking over a stale or abandoned key, completing it and releasing it.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from snapshot.store.tables import ConcurrencyConflict, Tables, storage_errors
from snapshot.tenancy import Tenant

# A Graph create may be under way / the job id is known / the owner ended without knowing whether Graph
# created the job: the next request takes the key over at once and looks the job up by name first.
PENDING, CREATED, ABANDONED = "pending", "created", "abandoned"


@dataclass
class IdempotencyClaim:
    key: str
    body_hash: str
    job_id: str | None
    state: str  # PENDING, CREATED or ABANDONED
    created: datetime
    etag: str
    owned: bool  # this request inserted the row
    taken_over: bool = False  # owned by taking over a stale key: an earlier request may have created the job


def partition_of(key: str) -> str:
    """The PartitionKey of a key's row."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _entity(
    partition: str, claim_key: str, body_hash: str, state: str, created: datetime, job_id: str | None = None
) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": partition,
        "RowKey": "",
        "Key": claim_key,
        "BodyHash": body_hash,
        "State": state,
        "CreatedDateTime": created,
    }
    if job_id is not None:
        entity["JobId"] = job_id
    return entity


class IdempotencyKeys:
    def __init__(self, tables: Tables, name: str, tenant: Tenant) -> None:
        self._tables = tables
        self._name = name
        self._tenant = tenant

    def _partition(self, key: str) -> str:
        return self._tenant.partition(partition_of(key))

    async def claim(self, key: str, body_hash: str) -> IdempotencyClaim:
        """Insert the key (we own it) or read the existing one."""
        table = await self._tables.get(self._name)
        now = datetime.now(UTC)
        with storage_errors():
            try:
                meta = await table.create_entity(_entity(self._partition(key), key, body_hash, PENDING, now))
                return IdempotencyClaim(key, body_hash, None, PENDING, now, meta["etag"], owned=True)
            except ResourceExistsError:
                pass
        claim = await self.read(key)
        if claim is None:  # deleted between our insert and read: try once more
            return await self.claim(key, body_hash)
        return claim

    async def read(self, key: str) -> IdempotencyClaim | None:
        table = await self._tables.get(self._name)
        with storage_errors():
            try:
                entity = await table.get_entity(self._partition(key), "")
            except ResourceNotFoundError:
                return None
        return IdempotencyClaim(
            key,
            entity["BodyHash"],
            entity.get("JobId"),
            entity.get("State", PENDING),
            entity["CreatedDateTime"],
            str(entity.metadata["etag"]),
            owned=False,
        )

    async def take_over(self, claim: IdempotencyClaim) -> IdempotencyClaim:
        """Claim a stale pending key left by a request that died; ConcurrencyConflict if someone did first."""
        table = await self._tables.get(self._name)
        now = datetime.now(UTC)
        with storage_errors():
            try:
                meta = await table.update_entity(
                    _entity(self._partition(claim.key), claim.key, claim.body_hash, PENDING, now),
                    mode=UpdateMode.REPLACE,
                    etag=claim.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                raise ConcurrencyConflict("idempotency key") from None
        return IdempotencyClaim(claim.key, claim.body_hash, None, PENDING, now, meta["etag"], owned=True)

    async def abandon(self, claim: IdempotencyClaim) -> None:
        """Hand the key back without a job id; a no-op if the row changed or went (released, taken over)."""
        table = await self._tables.get(self._name)
        with storage_errors(), contextlib.suppress(ResourceNotFoundError, ResourceModifiedError):
            await table.update_entity(
                _entity(self._partition(claim.key), claim.key, claim.body_hash, ABANDONED, claim.created),
                mode=UpdateMode.REPLACE,
                etag=claim.etag,
                match_condition=MatchConditions.IfNotModified,
            )

    async def complete(self, claim: IdempotencyClaim, job_id: str) -> None:
        table = await self._tables.get(self._name)
        with storage_errors():
            await table.upsert_entity(
                _entity(self._partition(claim.key), claim.key, claim.body_hash, CREATED, claim.created, job_id),
                mode=UpdateMode.REPLACE,
            )

    async def release(self, claim: IdempotencyClaim) -> None:
        """Forget a key whose create definitely failed, or whose job is gone, so a retry can use it afresh."""
        table = await self._tables.get(self._name)
        with storage_errors(), contextlib.suppress(ResourceNotFoundError, ResourceModifiedError):
            await table.delete_entity(
                self._partition(claim.key), "", etag=claim.etag, match_condition=MatchConditions.IfNotModified
            )
