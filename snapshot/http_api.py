"""HTTP triggers, wiring only: parse the request, call one use case, turn the result into a response."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from snapshot import catalogue, errors
from snapshot.http_support import (
    accepted,
    api_base,
    diff_url,
    handled,
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
from snapshot.settings import get_settings
from snapshot.usecases import delete, drifts, monitors, quota, reads, report, start
from snapshot.usecases import health as health_check
from snapshot.views import job_view

log = logging.getLogger(__name__)

bp = func.Blueprint()

CORRELATION_HEADERS = ("x-ms-workflow-run-id", "x-ms-client-tracking-id", "x-ms-workflow-name")


@bp.function_name("start_snapshot")
@bp.route(route="snapshots", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handled
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


@bp.function_name("get_snapshot")
@bp.route(route="snapshots/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def get_snapshot(req: func.HttpRequest) -> func.HttpResponse:
    """Logic Apps' async pattern: 202 until stored (200); 424 when there is no content to wait for."""
    record = await reads.get_job(req.route_params["id"])
    status = {Lifecycle.RUNNING: 202, Lifecycle.STORED: 200}.get(record.lifecycle, 424)
    return job_response(req, record, status, read_from_row=True)


@bp.function_name("list_snapshots")
@bp.route(route="snapshots", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def list_snapshots(req: func.HttpRequest) -> func.HttpResponse:
    records, token = await reads.list_jobs(req.params.get("status"), *paging(req))
    views = [job_view(record, job_url(req, record.id)).model_dump(mode="json", by_alias=True) for record in records]
    return page_response(req, views, token)


@bp.function_name("list_snapshot_resources")
@bp.route(route="snapshots/{id}/resources", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def list_snapshot_resources(req: func.HttpRequest) -> func.HttpResponse:
    job_id, resource_type = req.route_params["id"], req.params.get("resourceType")
    items, token = await reads.list_resources(job_id, resource_type, *paging(req))
    return page_response(req, items, token)


@bp.function_name("get_snapshot_content")
@bp.route(route="snapshots/{id}/content", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def get_snapshot_content(req: func.HttpRequest) -> func.HttpResponse:
    body = await reads.content_bytes(req.route_params["id"])
    return func.HttpResponse(body, status_code=200, mimetype="application/json")


@bp.function_name("delete_snapshot")
@bp.route(route="snapshots/{id}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def delete_snapshot(req: func.HttpRequest) -> func.HttpResponse:
    keep = (req.params.get("keepContent") or "false").lower()
    if keep not in ("true", "false"):
        raise errors.ValidationFailed([errors.FieldError("keepContent", "must be true or false")])
    await delete.delete_job(req.route_params["id"], keep_content=keep == "true")
    return func.HttpResponse(status_code=204)


@bp.function_name("diff_snapshots")
@bp.route(route="snapshots/{id}/diff", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def diff_snapshots(req: func.HttpRequest) -> func.HttpResponse:
    result = await reads.diff_jobs(req.route_params["id"], req.params.get("against"), req.params.get("resourceType"))
    return json_response(result)


@bp.function_name("get_change_report")
@bp.route(route="snapshots/{id}/report", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
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


@bp.function_name("get_quota")
@bp.route(route="quota", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def get_quota(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(await quota.quota_status())


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    from snapshot.openapi import document

    return json_response(document(api_base(req)))


@bp.function_name("create_monitor")
@bp.route(route="snapshots/{id}/monitor", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def create_monitor(req: func.HttpRequest) -> func.HttpResponse:
    request = parse_body(MonitorRequest, read_json_body(req), get_settings().callback_hosts)
    view = await monitors.create_monitor(req.route_params["id"], request)
    return json_response(view, 201, {"Location": monitor_url(req, view["id"])})


@bp.function_name("list_monitors")
@bp.route(route="monitors", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def list_monitors(req: func.HttpRequest) -> func.HttpResponse:
    status = await monitors.budget()
    listed = status.pop("monitors")
    return json_response({"value": listed, "budget": status})


@bp.function_name("get_monitor")
@bp.route(route="monitors/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def get_monitor(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(await monitors.get_monitor(req.route_params["id"]))


@bp.function_name("delete_monitor")
@bp.route(route="monitors/{id}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def delete_monitor(req: func.HttpRequest) -> func.HttpResponse:
    await monitors.delete_monitor(req.route_params["id"])
    return func.HttpResponse(status_code=204)


@bp.function_name("rebaseline_monitor")
@bp.route(route="monitors/{id}/baseline", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def rebaseline_monitor(req: func.HttpRequest) -> func.HttpResponse:
    request = parse_body(RebaselineRequest, read_json_body(req))
    return json_response(await monitors.rebaseline(req.route_params["id"], request.snapshotId))


@bp.function_name("list_monitor_runs")
@bp.route(route="monitors/{id}/runs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def list_monitor_runs(req: func.HttpRequest) -> func.HttpResponse:
    items, token = await drifts.list_runs(req.route_params["id"], *paging(req))
    return page_response(req, items, token)


@bp.function_name("list_drifts")
@bp.route(route="drifts", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
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
