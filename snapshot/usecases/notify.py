"""Completion callbacks of ended jobs: claim each due one with the job's ETag, deliver it, record the outcome."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from snapshot import errors
from snapshot.callbacks import delivery, policy
from snapshot.models import CallbackState, CallbackStatus, JobRecord
from snapshot.settings import get_settings
from snapshot.store import Store
from snapshot.store.tables import ConcurrencyConflict
from snapshot.usecases.tick_report import TickReport
from snapshot.views import job_view

log = logging.getLogger(__name__)
R = TypeVar("R")

# What completion callbacks trust for TLS: the system's CAs (tests point it at their own test CA).
CALLBACK_VERIFY: ssl.SSLContext | str | bool = True


async def deliver_callbacks(store: Store, records: list[JobRecord], report: TickReport) -> None:
    """POST the job view to each ended job's callbackUrl: claimed first (ETag), so it is sent once."""
    for record in records:
        if record.callback is None or not record.lifecycle.ended:
            continue
        now = datetime.now(UTC)
        if not policy.is_due(record.callback, now):
            continue
        await _deliver(store, record, now, report)


async def _deliver(store: Store, record: JobRecord, now: datetime, report: TickReport) -> None:
    assert record.callback is not None
    attempt = await claim_and_deliver(
        record.callback, now, lambda claimed: store.jobs.update(record.model_copy(update={"callback": claimed})),
        lambda claimed_record: delivery.job_payload(job_view(claimed_record, claimed_record.job_url or "")),
    )  # fmt: skip
    if attempt is None:
        return  # another poller holds it, the job changed, or nothing is left to send
    saved, claimed, final = attempt
    report.callbacks += 1
    log.info("callback of job %s to %s: %s", saved.id, claimed.redacted_url, final.status.value)
    await _record_outcome(store, saved, final)


async def claim_and_deliver(
    state: CallbackState,
    now: datetime,
    claim: Callable[[CallbackState], Awaitable[R]],
    payload_of: Callable[[R], dict[str, Any]],
) -> tuple[R, CallbackState, CallbackState] | None:
    """One delivery attempt of a due callback: claim it by saving its owner with the new state (ETag-guarded,
    so it is sent once), POST the payload, and say how it went: (the owner as saved, the claimed state, the
    state after the attempt). None when the claim was lost or the policy says nothing is to be sent."""
    claimed = policy.begin_attempt(state, now)
    try:
        owner = await claim(claimed)
    except ConcurrencyConflict:
        return None
    if claimed.status != CallbackStatus.DELIVERING:
        return None
    outcome = await delivery.deliver(
        claimed.url, payload_of(owner), claimed.delivery_id, get_settings().callback_hosts, verify=CALLBACK_VERIFY
    )
    return owner, claimed, policy.after_attempt(claimed, outcome, datetime.now(UTC))


async def _record_outcome(store: Store, record: JobRecord, state: CallbackState) -> None:
    """The outcome must not be lost (a lost 'delivered' would send again once the claim lapses)."""
    try:
        await store.jobs.apply(record, {"callback": state})
    except errors.ServiceError as exc:
        log.error("callback outcome of job %s not recorded: %s", record.id, exc.detail)
