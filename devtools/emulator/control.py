"""The unauthenticated `/_emulator/*` control API: config, faults, the request log, the tenants, their
configuration and jobs. A route about one tenant's state takes `?tenant=<id>` (the home tenant by default).

`GET /_emulator/` lists the routes; devtools/emulator_client.py is the client tests and benches use.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from devtools.emulator.faults import FAULTS_KEY, Fault
from devtools.emulator.identity import IDENTITY_KEY, AppRegistration
from devtools.emulator.requestlog import LOG_KEY
from devtools.emulator.state import (
    STATUSES,
    TERMINAL,
    ControlError,
    EmulatorState,
    Job,
    merge_config,
    parse_datetime,
)
from devtools.emulator.tenants import TENANTS_KEY, tenant_of

PREFIX = "/_emulator"

Operation = Callable[[web.Request, EmulatorState], Awaitable[web.StreamResponse]]
routes = web.RouteTableDef()


def control_operation(operation: Operation) -> Handler:
    """A control route: due jobs finish first, and a ControlError is a 400 naming what was wrong."""

    @functools.wraps(operation)
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            state = tenant_of(request).state
            state.advance()
            return await operation(request, state)
        except ControlError as exc:
            return web.json_response({"error": str(exc)}, status=400)

    return handler


async def _json_body(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    try:
        return await request.json()
    except ValueError as exc:
        raise ControlError("the body is not JSON") from exc


def _job_json(request: web.Request, state: EmulatorState, job: Job) -> dict[str, Any]:
    data = state.job_json(job, f"{request.scheme}://{request.host}/v1.0")
    data["snapshotId"] = job.snapshot_id
    return data


def _route_lines(app: web.Application) -> list[dict[str, str]]:
    lines = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith(PREFIX + "/") and route.method != "*":
            lines.append({"method": route.method, "path": path, "description": (route.handler.__doc__ or "").strip()})
    return lines


@routes.get(PREFIX + "/", allow_head=False)
@control_operation
async def index(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """List the control routes: method, path and what each does."""
    lines = ",\n".join(json.dumps(line) for line in _route_lines(request.app))
    return web.Response(text=f"[\n{lines}\n]\n", content_type="application/json")


@routes.post(PREFIX + "/reset")
@control_operation
async def reset(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Forget jobs, contents, monitors, tenant changes, faults and the request log; restore config, tenants, app."""
    request.app[TENANTS_KEY].reset()
    request.app[IDENTITY_KEY].app = AppRegistration()
    request.app[FAULTS_KEY].pending.clear()
    request.app[LOG_KEY].entries.clear()
    return web.json_response({"reset": True})


