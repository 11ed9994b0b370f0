"""Monitors built from stored snapshots: create, list with the daily budget, read, delete and rebaseline.

Limits are decided from Graph's state, never from error text (Graph documents no error for them): its list
of monitors gives the count (30 at most), and each monitor's baseline its instances; the budget is
(all monitors' instances, inactive ones included, + the new ones) x 4 runs <= 800 a day. Monitors created
elsewhere are listed, but only a request naming one by id deletes or rebaselines it.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from snapshot import clients, errors
from snapshot.baseline import Selection, baseline_document, baseline_resources
from snapshot.models import CallbackState
from snapshot.monitoring import (
    DAILY_RESOURCE_BUDGET,
    MAX_MONITORS,
    MonitorRecord,
    MonitorRequest,
    RunRecord,
    daily_cost,
)
from snapshot.usecases import drifts, reads

log = logging.getLogger(__name__)


async def _baseline_entries(snapshot_id: str, selection: Selection) -> list[dict[str, Any]]:
    await reads.stored_job(snapshot_id)
    entries = baseline_resources([r async for r in reads.stored_resources(snapshot_id)], selection)
    if not entries:
        raise errors.ValidationFailed(
            [errors.FieldError("resourceTypes", f"selects no stored resource of snapshot {snapshot_id}")]
        )
    return entries


async def budget() -> dict[str, Any]:
    """Graph's monitors with their baseline sizes, and the daily budget they use."""
    graph = clients.monitor_graph()
    stored = {record.id: record for record in await clients.store().monitors.all()}
    monitors = []
    for monitor in await graph.list_monitors():
        baseline = await graph.get_baseline(str(monitor["id"]))
        entries = len(baseline.get("resources") or [])
        monitors.append(
            {
                "id": monitor["id"],
                "displayName": monitor.get("displayName"),
                "status": monitor.get("status"),
                "createdByApp": monitor["id"] in stored,
                "baselineEntries": entries,
                "resourcesPerDay": daily_cost(entries),
            }
        )
    used = sum(m["resourcesPerDay"] for m in monitors)
    return {
        "used": used,
        "limit": DAILY_RESOURCE_BUDGET,
        "remaining": max(0, DAILY_RESOURCE_BUDGET - used),
        "monitorCount": len(monitors),
        "monitorLimit": MAX_MONITORS,
        "monitors": monitors,
    }


def _check_budget(status: dict[str, Any], new_entries: int, replacing: str | None = None) -> None:
    current = sum(m["resourcesPerDay"] for m in status["monitors"] if m["id"] == replacing)
    after = status["used"] - current + daily_cost(new_entries)
    if after > DAILY_RESOURCE_BUDGET:
        numbers = {"used": status["used"], "requested": daily_cost(new_entries), "limit": DAILY_RESOURCE_BUDGET}
        raise errors.MonitorBudgetExceeded(
            f"the monitors use {status['used']} of {DAILY_RESOURCE_BUDGET} monitored resources a day; this baseline's "
            f"{new_entries} instances x 4 runs add {daily_cost(new_entries)} (minus {current} it replaces): select "
            "fewer resources, or delete or shrink another monitor",
            numbers,
        )


async def create_monitor(snapshot_id: str, request: MonitorRequest) -> dict[str, Any]:
    entries = await _baseline_entries(snapshot_id, request.selection())
    status = await budget()
    if status["monitorCount"] >= MAX_MONITORS:
        raise errors.MonitorCountReached(
            f"Microsoft Graph holds {status['monitorCount']} monitors, the most a tenant may have ({MAX_MONITORS}); "
            "delete one (DELETE /api/monitors/{id}) first",
            {"monitors": status["monitorCount"], "limit": MAX_MONITORS},
        )
    _check_budget(status, len(entries))
    body = {
        "displayName": request.displayName,
        "description": request.description or "",
        "baseline": baseline_document(request.displayName, request.description, entries),
        "parameters": {},
    }
    created = await _create_once(body, {str(m["id"]) for m in status["monitors"]})
    record = MonitorRecord(
        id=str(created["id"]),
        display_name=request.displayName,
        description=request.description,
        snapshot_id=snapshot_id,
        resource_types=request.resourceTypes,
        resource_names=request.resourceNames,
        properties=request.properties,
        baseline_entries=len(entries),
        created=datetime.now(UTC),
        callback=CallbackState.create(request.callbackUrl) if request.callbackUrl else None,
    )
    await clients.store().monitors.put(record)
    log.info("monitor %s created from snapshot %s with %d baseline entries", record.id, snapshot_id, len(entries))
    return monitor_view(created, record, entries, None)


