"""Graph's UTCM monitor routes (monitors, baselines, drifts, monitoring results) and their control routes.

Quirks kept: create answers 201, update 204 (a baseline change deletes that monitor's drifts and results),
`$select`-only fields (monitor createdBy/lastModifiedBy/inactivationReason/parameters, drift
driftedProperties/resourceInstanceIdentifier, result errorDetails), paging by `$top`/`$skiptoken`. The
30-monitor and 800-a-day limits are answered with a configurable error: Graph documents none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from devtools.emulator import odata
from devtools.emulator.control import PREFIX, ControlError, control_operation
from devtools.emulator.graph import (
    ADMIN,
    DISPLAY_NAME_MESSAGE,
    DISPLAY_NAME_RULE,
    KEY,
    _base_url,
    _key,
    graph_operation,
    require_permission,
)
from devtools.emulator.monitor_state import MonitorState
from devtools.emulator.responses import GraphError, graph_json, json_object_body
from devtools.emulator.state import EmulatorState, parse_datetime
from devtools.emulator.tenants import tenant_of

MONITORS_PATH = "/" + ADMIN + "/configurationMonitors{slash:/?}"
MONITOR_PATH = "/" + ADMIN + "/configurationMonitors" + KEY
BASELINE_PATH = "/" + ADMIN + "/configurationMonitors{key:/[^/]+}/baseline{slash:/?}"
DRIFTS_PATH = "/" + ADMIN + "/configurationDrifts{slash:/?}"
RESULTS_PATH = "/" + ADMIN + "/configurationMonitoringResults{slash:/?}"

MONITOR_SELECT_ONLY = ("createdBy", "lastModifiedBy", "inactivationReason", "parameters")
DRIFT_SELECT_ONLY = ("driftedProperties", "resourceInstanceIdentifier")
RESULT_SELECT_ONLY = ("errorDetails",)

routes = web.RouteTableDef()


def _state(request: web.Request) -> MonitorState:
    return tenant_of(request).monitors


def _shape(item: dict[str, Any], select_only: tuple[str, ...], query: Any) -> dict[str, Any]:
    raw = query.get("$select")
    if raw is None:
        return {k: v for k, v in item.items() if k not in select_only}
    wanted = {f.strip().lower() for f in raw.split(",") if f.strip()} | {"id"}
    unknown = [f for f in wanted if f != "*" and f not in {k.lower() for k in item}]
    if unknown:
        raise GraphError(400, f"Could not find a property named '{unknown[0]}'.")
    return {k: v for k, v in item.items() if "*" in wanted or k.lower() in wanted}


def _predicate(expression: str) -> Callable[[dict[str, Any]], bool]:
    checks = []
    for clause in odata._split_and(expression):
        match = odata.FILTER_COMPARE.match(clause)
        if not match or match.group(2).lower() not in ("eq", "ne", "ge", "le"):
            raise GraphError(400, f"Invalid filter clause: '{clause.strip()}'.")
        name, op, value = match.group(1), match.group(2).lower(), odata._literal(match.group(3))
        checks.append((name, op, value))

    def test(item: dict[str, Any]) -> bool:
        for name, op, value in checks:
            actual: Any = item.get(name)
            if hasattr(value, "tzinfo"):
                actual = parse_datetime(actual) if actual else None
                if actual is None:
                    return False
            if not {"eq": actual == value, "ne": actual != value,
                    "ge": actual is not None and actual >= value, "le": actual is not None and actual <= value}[op]:  # fmt: skip
                return False
        return True

    return test


def _collection(
    request: web.Request, items: list[dict[str, Any]], select_only: tuple[str, ...], name: str
) -> web.Response:
    query = request.query
    if "$filter" in query:
        items = [item for item in items if _predicate(query["$filter"])(item)]
    config = tenant_of(request).state.config
    size = odata.page_size(query, int(config["pageSize"]), int(config["maxPageSize"]))
    start = odata.offset(query)
    base = _base_url(request)
    body: dict[str, Any] = {"@odata.context": f"{base}/$metadata#admin/configurationManagement/{name}"}
    body["value"] = [_shape(item, select_only, query) for item in items[start : start + size]]
    if start + size < len(items):
        body["@odata.nextLink"] = odata.next_link(f"{base}/admin/configurationManagement/{name}", query, start + size)
    return graph_json(body)


def _monitor(state: MonitorState, request: web.Request) -> Any:
    monitor_id = _key(request).strip("{}")
    monitor = state.monitors.get(monitor_id)
    if monitor is None:
        raise GraphError(404, f"Configuration monitor with id '{monitor_id}' was not found.", "ResourceNotFound")
    return monitor


def _check_baseline(baseline: Any) -> int:
    if not isinstance(baseline, dict) or not isinstance(baseline.get("resources"), list) or not baseline["resources"]:
        raise GraphError(400, "The Resources field is required.", "BadRequest")
    names = set()
    for entry in baseline["resources"]:
        if not isinstance(entry, dict) or not entry.get("resourceType") or not entry.get("displayName"):
            raise GraphError(400, "Each baseline resource needs displayName and resourceType.", "BadRequest")
        if not isinstance(entry.get("properties"), dict) or not entry["properties"]:
            raise GraphError(400, "Resource properties cannot be empty.", "BadRequest")
        if entry["displayName"] in names:
            raise GraphError(400, f"Duplicate resource displayName '{entry['displayName']}'.", "BadRequest")
        names.add(entry["displayName"])
    return len(baseline["resources"])


def _limit_error(state: MonitorState) -> GraphError:
    error = state.limit_error
    return GraphError(int(error["status"]), str(error["message"]), str(error.get("code") or ""))


@routes.post(MONITORS_PATH, name="monitor_create")
@graph_operation
async def create_monitor(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    require_permission(tenant, write=True)
    state, body = _state(request), await json_object_body(request)
    name = body.get("displayName")
    if not isinstance(name, str) or not DISPLAY_NAME_RULE.match(name):
        raise GraphError(400, DISPLAY_NAME_MESSAGE, "BadRequest")
    entries = _check_baseline(body.get("baseline"))
    if state.over_limits(entries):
        raise _limit_error(state)
    created_by = {"user": None, "application": {"id": "snapshot-app", "displayName": "snapshot app"}}
    monitor = state.add(body, str(tenant.config["tenantId"]), body.get("createdBy") or created_by)
    base = _base_url(request)
    result = {"@odata.context": f"{base}/$metadata#admin/configurationManagement/configurationMonitors/$entity"}
    result.update(_shape(monitor.to_json(), MONITOR_SELECT_ONLY, {}))
    return graph_json(result, status=201)


@routes.get(MONITORS_PATH, name="monitor_list", allow_head=False)
@graph_operation
async def list_monitors(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    require_permission(tenant, write=False)
    items = [m.to_json() for m in _state(request).monitors.values()]
    return _collection(request, items, MONITOR_SELECT_ONLY, "configurationMonitors")


@routes.get(BASELINE_PATH, name="monitor_baseline", allow_head=False)
@graph_operation
async def get_baseline(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    require_permission(tenant, write=False)
    monitor = _monitor(_state(request), request)
    return graph_json({"id": monitor.id, **monitor.baseline})


@routes.get(MONITOR_PATH, name="monitor_get", allow_head=False)
@graph_operation
async def get_monitor(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    require_permission(tenant, write=False)
    monitor = _monitor(_state(request), request)
    return graph_json(_shape(monitor.to_json(), MONITOR_SELECT_ONLY, request.query))


@routes.patch(MONITOR_PATH, name="monitor_update")
@graph_operation
async def update_monitor(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    require_permission(tenant, write=True)
    state = _state(request)
    monitor, body = _monitor(state, request), await json_object_body(request)
    if "baseline" in body:
        entries = _check_baseline(body["baseline"])
        if state.over_limits(entries, replacing=monitor.id):
            raise _limit_error(state)
        monitor.baseline = body["baseline"]
        state.forget_history(monitor.id)
    if "displayName" in body:
        monitor.display_name = str(body["displayName"])
    if "description" in body:
        monitor.description = str(body["description"] or "")
    if body.get("status") in ("active", "inactive"):
        monitor.status = body["status"]
    return web.Response(status=204)


@routes.delete(MONITOR_PATH, name="monitor_delete")
@graph_operation
async def delete_monitor(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    require_permission(tenant, write=True)
    state = _state(request)
    monitor = _monitor(state, request)
    del state.monitors[monitor.id]
    state.forget_history(monitor.id)
    return web.Response(status=204)


@routes.get(DRIFTS_PATH, name="drift_list", allow_head=False)
@graph_operation
async def list_drifts(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    require_permission(tenant, write=False)
    items = [d.to_json() for d in _state(request).drifts.values()]
    return _collection(request, items, DRIFT_SELECT_ONLY, "configurationDrifts")


@routes.get(RESULTS_PATH, name="result_list", allow_head=False)
@graph_operation
async def list_results(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    require_permission(tenant, write=False)
    items = [dict(r) for r in _state(request).results]
    return _collection(request, items, RESULT_SELECT_ONLY, "configurationMonitoringResults")


# --- control ---------------------------------------------------------------------------------------------


@routes.get(PREFIX + "/monitors", allow_head=False)
@control_operation
async def monitoring_state(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    """Every monitor (with its baseline), drift and monitoring result, and the limits answered."""
    state = _state(request)
    return web.json_response(
        {
            "monitors": [{**m.to_json(), "baseline": m.baseline} for m in state.monitors.values()],
            "drifts": [d.to_json() for d in state.drifts.values()],
            "results": state.results,
            "limits": {
                "maxMonitors": state.max_monitors,
                "dailyBudget": state.daily_budget,
                "error": state.limit_error,
            },
        }
    )


@routes.post(PREFIX + "/monitors")
@control_operation
async def add_monitor(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    """Create a monitor as another tool would: {displayName, description, baseline}."""
    body = await request.json() if request.can_read_body else {}
    if not isinstance(body, dict) or not isinstance(body.get("displayName"), str):
        raise ControlError("a monitor needs displayName and baseline")
    try:
        _check_baseline(body.get("baseline"))
    except GraphError as exc:
        raise ControlError(exc.message) from None
    other = {"user": {"id": "another-admin", "displayName": "Another Admin"}, "application": None}
    monitor = _state(request).add(body, str(tenant.config["tenantId"]), other)
    return web.json_response(monitor.to_json())


@routes.post(PREFIX + "/monitors/limits")
@control_operation
async def set_limits(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    """Set maxMonitors, dailyBudget and the error past them ({status, code, message})."""
    body = await request.json() if request.can_read_body else {}
    state = _state(request)
    if not isinstance(body, dict):
        raise ControlError("the body is an object")
    state.max_monitors = int(body.get("maxMonitors", state.max_monitors))
    state.daily_budget = int(body.get("dailyBudget", state.daily_budget))
    if isinstance(body.get("error"), dict):
        state.limit_error = {**state.limit_error, **body["error"]}
    return web.json_response({"maxMonitors": state.max_monitors, "dailyBudget": state.daily_budget})


@routes.post(PREFIX + "/monitors/run")
@control_operation
async def run_slot(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    """Run the monitoring slot now against the tenant as it is; {"fail": true} makes every run fail."""
    body = await request.json() if request.can_read_body else {}
    fail = bool(body.get("fail")) if isinstance(body, dict) else False
    return web.json_response({"results": _state(request).run_slot(tenant, fail=fail)})


@routes.post(PREFIX + "/monitors/age")
@control_operation
async def age_fixed(request: web.Request, tenant: EmulatorState) -> web.StreamResponse:
    """Remove every fixed drift, as Graph does 30 days after a drift is fixed."""
    return web.json_response({"removed": _state(request).age_fixed()})
