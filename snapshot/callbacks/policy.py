"""Callback retry policy, pure: when an attempt is due, claiming it, and the state after its outcome.

Every function maps (state, outcome, now) to a new CallbackState; the poller stores it with the job's ETag.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from snapshot.models import CallbackState, CallbackStatus

MAX_ATTEMPTS = 8
BASE_DELAY_SECONDS = 30.0
MAX_DELAY_SECONDS = 3600.0
JITTER_FRACTION = 0.1
# How long a `delivering` claim holds before another poller run may take the callback over (a worker
# that died mid-delivery leaves the state `delivering`).
DELIVERY_LEASE_SECONDS = 300.0


@dataclass(frozen=True)
class DeliveryOutcome:
    """The result of one POST. `error` is short and safe to store: it never holds the query string."""

    delivered: bool
    retryable: bool
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After header


def next_attempt_delay(attempt: int, key: str = "") -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): 30 s doubling, capped at 1 hour.

    A jitter of up to +10 % spreads retries of many jobs; it is derived from `key` (the delivery id)
    and the attempt, so the result is deterministic. With `key=""` the jitter is still fixed per attempt.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    base = BASE_DELAY_SECONDS * 2 ** min(attempt - 1, 30)
    digest = hashlib.sha256(f"{key}:{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return min(base * (1 + JITTER_FRACTION * fraction), MAX_DELAY_SECONDS)


def is_due(state: CallbackState, now: datetime) -> bool:
    """Whether an attempt should start now (call it only for a job that has ended)."""
    if state.status == CallbackStatus.PENDING:
        return state.next_attempt is None or state.next_attempt <= now
    if state.status == CallbackStatus.DELIVERING:  # the worker holding the claim died
        return state.next_attempt is None or state.next_attempt <= now
    return False


def begin_attempt(state: CallbackState, now: datetime, lease_seconds: float = DELIVERY_LEASE_SECONDS) -> CallbackState:
    """Claim the callback before calling `deliver` (store it with the record's etag to win the claim).

    Counts the attempt. If the attempts are already used up (a previous claim lapsed without an
    outcome), the result is `failed` and no attempt should be made.
    """
    if state.status.is_final:
        return state
    if state.attempts >= MAX_ATTEMPTS:
        return state.model_copy(
            update={
                "status": CallbackStatus.FAILED,
                "next_attempt": None,
                "last_error": state.last_error or "no outcome was recorded for the last attempt",
            }
        )
    return state.model_copy(
        update={
            "status": CallbackStatus.DELIVERING,
            "attempts": state.attempts + 1,
            "last_attempt": now,
            "next_attempt": now + timedelta(seconds=lease_seconds),
        }
    )


def after_attempt(state: CallbackState, outcome: DeliveryOutcome, now: datetime) -> CallbackState:
    """Apply the policy to the outcome of one attempt.

    delivered → delivered; retryable with attempts < MAX_ATTEMPTS → pending, due after the backoff
    (or the receiver's Retry-After, whichever is longer); otherwise → failed. Counts the attempt unless
    `begin_attempt` did.
    """
    if state.status.is_final:
        return state
    attempts = state.attempts if state.status == CallbackStatus.DELIVERING else state.attempts + 1
    common: dict[str, Any] = {"attempts": attempts, "last_status": outcome.status, "last_attempt": now}
    if outcome.delivered:
        return state.model_copy(
            update={
                **common,
                "status": CallbackStatus.DELIVERED,
                "delivered_at": now,
                "next_attempt": None,
                "last_error": None,
            }
        )
    error = outcome.error or (f"HTTP {outcome.status}" if outcome.status else "delivery failed")
    if outcome.retryable and attempts < MAX_ATTEMPTS:
        delay = max(next_attempt_delay(attempts, state.delivery_id), outcome.retry_after or 0.0)
        return state.model_copy(
            update={
                **common,
                "status": CallbackStatus.PENDING,
                "next_attempt": now + timedelta(seconds=min(delay, MAX_DELAY_SECONDS)),
                "last_error": error,
            }
        )
    if outcome.retryable:
        error = f"{error} (gave up after {attempts} attempts)"
    return state.model_copy(
        update={**common, "status": CallbackStatus.FAILED, "next_attempt": None, "last_error": error}
    )