async def _create_once(body: dict[str, Any], before: set[str]) -> dict[str, Any]:
    """POST the monitor once (never retried). When the answer is lost, Graph's list says whether it exists:
    a new monitor with this name is the one this request made; none means the caller may retry."""
    graph = clients.monitor_graph()
    try:
        return await graph.create_monitor(body)
    except errors.GraphUnavailable:
        made = [
            m for m in await graph.list_monitors()
            if str(m.get("id")) not in before and m.get("displayName") == body["displayName"]
        ]  # fmt: skip
        if len(made) != 1:
            raise
        log.warning("monitor create answer lost; Graph lists it as %s", made[0]["id"])
        return made[0]


def monitor_view(
    graph: dict[str, Any], record: MonitorRecord | None, entries: list[dict[str, Any]], last_run: RunRecord | None
) -> dict[str, Any]:
    types = Counter(str(entry.get("resourceType", "")).lower() for entry in entries)
    view: dict[str, Any] = {
        key: graph.get(key)
        for key in ("id", "displayName", "description", "status", "mode", "monitorRunFrequencyInHours")
    }
    view.update(
        {
            "createdDateTime": graph.get("createdDateTime"),
            "createdByApp": record is not None,
            "snapshotId": record.snapshot_id if record else None,
            "baseline": {"entries": len(entries), "resourcesPerDay": daily_cost(len(entries)), "byType": dict(types)},
            "lastRun": last_run.model_dump(mode="json", by_alias=True) if last_run else None,
            "callback": _callback_view(record),
        }
    )
    return view


def _callback_view(record: MonitorRecord | None) -> dict[str, Any] | None:
    if record is None or record.callback is None:
        return None
    state = record.callback
    return {"url": state.redacted_url, "status": state.status.value, "pendingChanges": len(record.pending_changes)}


async def get_monitor(monitor_id: str) -> dict[str, Any]:
    graph = clients.monitor_graph()
    try:
        monitor = await graph.get_monitor(monitor_id)
    except errors.GraphNotFound:
        raise errors.NotFound(f"Microsoft Graph has no monitor with id {monitor_id!r}") from None
    baseline = await graph.get_baseline(monitor_id)
    store = clients.store()
    record = await store.monitors.get(monitor_id)
    return monitor_view(monitor, record, list(baseline.get("resources") or []), await store.runs.latest(monitor_id))


async def delete_monitor(monitor_id: str) -> None:
    """Delete the monitor in Graph (only this one, by id); its drift and run history stays."""
    store = clients.store()
    record = await store.monitors.get(monitor_id)
    existed = await clients.monitor_graph().delete_monitor(monitor_id)
    if record is not None:
        await store.monitors.delete(monitor_id)
    if not existed and record is None:
        raise errors.NotFound(f"Microsoft Graph has no monitor with id {monitor_id!r}")


async def rebaseline(monitor_id: str, snapshot_id: str) -> dict[str, Any]:
    """Replace the monitor's baseline with one from a newer stored snapshot; its drifts are recorded first,
    because Graph deletes a monitor's drifts and results when its baseline changes."""
    store = clients.store()
    graph = clients.monitor_graph()
    record = await store.monitors.get(monitor_id)
    selection = record.selection() if record else Selection()
    entries = await _baseline_entries(snapshot_id, selection)
    try:
        monitor = await graph.get_monitor(monitor_id)
    except errors.GraphNotFound:
        raise errors.NotFound(f"Microsoft Graph has no monitor with id {monitor_id!r}") from None
    _check_budget(await budget(), len(entries), replacing=monitor_id)
    await drifts.sync(monitor_id)
    name = str(monitor.get("displayName") or (record.display_name if record else monitor_id))
    document = baseline_document(name, monitor.get("description"), entries)
    await graph.update_monitor(monitor_id, {"baseline": document})
    if record is not None:
        changes = {"snapshot_id": snapshot_id, "baseline_entries": len(entries), "rebaselined": datetime.now(UTC)}
        record = record.model_copy(update=changes)
        await store.monitors.put(record)
    log.info("monitor %s rebaselined from snapshot %s (%d entries)", monitor_id, snapshot_id, len(entries))
    return monitor_view(monitor, record, entries, await store.runs.latest(monitor_id))