@routes.get(PREFIX + "/tenants", allow_head=False)
@control_operation
async def list_tenants(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """The tenants: id, display name, whether the app registration is consented there, jobs held."""
    return web.json_response({"tenants": [t.to_json() for t in request.app[TENANTS_KEY].by_id.values()]})


@routes.post(PREFIX + "/tenants")
@control_operation
async def add_tenant(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Add a customer tenant: {tenantId (default: a new GUID), displayName, consented (default true)}."""
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ControlError("a tenant is {tenantId, displayName, consented}")
    tenant_id = str(body.get("tenantId") or uuid.uuid4())
    tenant = request.app[TENANTS_KEY].add(
        tenant_id, str(body.get("displayName") or f"Tenant {tenant_id[:8]}"), bool(body.get("consented", True))
    )
    return web.json_response(tenant.to_json(), status=201)


@routes.patch(PREFIX + "/tenants/{tenant_id}")
@control_operation
async def update_tenant(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Grant or revoke the app's consent in a tenant: {consented}; or rename it: {displayName}."""
    tenant = request.app[TENANTS_KEY].named(request.match_info["tenant_id"])
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ControlError("the body is {consented, displayName}")
    if tenant is request.app[TENANTS_KEY].home and body.get("consented") is False:
        raise ControlError("the home tenant is the managed identity's own: it needs no consent")
    tenant.consented = bool(body.get("consented", tenant.consented))
    tenant.display_name = str(body.get("displayName") or tenant.display_name)
    return web.json_response(tenant.to_json())


@routes.get(PREFIX + "/app", allow_head=False)
@control_operation
async def get_app(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """The multi-tenant app registration: client id and its federated identity credential."""
    return web.json_response(request.app[IDENTITY_KEY].app.to_json())


@routes.post(PREFIX + "/app")
@control_operation
async def set_app(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Change the federated identity credential: {issuer, subject, audiences} (what Entra will accept)."""
    body = await _json_body(request)
    app = request.app[IDENTITY_KEY].app
    if not isinstance(body, dict) or not set(body) <= {"issuer", "subject", "audiences"}:
        raise ControlError("the body is {issuer, subject, audiences}")
    app.issuer = str(body.get("issuer", app.issuer))
    app.subject = str(body.get("subject", app.subject))
    audiences = body.get("audiences", app.audiences)
    if not isinstance(audiences, list):
        raise ControlError("audiences is a list")
    app.audiences = [str(a) for a in audiences]
    return web.json_response(app.to_json())


@routes.get(PREFIX + "/config", allow_head=False)
@control_operation
async def get_config(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """The config: job timing, latency, paging, failing or unsupported types, tenant size, permission."""
    return web.json_response(state.config)


@routes.post(PREFIX + "/config")
@control_operation
async def set_config(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Merge the posted keys into the config, validated; answer the whole config."""
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ControlError("config is an object")
    state.config = merge_config(state.config, body)
    return web.json_response(state.config)


@routes.get(PREFIX + "/faults", allow_head=False)
@control_operation
async def list_faults(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """The faults not used up yet."""
    return web.json_response({"faults": [f.to_json() for f in request.app[FAULTS_KEY].pending]})


@routes.post(PREFIX + "/faults")
@control_operation
async def add_faults(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Add faults: {method, path (substring), action respond|drop|reset|delay|redirect|notJson|truncate, status, times, retryAfter, delayMs, location}."""
    body = await _json_body(request)
    faults = request.app[FAULTS_KEY]
    faults.pending.extend(Fault.from_json(item) for item in (body if isinstance(body, list) else [body]))
    return web.json_response({"faults": [f.to_json() for f in faults.pending]})


@routes.delete(PREFIX + "/faults")
@control_operation
async def clear_faults(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Drop every pending fault."""
    request.app[FAULTS_KEY].pending.clear()
    return web.json_response({"faults": []})


@routes.get(PREFIX + "/requests", allow_head=False)
@control_operation
async def list_requests(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """The Graph and token requests seen since the last reset, and how many per operation."""
    log = request.app[LOG_KEY]
    return web.json_response({"requests": log.entries, "counts": log.counts()})


@routes.delete(PREFIX + "/requests")
@control_operation
async def clear_requests(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Empty the request log."""
    log = request.app[LOG_KEY]
    log.entries.clear()
    return web.json_response({"requests": log.entries, "counts": log.counts()})


@routes.get(PREFIX + "/tenant", allow_head=False)
@control_operation
async def tenant_resources(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """The tenant's current resources of ?resourceType=..., as a snapshot taken now would hold them."""
    resource_type = request.query.get("resourceType")
    if not resource_type:
        raise ControlError("resourceType is required")
    return web.json_response({"resources": state.tenant_resources(resource_type)})


@routes.post(PREFIX + "/tenant")
@control_operation
async def change_tenant(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Change the tenant: {set: [{resourceType, displayName, properties}], remove: [{resourceType, displayName}]}."""
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise ControlError("the body is {set: [...], remove: [...]}")
    state.change_tenant(body)
    return web.json_response({"overrides": len(state.overrides)})


@routes.get(PREFIX + "/jobs", allow_head=False)
@control_operation
async def list_jobs(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Every job with every field, its real status and its snapshotId."""
    return web.json_response([_job_json(request, state, job) for job in state.jobs.values()])


@routes.post(PREFIX + "/jobs")
@control_operation
async def create_job(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Create a job as another tool would: {displayName, resources, description, status, createdDateTime, ...}."""
    return web.json_response(_job_json(request, state, _create_job(state, await _json_body(request))))


def _existing_job(request: web.Request, state: EmulatorState) -> Job:
    job_id = request.match_info["job_id"]
    job = state.jobs.get(job_id)
    if job is None:
        raise web.HTTPNotFound(text=json.dumps({"error": f"no job {job_id}"}), content_type="application/json")
    return job


@routes.patch(PREFIX + "/jobs/{job_id}")
@control_operation
async def update_job(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Set a job's status (pinned if not final), createdDateTime, errorDetails (any JSON list), statusText (shown as is)."""
    job = _existing_job(request, state)
    _update_job(state, job, await _json_body(request))
    return web.json_response(_job_json(request, state, job))


@routes.post(PREFIX + "/jobs/{job_id}/complete")
@control_operation
async def complete_job(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Finish a job now, capturing the tenant as it is."""
    job = _existing_job(request, state)
    if not job.final_status:
        state.finish(job)
    return web.json_response(_job_json(request, state, job))


@routes.post(PREFIX + "/jobs/{job_id}/expire")
@control_operation
async def expire_job(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """Remove a job and its content, as Graph does when a job expires."""
    job = _existing_job(request, state)
    state.remove_job(job.id)
    return web.json_response({"expired": job.id})


@routes.get(PREFIX + "/snapshots/{snapshot_id}", allow_head=False)
@control_operation
async def snapshot_content(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    """A snapshot's content, without a token."""
    snapshot_id = request.match_info["snapshot_id"]
    snapshot = state.snapshots.get(snapshot_id)
    if snapshot is None:
        return web.json_response({"error": f"no snapshot {snapshot_id}"}, status=404)
    return web.Response(body=snapshot.body(), content_type="application/json")


async def unknown_route(request: web.Request) -> web.StreamResponse:
    return web.json_response({"error": f"no control route {request.method} {request.path}"}, status=404)


def _status_value(value: Any) -> str:
    if value not in STATUSES:
        raise ControlError(f"status must be one of {STATUSES}")
    return str(value)


def _create_job(state: EmulatorState, body: Any) -> Job:
    if not isinstance(body, dict) or not isinstance(body.get("displayName"), str):
        raise ControlError("a job needs displayName and resources")
    resources = body.get("resources") or []
    if not isinstance(resources, list):
        raise ControlError("resources is a list")
    try:
        created = parse_datetime(body["createdDateTime"]) if body.get("createdDateTime") else None
    except ValueError as exc:
        raise ControlError("createdDateTime is not ISO 8601") from exc
    job = state.new_job(
        body["displayName"],
        [str(r) for r in resources],
        str(body.get("description") or ""),
        created=created,
        created_by=body.get("createdBy") or {"user": {"id": str(uuid.uuid4()), "displayName": "Another Admin"}},
    )
    _update_job(state, job, {k: v for k, v in body.items() if k in ("status", "errorDetails", "statusText")})
    return job


def _update_job(state: EmulatorState, job: Job, body: Any) -> None:
    if not isinstance(body, dict):
        raise ControlError("the body is an object")
    if body.get("createdDateTime"):
        try:
            job.created = parse_datetime(str(body["createdDateTime"]))
        except ValueError as exc:
            raise ControlError("createdDateTime is not ISO 8601") from exc
    details = body.get("errorDetails")
    if details is not None and not isinstance(details, list):
        raise ControlError("errorDetails is a list (of strings, or of anything Graph might send: objects, nulls)")
    if body.get("status"):
        status = _status_value(body["status"])
        if job.snapshot_id:
            state.snapshots.pop(job.snapshot_id, None)
            job.snapshot_id = None
        if status in TERMINAL:
            state.finish(job, status=status, error_details=details)
            _status_text(job, body)
            return
        job.final_status, job.completed, job.pinned_status = None, None, status
    if details is not None:
        job.error_details = list(details)
    _status_text(job, body)


def _status_text(job: Job, body: dict[str, Any]) -> None:
    if "statusText" in body:
        text = body["statusText"]
        if text is not None and (not isinstance(text, str) or not text):
            raise ControlError("statusText is a non-empty string, or null to show the real status again")
        job.status_text = text
