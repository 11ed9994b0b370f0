"""Callback retry policy: backoff, state transitions, the stored state."""

from __future__ import annotations

import datetime as dt

import pytest

from snapshot.callbacks import policy
from snapshot.callbacks.policy import (
    MAX_ATTEMPTS,
    DeliveryOutcome,
    after_attempt,
    begin_attempt,
    is_due,
    next_attempt_delay,
)
from snapshot.callbacks.urls import redact
from snapshot.models import CallbackState, CallbackStatus

GOOD = (
    "https://prod-12.westeurope.logic.azure.com/workflows/abc/runs/123/run?api-version=2016-06-01&sp=%2Fruns&sig=s3cr3t"
)


NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_backoff_doubles_from_30_seconds_and_is_capped_at_an_hour() -> None:
    for attempt in range(1, 8):
        base = 30 * 2 ** (attempt - 1)
        assert base <= next_attempt_delay(attempt, "d") <= min(base * 1.1, 3600)
    assert next_attempt_delay(3, "d") == next_attempt_delay(3, "d")  # deterministic
    assert next_attempt_delay(8) == 3600
    assert next_attempt_delay(1000) == 3600
    with pytest.raises(ValueError):
        next_attempt_delay(0)


def test_pending_to_delivered() -> None:
    state = CallbackState.create(GOOD)
    assert state.status == CallbackStatus.PENDING and state.attempts == 0 and state.delivery_id
    assert is_due(state, NOW)
    claimed = begin_attempt(state, NOW)
    assert claimed.status == CallbackStatus.DELIVERING and claimed.attempts == 1
    assert not is_due(claimed, NOW + dt.timedelta(seconds=10))
    done = after_attempt(claimed, DeliveryOutcome(True, False, 200, None), NOW + dt.timedelta(seconds=1))
    assert done.status == CallbackStatus.DELIVERED
    assert done.attempts == 1
    assert done.delivered_at == NOW + dt.timedelta(seconds=1)
    assert done.next_attempt is None and done.last_error is None and done.last_status == 200
    assert done.delivery_id == state.delivery_id
    assert not is_due(done, NOW + dt.timedelta(days=1))
    # after_attempt alone (without begin_attempt) counts the attempt too
    assert after_attempt(state, DeliveryOutcome(True, False, 204, None), NOW).attempts == 1


def test_retry_schedule_then_failed_after_max_attempts() -> None:
    state = CallbackState.create(GOOD, delivery_id="d-9")
    now = NOW
    retryable = DeliveryOutcome(False, True, 503, "HTTP 503")
    for attempt in range(1, MAX_ATTEMPTS):
        state = after_attempt(begin_attempt(state, now), retryable, now)
        assert state.status == CallbackStatus.PENDING
        assert state.attempts == attempt
        assert state.last_error == "HTTP 503"
        assert state.next_attempt == now + dt.timedelta(seconds=next_attempt_delay(attempt, "d-9"))
        assert not is_due(state, now)
        now = state.next_attempt
        assert is_due(state, now)
    state = after_attempt(begin_attempt(state, now), retryable, now)
    assert state.status == CallbackStatus.FAILED
    assert state.attempts == MAX_ATTEMPTS
    assert state.next_attempt is None
    assert state.last_error and "gave up after 8 attempts" in state.last_error
    assert state.delivery_id == "d-9"
    assert after_attempt(state, DeliveryOutcome(True, False, 200, None), now) == state  # final stays final


def test_a_permanent_failure_fails_at_once() -> None:
    state = after_attempt(CallbackState.create(GOOD), DeliveryOutcome(False, False, 302, "HTTP 302: x"), NOW)
    assert state.status == CallbackStatus.FAILED and state.attempts == 1 and state.last_error == "HTTP 302: x"


def test_retry_after_lengthens_the_wait() -> None:
    state = after_attempt(CallbackState.create(GOOD), DeliveryOutcome(False, True, 429, "HTTP 429", 900.0), NOW)
    assert state.next_attempt == NOW + dt.timedelta(seconds=900)


def test_a_lapsed_claim_is_due_again_and_counts() -> None:
    claimed = begin_attempt(CallbackState.create(GOOD), NOW)
    assert is_due(claimed, NOW + dt.timedelta(seconds=policy.DELIVERY_LEASE_SECONDS))
    again = begin_attempt(claimed, NOW + dt.timedelta(seconds=policy.DELIVERY_LEASE_SECONDS))
    assert again.attempts == 2
    exhausted = claimed.model_copy(update={"attempts": MAX_ATTEMPTS})
    assert begin_attempt(exhausted, NOW).status == CallbackStatus.FAILED


def test_the_state_round_trips_as_json() -> None:
    state = after_attempt(CallbackState.create(GOOD), DeliveryOutcome(False, True, 500, "HTTP 500"), NOW)
    assert CallbackState.model_validate_json(state.model_dump_json()) == state
    assert state.redacted_url == redact(GOOD)
