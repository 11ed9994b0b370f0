"""The Graph UTCM snapshot operations, one route each, with Graph's quirks.

Quirks kept: 200 on createSnapshot with Graph's sentinels, `$select`-only fields, `partiallySuccessful`
hidden behind `Prefer: include-unknown-enum-members`, display-name rules, 409 on a taken name, 400 naming each
unsupported type, content on another id that needs the bearer token. At 12 jobs the create answers what the
config says (capStatus, capBody): Graph publishes no answer for that, so none is assumed.
A well-formed `microsoft.<workload>.<type>` outside the documented list is accepted, as Graph knows more types
than its list; `unsupportedTypes` names the ones to refuse.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from devtools.emulator import odata
from devtools.emulator.identity import require_graph_token
from devtools.emulator.responses import JSON_TYPE, GraphError, graph_error, graph_json, json_object_body
from devtools.emulator.state import EmulatorState, Job, utc_now
from devtools.emulator.tenants import tenant_of

MAX_VISIBLE_JOBS = 12
# Graph's answer at the 12-job cap has not been seen published anywhere; this text is the emulator's invention.
MAX_JOBS_MESSAGE = "Maximum number of 12 snapshot jobs reached. Delete existing snapshot jobs to create new ones."
WELL_FORMED_TYPE = re.compile(r"^microsoft\.(entra|exchange|intune|securityandcompliance|teams)\.[a-z][a-z0-9]*$", re.I)
NAME_TAKEN_MESSAGE = "Snapshot Job with displayName already exists"
DISPLAY_NAME_MESSAGE = (
    "DisplayName must be a string with a minimum length of 8 and a maximum length of 32 "
    "and can only contain letters, numbers and spaces."
)
TIPS = (
    "This request only returns a subset of the resource's properties. Your app will need to use $select to "
    "return non-default properties. To find out what other properties are available for this resource see "
    "https://learn.microsoft.com/graph/api/resources/configurationsnapshotjob"
)
PREFER_UNKNOWN_ENUMS = "include-unknown-enum-members"
DISPLAY_NAME_RULE = re.compile(r"^[A-Za-z0-9 ]{8,32}$")

VERSION = r"{version:v1\.0|beta}"
ADMIN = VERSION + "/admin/configurationManagement"
KEY = r"{key:(?:/[^/()']+|\('[^/()']*'\))/?}"  # `/id` or `('id')`, as the SDK and Graph's own links write it
CREATE_PATH = "/" + ADMIN + "/configurationSnapshots/createSnapshot{slash:/?}"
JOBS_PATH = "/" + ADMIN + "/configurationSnapshotJobs{slash:/?}"
JOB_PATH = "/" + ADMIN + "/configurationSnapshotJobs" + KEY
CONTENT_PATH = "/" + ADMIN + "/configurationSnapshots" + KEY

Operation = Callable[[web.Request, EmulatorState], Awaitable[web.StreamResponse]]
routes = web.RouteTableDef()


def _with_request_ids(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    response.headers.setdefault("request-id", str(uuid.uuid4()))
    if "client-request-id" in request.headers:
        response.headers["client-request-id"] = request.headers["client-request-id"]
    return response


def graph_operation(operation: Operation) -> Handler:
    """A Graph route: the bearer token is checked, due jobs finish, GraphError becomes Graph's error body."""

    @functools.wraps(operation)
    async def handler(request: web.Request) -> web.StreamResponse:
        state = tenant_of(request).state
        try:
            require_graph_token(request)
            state.advance()
            response = await operation(request, state)
        except GraphError as exc:
            response = exc.response()
        return _with_request_ids(request, response)

    return handler


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}/{request.match_info['version']}"


def _key(request: web.Request) -> str:
    """The id in `/id` or `('id')`, braces and all (a GUID may come as `{...}`)."""
    return request.match_info["key"].strip("/").removeprefix("('").removesuffix("')")


def require_permission(state: EmulatorState, write: bool) -> None:
    permission = state.config["permission"]
    if write and permission != "ReadWrite":
        raise GraphError(
            403,
            "Insufficient privileges to complete the operation. Missing permission ConfigurationMonitoring.ReadWrite.All",
            "Forbidden",
        )
    if permission == "None":
        raise GraphError(
            403,
            "Insufficient privileges to complete the operation. Missing permission ConfigurationMonitoring.Read.All "
            "or ConfigurationMonitoring.ReadWrite.All",
            "Forbidden",
        )


def _wants_unknown_enums(request: web.Request) -> bool:
    prefer = ",".join(request.headers.getall("Prefer", []))
    return PREFER_UNKNOWN_ENUMS in [p.strip().lower() for p in prefer.split(",")]


def _job_headers(request: web.Request) -> dict[str, str]:
    return {"Preference-Applied": PREFER_UNKNOWN_ENUMS} if _wants_unknown_enums(request) else {}


