"""HTTP triggers: parse the request, call one service function, turn the result or error into a response.

Errors are RFC 9457 problem+json; a 5xx never carries a stack trace or a configuration value.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

import azure.functions as func
from pydantic import BaseModel

from snapshot import catalogue, errors, service
from snapshot.models import IDEMPOTENCY_KEY_MAX, ContentState, JobRecord, JobStatus, job_view, parse_start_request
from snapshot.settings import SettingsError, get_settings

log = logging.getLogger(__name__)

bp = func.Blueprint()

MAX_BODY_BYTES = 64 * 1024
PROBLEM_TYPE = "https://github.com/tenant-snapshot/docs/problems#"
ROUTE_PREFIX = "/api"
CORRELATION_HEADERS = ("x-ms-workflow-run-id", "x-ms-client-tracking-id", "x-ms-workflow-name")

Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def problem(
    status: int,
    title: str,
    detail: str,
    field_errors: list[errors.FieldError] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> func.HttpResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + title.lower().replace(" ", "-"),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if field_errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in field_errors]
    body.update({k: v for k, v in extra.items() if v is not None})
    return func.HttpResponse(
        json.dumps(body), status_code=status, headers=headers or {}, mimetype="application/problem+json"
    )


def error_response(exc: errors.ServiceError) -> func.HttpResponse:
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.Conflict):
        extra["existingJobId"] = exc.existing_job_id
    if isinstance(exc, errors.GraphUnsupportedTypes):
        extra["unsupportedResources"] = exc.types
        field_errors = [errors.FieldError("resources", f"{t!r} is not accepted by Microsoft Graph") for t in exc.types]
        return problem(exc.status, exc.title, exc.detail, field_errors, headers, **extra)
    validation = exc.errors if isinstance(exc, errors.ValidationFailed) else None
    return problem(exc.status, exc.title, exc.detail, validation, headers, **extra)


def handled(handler: Handler) -> Handler:
    """Map typed errors to problem+json; anything else to a bare 500 (logged, never echoed)."""

    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return await handler(req)
        except errors.ServiceError as exc:
            if exc.status >= 500:
                log.warning("%s %s -> %s: %s", req.method, urlsplit(req.url).path, exc.status, exc.detail)
            return error_response(exc)
        except SettingsError as exc:
            log.error("configuration error: %s", exc)
            return problem(500, "The app is misconfigured", "an app setting is invalid; see the function log")
        except Exception:
            log.exception("unhandled error in %s %s", req.method, urlsplit(req.url).path)
            return problem(500, "Internal error", "the request failed; see the function log for details")

    return wrapper


def json_response(
    model: BaseModel | dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    body = model.model_dump_json(by_alias=True) if isinstance(model, BaseModel) else json.dumps(model)
    return func.HttpResponse(body, status_code=status, headers=headers or {}, mimetype="application/json")


def read_json_body(req: func.HttpRequest) -> Any:
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise errors.UnsupportedMediaType("the body must be JSON, sent with Content-Type: application/json")
    body = req.get_body()
    if len(body) > MAX_BODY_BYTES:
        raise errors.PayloadTooLarge(f"the body is {len(body)} bytes; at most {MAX_BODY_BYTES} are accepted")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise errors.ValidationFailed([errors.FieldError("body", f"is not valid JSON{where}")]) from None


def jobs_url(req: func.HttpRequest) -> str:
    """Absolute URL of the snapshots collection, without any key."""
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}{ROUTE_PREFIX}/snapshots"


def job_url(req: func.HttpRequest, job_id: str) -> str:
    """Absolute URL of the job, keeping the caller's `code` so Logic Apps can poll it with no other auth."""
    url = f"{jobs_url(req)}/{quote(job_id, safe='')}"
    code = req.params.get("code")
    return f"{url}?code={quote(code, safe='')}" if code else url


