"""Completion callbacks of ended jobs: claim each due one with the job's ETag, deliver it, record the outcome."""

from __future__ import annotations

import logging
import ssl
from datetime import UTC, datetime

from snapshot import errors
from snapshot.callbacks import delivery, policy
from snapshot.models import CallbackState, CallbackStatus, JobRecord
from snapshot.settings import get_settings
from snapshot.store import Store
from snapshot.store.tables import ConcurrencyConflict
from snapshot.usecases.tick_report import TickReport
from snapshot.views import job_view

log = logging.getLogger(__name__)

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
        claimed = policy.begin_attempt(record.callback, now)
        try:
            record = await store.jobs.update(record.model_copy(update={"callback": claimed}))
        except ConcurrencyConflict:
            continue  # another poller holds it, or the job changed: the next tick looks again
        if claimed.status != CallbackStatus.DELIVERING:
            continue
        report.callbacks += 1
        view = job_view(record, record.job_url or "")
        outcome = await delivery.deliver(
            claimed.url, delivery.job_payload(view), claimed.delivery_id, get_settings().callback_hosts,
            verify=CALLBACK_VERIFY,
        )  # fmt: skip
        final = policy.after_attempt(claimed, outcome, datetime.now(UTC))
        log.info("callback of job %s to %s: %s", record.id, claimed.redacted_url, final.status.value)
        await _record_outcome(store, record, final)


async def _record_outcome(store: Store, record: JobRecord, state: CallbackState) -> None:
    """The outcome must not be lost (a lost 'delivered' would send again once the claim lapses)."""
    try:
        await store.jobs.apply(record, {"callback": state})
    except errors.ServiceError as exc:
        log.error("callback outcome of job %s not recorded: %s", record.id, exc.detail)
