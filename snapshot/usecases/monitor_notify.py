"""Monitor callbacks: drift changes queued on the monitor's row, claimed with its ETag, delivered once.

The same SSRF guard, retry policy and delivery as snapshot callbacks (snapshot/callbacks/). The changes a
drift poll found are appended to the monitor's `pendingChanges` first, so a failed delivery is retried by a
later poll with everything still unsent; a delivered batch clears them and the next batch gets a new
delivery id.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from snapshot import clients, errors
from snapshot.callbacks import policy
from snapshot.models import CallbackState, CallbackStatus
from snapshot.monitoring import MonitorRecord
from snapshot.store.tables import ConcurrencyConflict
from snapshot.usecases import notify as snapshot_callbacks

log = logging.getLogger(__name__)


async def _queue(record: MonitorRecord, changes: list[dict[str, Any]]) -> MonitorRecord:
    assert record.callback is not None
    callback = record.callback
    if callback.status.is_final:  # the last batch is settled: this is a new delivery
        callback = CallbackState.create(callback.url)
    update = {"pending_changes": [*record.pending_changes, *changes], "callback": callback}
    return await clients.store().monitors.update(record.model_copy(update=update))


def payload(record: MonitorRecord, changes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"monitorId": record.id, "displayName": record.display_name, "changes": changes}


async def _deliver(record: MonitorRecord) -> bool:
    """One attempt if due; True when an attempt was made."""
    store = clients.store().monitors
    now = datetime.now(UTC)
    if record.callback is None or not record.pending_changes or not policy.is_due(record.callback, now):
        return False
    attempt = await snapshot_callbacks.claim_and_deliver(
        record.callback, now, lambda claimed: store.update(record.model_copy(update={"callback": claimed})),
        lambda claimed_record: payload(claimed_record, claimed_record.pending_changes),
    )  # fmt: skip
    if attempt is None:
        return False  # another poller holds it, or nothing is left to send
    saved, claimed, final = attempt
    log.info("callback of monitor %s to %s: %s", saved.id, claimed.redacted_url, final.status.value)
    update: dict[str, Any] = {"callback": final}
    if final.status == CallbackStatus.DELIVERED:
        update["pending_changes"] = []
    try:
        await store.update(saved.model_copy(update=update))
    except (ConcurrencyConflict, errors.ServiceError) as exc:
        log.error("callback outcome of monitor %s not recorded: %s", saved.id, exc)
    return True


async def notify(changes: dict[str, list[dict[str, Any]]]) -> int:
    """Queue each monitor's changes on its row, then deliver every due batch; the number of attempts."""
    store = clients.store().monitors
    attempts = 0
    for record in await store.all():
        if record.callback is None:
            continue
        if changes.get(record.id):
            try:
                record = await _queue(record, changes[record.id])
            except ConcurrencyConflict:
                log.warning("monitor %s changed while queuing its callback; the next poll retries", record.id)
                continue
        attempts += await _deliver(record)
    return attempts
