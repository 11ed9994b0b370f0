"""HTTP triggers, wiring only: parse the request, call one use case, turn the result into a response."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import azure.functions as func

from snapshot import catalogue
from snapshot.http_support import (
    Handler,
    accepted,
    api_base,
    diff_url,
    flag,
    handled,
    in_tenant,
    job_response,
    job_url,
    jobs_url,
    json_response,
    monitor_url,
    page_response,
    paging,
    read_json_body,
)
from snapshot.models import Lifecycle, parse_body, parse_idempotency_key, parse_start_request
from snapshot.monitoring import MonitorRequest, RebaselineRequest
from snapshot.onboarding import RegisterTenantRequest, tenant_view
from snapshot.openapi.tenant_routes import SCOPED_FUNCTION_PREFIX
from snapshot.settings import get_settings
from snapshot.usecases import compare, delete, drifts, monitors, quota, reads, report, start, tenants
from snapshot.usecases import health as health_check
from snapshot.views import job_view

log = logging.getLogger(__name__)

bp = func.Blueprint()

CORRELATION_HEADERS = ("x-ms-workflow-run-id", "x-ms-client-tracking-id", "x-ms-workflow-name")


def tenant_route(name: str, route: str, method: str) -> Callable[[Handler], Handler]:
    """Register a route of a tenant's data twice: `route` for the home tenant, and `tenants/{tenantId}/route`
    (function `tenant_<name>`) for the tenant the path names. The handler is the same; only the scope differs."""

    def register(handler: Handler) -> Handler:
        level = func.AuthLevel.FUNCTION
        home = handled(handler)
        bp.function_name(name)(bp.route(route=route, methods=[method], auth_level=level)(home))
        scoped = bp.route(route=f"tenants/{{tenantId}}/{route}", methods=[method], auth_level=level)
        bp.function_name(SCOPED_FUNCTION_PREFIX + name)(scoped(handled(in_tenant(handler))))
        return home

    return register


@tenant_route("start_snapshot", "snapshots", "POST")
async def start_snapshot(req: func.HttpRequest) -> func.HttpResponse:
    request = parse_start_request(read_json_body(req), get_settings().callback_hosts)
    key = parse_idempotency_key(req.headers.get("idempotency-key"))
    result = await start.start_snapshot(request, key, jobs_url(req))
    correlation = {h: req.headers.get(h) for h in CORRELATION_HEADERS if req.headers.get(h)}
    log.info(
        "snapshot job %s %s (idempotency key: %s) %s",
        result.record.id,
        "created" if result.created else "returned again",
        "yes" if key else "no",
        json.dumps(correlation),
    )
    return accepted(req, result.record)


@tenant_route("get_snapshot", "snapshots/{id}", "GET")
async def get_snapshot(req: func.HttpRequest) -> func.HttpResponse:
    """Logic Apps' async pattern: 202 until stored (200); 424 when there is no content to wait for."""
    record = await reads.get_job(req.route_params["id"])
    status = {Lifecycle.RUNNING: 202, Lifecycle.STORED: 200}.get(record.lifecycle, 424)
    return job_response(req, record, status, read_from_row=True)


@tenant_route("list_snapshots", "snapshots", "GET")
async def list_snapshots(req: func.HttpRequest) -> func.HttpResponse:
    records, token = await reads.list_jobs(req.params.get("status"), *paging(req))
    views = [job_view(record, job_url(req, record.id)).model_dump(mode="json", by_alias=True) for record in records]
    return page_response(req, views, token)


@tenant_route("list_snapshot_resources", "snapshots/{id}/resources", "GET")
async def list_snapshot_resources(req: func.HttpRequest) -> func.HttpResponse:
    job_id, resource_type = req.route_params["id"], req.params.get("resourceType")
    items, token = await reads.list_resources(job_id, resource_type, *paging(req))
    return page_response(req, items, token)


@tenant_route("get_snapshot_content", "snapshots/{id}/content", "GET")
async def get_snapshot_content(req: func.HttpRequest) -> func.HttpResponse:
    body = await reads.content_bytes(req.route_params["id"])
    return func.HttpResponse(body, status_code=200, mimetype="application/json")


@tenant_route("delete_snapshot", "snapshots/{id}", "DELETE")
async def delete_snapshot(req: func.HttpRequest) -> func.HttpResponse:
    await delete.delete_job(req.route_params["id"], keep_content=flag(req, "keepContent"))
    return func.HttpResponse(status_code=204)


@tenant_route("diff_snapshots", "snapshots/{id}/diff", "GET")
async def diff_snapshots(req: func.HttpRequest) -> func.HttpResponse:
    result = await compare.diff_jobs(req.route_params["id"], req.params.get("against"), req.params.get("resourceType"))
    return json_response(result)