def _shape_job(request: web.Request, full: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    shaped = odata.select(full, fields)
    if shaped.get("status") == "partiallySuccessful" and not _wants_unknown_enums(request):
        shaped["status"] = "unknownFutureValue"
    return shaped


def _find_job(state: EmulatorState, job_id: str) -> Job:
    job = state.jobs.get(job_id.strip("{}"))
    if job is None:
        raise GraphError(404, f"Snapshot job with id '{job_id}' was not found.", "ResourceNotFound")
    return job


def _validation_details(display_name: Any, resources: Any, description: Any) -> list[dict[str, Any]]:
    details: list[dict[str, Any]] = []
    if not isinstance(display_name, str) or not DISPLAY_NAME_RULE.match(display_name):
        details.append({"code": "ValidationError", "message": DISPLAY_NAME_MESSAGE, "target": "displayName"})
    if not isinstance(resources, list) or not resources or not all(isinstance(r, str) and r for r in resources):
        message = "Resources must be a non-empty array of strings."
        details.append({"code": "ValidationError", "message": message, "target": "resources"})
    if not isinstance(description, str):
        details.append({"code": "ValidationError", "message": "Description must be a string.", "target": "description"})
    return details


@routes.post(CREATE_PATH, name="create")
@graph_operation
async def create_snapshot(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    require_permission(state, write=True)
    body = await json_object_body(request)
    display_name, resources = body.get("displayName"), body.get("resources")
    description = body.get("description") or ""
    details = _validation_details(display_name, resources, description)
    if details:
        raise GraphError(400, "One or more validation errors occurred.", "BadRequest", details)
    assert isinstance(display_name, str) and isinstance(resources, list)
    refused = set(state.config["unsupportedTypes"])
    unsupported = [r for r in resources if not WELL_FORMED_TYPE.fullmatch(r) or r.lower() in refused]
    if unsupported:
        raise GraphError(
            400,
            f"ResourceType '{unsupported[0]}' is not supported.",
            "BadRequest",
            [{"code": "BadRequest", "message": f"ResourceType '{r}' is not supported."} for r in unsupported],
        )
    if any(job.display_name == display_name for job in state.jobs.values()):
        raise GraphError(409, NAME_TAKEN_MESSAGE, "Conflict")
    if len(state.jobs) >= MAX_VISIBLE_JOBS:
        return _cap_answer(state)
    job = state.new_job(display_name, resources, description)
    base = _base_url(request)
    full = state.job_json(job, base)
    result: dict[str, Any] = {"@odata.context": f"{base}/$metadata#microsoft.graph.configurationSnapshotJob"}
    result.update({k: full[k] for k in ("id", "displayName", "description", "tenantId", "status", "resources")})
    result["status"] = "notStarted"  # Graph answers the create before the job is picked up
    result.update({k: full[k] for k in ("createdDateTime", "completedDateTime", "resourceLocation", "createdBy")})
    return graph_json(result)


def _cap_answer(state: EmulatorState) -> web.Response:
    status, body = int(state.config["capStatus"]), state.config["capBody"]
    if isinstance(body, dict):
        return graph_json(body, status=status)
    return graph_error(status, message=body if isinstance(body, str) else MAX_JOBS_MESSAGE)


@routes.get(JOBS_PATH, name="list", allow_head=False)
@graph_operation
async def list_jobs(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    require_permission(state, write=False)
    query = request.query
    fields = odata.parse_select(query)
    base = _base_url(request)
    now = utc_now()
    jobs = [state.job_json(job, base, now) for job in state.jobs.values()]
    if "$filter" in query:
        jobs = [job for job in jobs if odata.filter_predicate(query["$filter"])(job)]
    jobs = odata.order(jobs, query.get("$orderby"))
    size = odata.page_size(query, int(state.config["pageSize"]), int(state.config["maxPageSize"]))
    start = odata.offset(query)
    collection = f"{base}/admin/configurationManagement/configurationSnapshotJobs"
    body: dict[str, Any] = {
        "@odata.context": f"{base}/$metadata#admin/configurationManagement/configurationSnapshotJobs"
    }
    if fields is None:
        body["@microsoft.graph.tips"] = TIPS
    if query.get("$count", "").lower() == "true":
        body["@odata.count"] = len(jobs)
    body["value"] = [_shape_job(request, job, fields) for job in jobs[start : start + size]]
    if start + size < len(jobs):
        body["@odata.nextLink"] = odata.next_link(collection, query, start + size)
    return graph_json(body, headers=_job_headers(request))


@routes.get(JOB_PATH, name="get", allow_head=False)
@graph_operation
async def get_job(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    require_permission(state, write=False)
    fields = odata.parse_select(request.query)
    job = _find_job(state, _key(request))
    base = _base_url(request)
    body: dict[str, Any] = {
        "@odata.context": f"{base}/$metadata#admin/configurationManagement/configurationSnapshotJobs/$entity"
    }
    if fields is None:
        body["@microsoft.graph.tips"] = TIPS
    body.update(_shape_job(request, state.job_json(job, base), fields))
    return graph_json(body, headers=_job_headers(request))


@routes.delete(JOB_PATH, name="delete")
@graph_operation
async def delete_job(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    require_permission(state, write=True)
    job = _find_job(state, _key(request))
    state.remove_job(job.id)
    return web.Response(status=204)


@routes.route("*", JOB_PATH)
@graph_operation
async def job_method_not_allowed(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    raise GraphError(405, "The HTTP method is not allowed for this resource.", "MethodNotAllowed")


@routes.get(CONTENT_PATH, name="download", allow_head=False)
@graph_operation
async def download(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    require_permission(state, write=False)
    snapshot_id = _key(request)
    snapshot = state.snapshots.get(snapshot_id.strip("{}"))
    if snapshot is None:
        raise GraphError(404, f"Snapshot with id '{snapshot_id}' was not found.", "ResourceNotFound")
    return web.Response(body=snapshot.body(), headers={"Content-Type": JSON_TYPE})


@routes.route("*", "/" + VERSION + "{rest:(?:/.*)?}")
@graph_operation
async def unknown_graph_path(request: web.Request, state: EmulatorState) -> web.StreamResponse:
    # What Graph answered for a POST to configurationSnapshots (msgraph-sdk-dotnet #3155): 404, empty message.
    return graph_error(404, "UnknownError", "")


async def not_graph(request: web.Request) -> web.StreamResponse:
    """Any other path: Graph's empty 404 (registered last, after the control API)."""
    return _with_request_ids(request, graph_error(404, "UnknownError", ""))