def accepted(req: func.HttpRequest, record: JobRecord) -> func.HttpResponse:
    url = job_url(req, record.id)
    headers = {"Location": url, "Retry-After": str(get_settings().retry_after_seconds)}
    return json_response(job_view(record, url), 202, headers)


@bp.function_name("start_snapshot")
@bp.route(route="snapshots", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def start_snapshot(req: func.HttpRequest) -> func.HttpResponse:
    request = parse_start_request(read_json_body(req), get_settings().callback_hosts)
    key = (req.headers.get("idempotency-key") or "").strip() or None
    if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
        message = f"must be at most {IDEMPOTENCY_KEY_MAX} characters"
        raise errors.ValidationFailed([errors.FieldError("Idempotency-Key", message)])
    result = await service.start_snapshot(request, key, jobs_url(req))
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
    record = await service.get_job(req.route_params["id"])
    if record.content_state == ContentState.STORED:
        return json_response(job_view(record, job_url(req, record.id)), 200)
    if record.status in (JobStatus.FAILED, JobStatus.EXPIRED) or record.content_state in (
        ContentState.UNAVAILABLE,
        ContentState.ERROR,
    ):
        return json_response(job_view(record, job_url(req, record.id)), 424)
    return accepted(req, record)


def next_link(req: func.HttpRequest, token: str | None) -> str | None:
    if token is None:
        return None
    parts = urlsplit(req.url)
    params = {k: v for k, v in req.params.items() if k != "continuationToken"}
    params["continuationToken"] = token
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{query}"


@bp.function_name("list_snapshots")
@bp.route(route="snapshots", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def list_snapshots(req: func.HttpRequest) -> func.HttpResponse:
    records, token = await service.list_jobs(
        req.params.get("status"), req.params.get("top"), req.params.get("continuationToken")
    )
    views = [job_view(record, job_url(req, record.id)).model_dump(mode="json", by_alias=True) for record in records]
    return json_response({"value": views, "continuationToken": token, "nextLink": next_link(req, token)})


@bp.function_name("list_snapshot_resources")
@bp.route(route="snapshots/{id}/resources", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def list_snapshot_resources(req: func.HttpRequest) -> func.HttpResponse:
    items, token = await service.list_resources(
        req.route_params["id"],
        req.params.get("resourceType"),
        req.params.get("top"),
        req.params.get("continuationToken"),
    )
    return json_response({"value": items, "continuationToken": token, "nextLink": next_link(req, token)})


@bp.function_name("get_snapshot_content")
@bp.route(route="snapshots/{id}/content", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def get_snapshot_content(req: func.HttpRequest) -> func.HttpResponse:
    body = await service.content_bytes(req.route_params["id"])
    return func.HttpResponse(body, status_code=200, mimetype="application/json")


@bp.function_name("delete_snapshot")
@bp.route(route="snapshots/{id}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def delete_snapshot(req: func.HttpRequest) -> func.HttpResponse:
    keep = (req.params.get("keepContent") or "false").lower()
    if keep not in ("true", "false"):
        raise errors.ValidationFailed([errors.FieldError("keepContent", "must be true or false")])
    await service.delete_job(req.route_params["id"], keep_content=keep == "true")
    return func.HttpResponse(status_code=204)


@bp.function_name("diff_snapshots")
@bp.route(route="snapshots/{id}/diff", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def diff_snapshots(req: func.HttpRequest) -> func.HttpResponse:
    result = await service.diff_jobs(req.route_params["id"], req.params.get("against"), req.params.get("resourceType"))
    return json_response(result)


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
    report = await service.health()
    body = {"status": "healthy" if report.healthy else "unhealthy", "checks": report.checks}
    return json_response(body, 200 if report.healthy else 503)


@bp.function_name("get_quota")
@bp.route(route="quota", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def get_quota(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(await service.quota_status())


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handled
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    from snapshot.openapi import document

    parts = urlsplit(req.url)
    return json_response(document(f"{parts.scheme}://{parts.netloc}{ROUTE_PREFIX}"))