@tenant_route("get_change_report", "snapshots/{id}/report", "GET")
async def get_change_report(req: func.HttpRequest) -> func.HttpResponse:
    """The HTML change report; its counts also in headers, so a Logic App can decide whether to send it."""
    job_id = req.route_params["id"]
    result = await report.change_report(job_id, req.params.get("against"), lambda old: diff_url(req, job_id, old))
    summary = result.summary
    headers = {
        "X-Diff-Against": result.against,
        "X-Diff-Added": str(summary.added),
        "X-Diff-Removed": str(summary.removed),
        "X-Diff-Changed": str(summary.changed),
        "X-Diff-Not-Comparable": str(summary.not_comparable),
    }
    return func.HttpResponse(result.html, status_code=200, headers=headers, mimetype="text/html", charset="utf-8")


@bp.function_name("list_resource_types")
@bp.route(route="resource-types", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def list_resource_types(req: func.HttpRequest) -> func.HttpResponse:
    groups = catalogue.grouped()
    workloads = [{"name": name, "count": len(types), "resourceTypes": types} for name, types in groups.items()]
    return json_response({"count": sum(len(t) for t in groups.values()), "workloads": workloads})


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def health(req: func.HttpRequest) -> func.HttpResponse:
    report = await health_check.health()
    body = {"status": "healthy" if report.healthy else "unhealthy", "checks": report.checks}
    return json_response(body, 200 if report.healthy else 503)


@tenant_route("get_quota", "quota", "GET")
async def get_quota(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(await quota.quota_status())


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    from snapshot.openapi import document

    return json_response(document(api_base(req)))


@tenant_route("create_monitor", "snapshots/{id}/monitor", "POST")
async def create_monitor(req: func.HttpRequest) -> func.HttpResponse:
    request = parse_body(MonitorRequest, read_json_body(req), get_settings().callback_hosts)
    view = await monitors.create_monitor(req.route_params["id"], request)
    return json_response(view, 201, {"Location": monitor_url(req, view["id"])})


@tenant_route("list_monitors", "monitors", "GET")
async def list_monitors(req: func.HttpRequest) -> func.HttpResponse:
    status = await monitors.budget()
    listed = status.pop("monitors")
    return json_response({"value": listed, "budget": status})


@tenant_route("get_monitor", "monitors/{id}", "GET")
async def get_monitor(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(await monitors.get_monitor(req.route_params["id"]))


@tenant_route("delete_monitor", "monitors/{id}", "DELETE")
async def delete_monitor(req: func.HttpRequest) -> func.HttpResponse:
    await monitors.delete_monitor(req.route_params["id"])
    return func.HttpResponse(status_code=204)


@tenant_route("rebaseline_monitor", "monitors/{id}/baseline", "POST")
async def rebaseline_monitor(req: func.HttpRequest) -> func.HttpResponse:
    request = parse_body(RebaselineRequest, read_json_body(req))
    return json_response(await monitors.rebaseline(req.route_params["id"], request.snapshotId))


@tenant_route("list_monitor_runs", "monitors/{id}/runs", "GET")
async def list_monitor_runs(req: func.HttpRequest) -> func.HttpResponse:
    items, token = await drifts.list_runs(req.route_params["id"], *paging(req))
    return page_response(req, items, token)


@tenant_route("list_drifts", "drifts", "GET")
async def list_drifts(req: func.HttpRequest) -> func.HttpResponse:
    filters = (req.params.get("status"), req.params.get("monitorId"), req.params.get("resourceType"))
    items, token = await drifts.list_drifts(*filters, *paging(req))
    return page_response(req, items, token)


@bp.function_name("swagger")
@bp.route(route="swagger.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def swagger(req: func.HttpRequest) -> func.HttpResponse:
    from snapshot.openapi import v2

    return json_response(v2.document(api_base(req)))


@bp.function_name("register_tenant")
@bp.route(route="tenants", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def register_tenant(req: func.HttpRequest) -> func.HttpResponse:
    record, created = await tenants.register(parse_body(RegisterTenantRequest, read_json_body(req)))
    view = tenant_view(record, get_settings())
    return json_response(view, 201 if created else 200, {"Location": f"{api_base(req)}/tenants/{record.tenant_id}"})


@bp.function_name("list_tenants")
@bp.route(route="tenants", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def list_tenants(req: func.HttpRequest) -> func.HttpResponse:
    settings = get_settings()
    return json_response({"value": [tenant_view(record, settings) for record in await tenants.list_all()]})


@bp.function_name("get_tenant")
@bp.route(route="tenants/{tenantId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def get_tenant(req: func.HttpRequest) -> func.HttpResponse:
    refresh = flag(req, "refresh")
    return json_response(tenant_view(await tenants.get(req.route_params["tenantId"], refresh), get_settings()))


@bp.function_name("delete_tenant")
@bp.route(route="tenants/{tenantId}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def delete_tenant(req: func.HttpRequest) -> func.HttpResponse:
    await tenants.remove(req.route_params["tenantId"], purge=flag(req, "purge"))
    return func.HttpResponse(status_code=204)
