"""Idempotency-Key handling for starts: own the key, or wait for the request that owns it to learn the job id."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from snapshot import errors
from snapshot.models import JobRecord
from snapshot.settings import get_settings
from snapshot.store import Store
from snapshot.store.idempotency import IdempotencyClaim
from snapshot.store.tables import ConcurrencyConflict

# A pending idempotency key older than this belongs to a request that died; the next one takes over.
IDEMPOTENCY_STALE_SECONDS = 90.0
# How long a duplicate request waits for the first one to learn the job id before answering 503.
IDEMPOTENCY_WAIT_SECONDS = 15.0
IDEMPOTENCY_POLL_SECONDS = 0.2


async def claim(store: Store, key: str, body_hash: str) -> IdempotencyClaim:
    """Own the key, or wait for the request that owns it; 409 if it was used with another body."""
    current = await store.keys.claim(key, body_hash)
    deadline = asyncio.get_running_loop().time() + IDEMPOTENCY_WAIT_SECONDS
    while True:
        if current.body_hash != body_hash:
            raise errors.Conflict(
                "this Idempotency-Key was already used with a different request body; use a new key "
                "for a different snapshot",
                existing_job_id=current.job_id,
            )
        if current.owned or current.job_id:
            return current
        age = (datetime.now(UTC) - current.created).total_seconds()
        if age > IDEMPOTENCY_STALE_SECONDS:
            try:
                taken = await store.keys.take_over(current)
            except ConcurrencyConflict:
                current = await store.keys.read(key) or await store.keys.claim(key, body_hash)
                continue
            taken.taken_over = True
            return taken
        if asyncio.get_running_loop().time() > deadline:
            raise errors.Unavailable(
                "a request with this Idempotency-Key is still creating the job; retry shortly",
                retry_after=get_settings().retry_after_seconds,
            )
        await asyncio.sleep(IDEMPOTENCY_POLL_SECONDS)
        current = await store.keys.read(key) or await store.keys.claim(key, body_hash)


async def job_of_claim(store: Store, claimed: IdempotencyClaim) -> JobRecord:
    """The job an earlier request with this key created."""
    assert claimed.job_id is not None
    record = await store.jobs.get(claimed.job_id)
    if record is None:
        # Created in Graph, not recorded (storage failed then): the poller adopts it.
        raise errors.Unavailable(
            f"snapshot job {claimed.job_id} exists in Microsoft Graph and will appear after the next poll",
            retry_after=get_settings().retry_after_seconds,
        )
    return record
