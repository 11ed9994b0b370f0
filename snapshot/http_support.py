"""HTTP plumbing for the triggers: problem+json answers, the error mapping, JSON bodies, absolute URLs.

Errors are RFC 9457 problem+json; a 5xx never carries a stack trace or a configuration value.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

import azure.functions as func
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from snapshot import clients, errors
from snapshot.models import JobRecord
from snapshot.recent import Recent
from snapshot.settings import SettingsError, get_settings
from snapshot.usecases import tenants
from snapshot.views import job_view

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# Problem types are identifiers, not web addresses (RFC 9457 3.1.1 allows a non-resolvable URI): a URN of
# this project plus the title's slug, e.g. urn:tenant-snapshot:problem:not-found. Nothing to dereference.
PROBLEM_TYPE_PREFIX = "urn:tenant-snapshot:problem:"
ROUTE_PREFIX = "/api"
RENDERED_JOBS_KEPT = 512  # job views of a few KB each; Graph runs at most 12 jobs at once

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
        "type": PROBLEM_TYPE_PREFIX + re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-"),
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
    if isinstance(exc, errors.Retryable):
        headers["Retry-After"] = str(exc.retry_after)
    extra: dict[str, Any] = {}
    if isinstance(exc, errors.Conflict):
        extra["existingJobId"] = exc.existing_job_id
    if isinstance(exc, errors.MonitorLimitReached):
        extra["limits"] = exc.numbers
    if isinstance(exc, errors.QuotaExhausted):
        extra["resetsAt"] = exc.resets_at
    if isinstance(exc, errors.TenantRefusedToken):
        extra["entra"], extra["errorCodes"] = exc.entra, exc.error_codes
    if isinstance(exc, errors.JobSlotsFull):
        extra["visibleJobs"] = [{"id": job_id, "displayName": name} for job_id, name in exc.visible_jobs]
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
            names = ", ".join(exc.names) or "see the function log"
            return problem(500, "The app is misconfigured", f"invalid app settings: {names}; see the function log")
        except Exception:
            log.exception("unhandled error in %s %s", req.method, urlsplit(req.url).path)
            return problem(500, "Internal error", "the request failed; see the function log for details")

    return wrapper


def in_tenant(handler: Handler) -> Handler:
    """Run the handler in the tenant the route names (registered and not removed; else 404)."""

    @functools.wraps(handler)
    async def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        tenant = await tenants.active(req.route_params.get("tenantId", ""))
        with clients.working_in(tenant):
            return await handler(req)

    return wrapper


def json_response(
    model: BaseModel | dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    body = (
        model.model_dump_json(by_alias=True)
        if isinstance(model, BaseModel)
        else json.dumps(model, default=to_jsonable_python)
    )
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


def flag(req: func.HttpRequest, name: str) -> bool:
    """A true/false query parameter (absent: false; present but empty is neither, so refused)."""
    value = req.params.get(name, "false").lower()
    if value not in ("true", "false"):
        raise errors.ValidationFailed([errors.FieldError(name, "must be true or false")])
    return value == "true"


def paging(req: func.HttpRequest) -> tuple[str | None, str | None]:
    """The `top` and `continuationToken` query parameters of a list route, as sent."""
    return req.params.get("top"), req.params.get("continuationToken")


def api_base(req: func.HttpRequest) -> str:
    """Absolute URL of the API root (`https://host/api`), for the OpenAPI documents' servers."""
    parts = urlsplit(req.url)
    return f"{parts.scheme}://{parts.netloc}{ROUTE_PREFIX}"


def scope_base(req: func.HttpRequest) -> str:
    """Absolute URL of the request's tenant scope: the API root, or `.../api/tenants/{tenantId}` under one."""
    tenant_id = req.route_params.get("tenantId")
    return f"{api_base(req)}/tenants/{quote(tenant_id, safe='')}" if tenant_id else api_base(req)


def jobs_url(req: func.HttpRequest) -> str:
    """Absolute URL of the snapshots collection (in the request's tenant scope), without any key."""
    return f"{scope_base(req)}/snapshots"


def job_url(req: func.HttpRequest, job_id: str) -> str:
    """Absolute URL of the job, keeping the caller's `code` so Logic Apps can poll it with no other auth."""
    return _with_code(req, f"{jobs_url(req)}/{quote(job_id, safe='')}")


def _with_code(req: func.HttpRequest, url: str) -> str:
    """`url` with the caller's function key (`code`), if the request had one."""
    code = req.params.get("code")
    return f"{url}?code={quote(code, safe='')}" if code else url


def diff_url(req: func.HttpRequest, job_id: str, against: str) -> str:
    """Absolute URL of the JSON diff of two snapshots, without any key (it goes into reports people forward)."""
    return f"{jobs_url(req)}/{quote(job_id, safe='')}/diff?against={quote(against, safe='')}"


def monitor_url(req: func.HttpRequest, monitor_id: str) -> str:
    """Absolute URL of a monitor, keeping the caller's `code` like `job_url`."""
    return _with_code(req, f"{scope_base(req)}/monitors/{quote(monitor_id, safe='')}")


def round_url(req: func.HttpRequest, round_id: str) -> str:
    """Absolute URL of a fleet round, keeping the caller's `code` like `job_url` (Logic Apps poll it)."""
    return _with_code(req, f"{api_base(req)}/fleet/rounds/{quote(round_id, safe='')}")


class RenderedJobs:
    """JSON bodies of job views by (job id, ETag, URL), the most recently used kept: a job polled again while
    its row is unchanged is not rendered again. Only for records read from their row: the ETag names the row's
    version (Table Storage changes it on every write), and the view depends on nothing but the row and URL."""

    def __init__(self, size: int = RENDERED_JOBS_KEPT) -> None:
        self._bodies: Recent[tuple[str, str, str], str] = Recent(size)

    def body(self, record: JobRecord, url: str) -> str:
        if not record.etag:
            return render_job(record, url)
        return self._bodies.get_or_make((record.id, record.etag, url), lambda: render_job(record, url))


def render_job(record: JobRecord, url: str) -> str:
    return job_view(record, url).model_dump_json(by_alias=True)


RENDERED_JOBS = RenderedJobs()


def job_response(
    req: func.HttpRequest, record: JobRecord, status: int, *, read_from_row: bool = False
) -> func.HttpResponse:
    """The job view; a 202 also says where to poll and when (Location, Retry-After)."""
    url = job_url(req, record.id)
    body = RENDERED_JOBS.body(record, url) if read_from_row else render_job(record, url)
    headers = {"Location": url, "Retry-After": str(get_settings().retry_after_seconds)} if status == 202 else {}
    return func.HttpResponse(body, status_code=status, headers=headers, mimetype="application/json")


def accepted(req: func.HttpRequest, record: JobRecord) -> func.HttpResponse:
    return job_response(req, record, 202)


def page_response(req: func.HttpRequest, items: list[Any], token: str | None) -> func.HttpResponse:
    """A page of a list route: `{value, continuationToken, nextLink}`."""
    return json_response({"value": items, "continuationToken": token, "nextLink": next_link(req, token)})


def next_link(req: func.HttpRequest, token: str | None) -> str | None:
    if token is None:
        return None
    parts = urlsplit(req.url)
    params = {k: v for k, v in req.params.items() if k != "continuationToken"}
    params["continuationToken"] = token
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{query}"
