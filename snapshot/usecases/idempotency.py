"""Idempotency-Key handling for starts: own the key, or wait for the request that owns it to learn the job id.

A request that owns a key either completes it with the job id, releases it (the create definitely failed)
or abandons it (it ended without knowing): it never leaves a key that only a timer can free, except by
dying. Every 503 here says when the retry can succeed: once the owner's key goes stale at the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import UTC, datetime

from snapshot import errors
from snapshot.store import Store
from snapshot.store.idempotency import ABANDONED, IdempotencyClaim
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
        if current.state == ABANDONED or age > IDEMPOTENCY_STALE_SECONDS:
            try:
                taken = await store.keys.take_over(current)
            except ConcurrencyConflict:
                current = await store.keys.read(key) or await store.keys.claim(key, body_hash)
                continue
            taken.taken_over = True
            return taken
        if asyncio.get_running_loop().time() > deadline:
            raise errors.Unavailable(
                "a request with this Idempotency-Key is still creating the job; retry after Retry-After "
                "seconds, by when it has finished or its key can be taken over",
                retry_after=max(1, math.ceil(IDEMPOTENCY_STALE_SECONDS - age)),
            )
        await asyncio.sleep(IDEMPOTENCY_POLL_SECONDS)
        current = await store.keys.read(key) or await store.keys.claim(key, body_hash)


async def hand_back(store: Store, claimed: IdempotencyClaim) -> None:
    """The owner ends without a job id: free the key now (best effort; the stale timer is the fallback)."""
    with contextlib.suppress(errors.ServiceError):
        await store.keys.abandon(claimed)
