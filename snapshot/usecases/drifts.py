"""Drift history: read Graph's monitoring results and drifts, keep them in Table Storage, serve them from there.

Graph keeps active drifts, deletes fixed ones 30 days after they are resolved, deletes a monitor's drifts
and results when its baseline changes, and has no `fixedDateTime` (docs/graph-utcm.md section 6). So the
app records when it first saw a drift fixed, or gone from Graph while active ("vanished"), and never
deletes a row. A run that did not succeed counts no drifts: its `driftsCount` is unknown (None), and a
monitor whose latest run failed has no drift concluded gone.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from snapshot import clients, errors
from snapshot.models import parse_top
from snapshot.monitoring import DriftRecord, DriftState, RunRecord
from snapshot.usecases import monitor_notify
from snapshot.usecases.reads import continuation_token

log = logging.getLogger(__name__)

SUCCESSFUL_RUNS = ("successful", "partiallySuccessful")
DRIFT_STATUSES = ("active", "fixed", "all")


@dataclass
class DriftReport:
    runs: int = 0  # monitoring results read
    drifts: int = 0  # drifts Graph listed
    new: int = 0
    fixed: int = 0
    vanished: int = 0
    callbacks: int = 0
    changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # monitor id -> changes


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)  # Python 3.11 reads Graph's 7 fractional digits and Z
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_record(result: dict[str, Any]) -> RunRecord:
    status = str(result.get("runStatus") or "unknownFutureValue")
    count = result.get("driftsCount")
    graph_count = count if isinstance(count, int) else None
    return RunRecord(
        id=str(result["id"]),
        monitor_id=str(result.get("monitorId") or ""),
        run_status=status,
        drifts_count=graph_count if status in SUCCESSFUL_RUNS else None,
        graph_drifts_count=graph_count,
        initiated=_datetime(result.get("runInitiationDateTime")),
        completed=_datetime(result.get("runCompletionDateTime")),
        error_details=[d for d in result.get("errorDetails") or [] if isinstance(d, dict)],
    )


def _merge(stored: DriftRecord | None, drift: dict[str, Any], now: datetime) -> tuple[DriftRecord, str | None]:
    """The drift's record after Graph's view of it, and the change to report ("new", "fixed" or None)."""
    graph_status = str(drift.get("status") or "unknownFutureValue")
    fields: dict[str, Any] = {
        "id": str(drift["id"]),
        "monitor_id": str(drift.get("monitorId") or ""),
        "resource_type": str(drift.get("resourceType") or ""),
        "baseline_resource_display_name": str(drift.get("baselineResourceDisplayName") or ""),
        "resource_instance_identifier": drift.get("resourceInstanceIdentifier") or {},
        "drifted_properties": [p for p in drift.get("driftedProperties") or [] if isinstance(p, dict)],
        "graph_status": graph_status,
        "first_reported": _datetime(drift.get("firstReportedDateTime")) or (stored.first_reported if stored else now),
    }
    was_active = stored is not None and stored.status == DriftState.ACTIVE
    if graph_status == "fixed":
        if stored is not None and not was_active and stored.resolution == "fixed":
            return stored.model_copy(update=fields), None
        fields.update(status=DriftState.FIXED, resolved_at=now, resolution="fixed")
        return DriftRecord(**{**(stored.model_dump() if stored else {}), **fields}), "fixed" if was_active else None
    if graph_status == "active":
        fields.update(status=DriftState.ACTIVE, last_seen_active=now, resolved_at=None, resolution=None)
    record = DriftRecord(**{**(stored.model_dump() if stored else {}), **fields})
    return record, (None if was_active or graph_status != "active" else "new")


async def sync(monitor_id: str | None = None) -> DriftReport:
    """Read results (since the last one seen) and drifts, for one monitor or all, and record them."""
    store = clients.store()
    graph = clients.monitor_graph()
    since = None if monitor_id else await store.monitors.results_cursor()
    results = [run_record(r) for r in await graph.list_results(since, monitor_id) if r.get("id")]
    listed = [d for d in await graph.list_drifts(monitor_id) if d.get("id")]
    report = DriftReport(runs=len(results), drifts=len(listed))
    await store.runs.write(results)

    by_monitor: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for drift in listed:
        by_monitor[str(drift.get("monitorId") or "")].append(drift)
    monitors = set(by_monitor)
    if monitor_id:
        monitors.add(monitor_id)
    else:
        monitors |= {record.monitor_id for record in await store.drifts.active()}
    now = datetime.now(UTC)
    for monitor in sorted(monitors):
        changes = await _reconcile(monitor, by_monitor.get(monitor, []), now, report)
        if changes:
            report.changes[monitor] = changes
    if since is not None or results:
        starts = [r.initiated for r in results if r.initiated is not None]
        if starts:
            await store.monitors.set_results_cursor(max(starts))
    report.callbacks = await monitor_notify.notify(report.changes)
    return report


async def _reconcile(
    monitor_id: str, listed: list[dict[str, Any]], now: datetime, report: DriftReport
) -> list[dict[str, Any]]:
    store = clients.store()
    stored = {record.id: record for record in await store.drifts.for_monitor(monitor_id)}
    changed: list[DriftRecord] = []
    changes: list[dict[str, Any]] = []
    for drift in listed:
        before = stored.get(str(drift["id"]))
        record, change = _merge(before, drift, now)
        if record != before:
            changed.append(record)
        if change:
            changes.append({"change": change, "drift": drift_view(record)})
            report.new += change == "new"
            report.fixed += change == "fixed"
    seen = {str(drift["id"]) for drift in listed}
    latest = await store.runs.latest(monitor_id)
    if latest is None or latest.drifts_count is not None:  # a failed latest run proves nothing
        for record in stored.values():
            if record.status == DriftState.ACTIVE and record.id not in seen:
                gone = record.model_copy(
                    update={
                        "status": DriftState.FIXED,
                        "graph_status": "gone",
                        "resolved_at": now,
                        "resolution": "vanished",
                    }
                )
                changed.append(gone)
                changes.append({"change": "vanished", "drift": drift_view(gone)})
                report.vanished += 1
    await store.drifts.write(changed)
    return changes


async def poll_drifts() -> DriftReport:
    report = await sync()
    log.info(
        "drift poll: %d runs, %d drifts listed, %d new, %d fixed, %d vanished, %d callbacks",
        report.runs, report.drifts, report.new, report.fixed, report.vanished, report.callbacks,
    )  # fmt: skip
    return report


def drift_view(record: DriftRecord) -> dict[str, Any]:
    return record.model_dump(mode="json", by_alias=True)


async def list_drifts(
    status: str | None, monitor_id: str | None, resource_type: str | None, top: str | None, continuation: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    wanted = "all" if status is None else status
    if wanted not in DRIFT_STATUSES:
        raise errors.ValidationFailed([errors.FieldError("status", f"must be one of {', '.join(DRIFT_STATUSES)}")])
    records, token = await clients.store().drifts.page(
        None if wanted == "all" else wanted, monitor_id or None, resource_type or None, parse_top(top),
        continuation_token(continuation),
    )  # fmt: skip
    return [drift_view(record) for record in records], token


async def list_runs(
    monitor_id: str, top: str | None, continuation: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    runs, token = await clients.store().runs.page(monitor_id, parse_top(top), continuation_token(continuation))
    return [run.model_dump(mode="json", by_alias=True) for run in runs], token
