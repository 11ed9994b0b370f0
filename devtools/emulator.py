"""A Microsoft Graph UTCM snapshot emulator plus an App Service managed-identity token endpoint.

Run: `python -m devtools.emulator --port N [--host 127.0.0.1] [--identity-header local-identity-header]`.
Import: `create_app(EmulatorState()) -> aiohttp.web.Application`; `EmulatorControl(base_url)` drives it.

It behaves like Graph for the snapshot endpoints, quirks included (../shared/docs/utcm-api.md, section 10):
200 on createSnapshot with Graph's sentinels, `$select`-only fields, `partiallySuccessful` hidden behind
`Prefer: include-unknown-enum-members`, display-name rules, 409 on a taken name and at 12 jobs, 400 naming
each unsupported type, content on another id that needs the bearer token, jobs that take time. Faults,
latency and a request log are driven through the unauthenticated `/_emulator/...` control API.

Tokens are never printed or logged; the request log never holds an Authorization header value.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import json
import operator
import re
import secrets
import socket
import struct
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from aiohttp import web

from devtools import emulator_content

GRAPH_RESOURCE = "https://graph.microsoft.com"
DEFAULT_IDENTITY_HEADER = "local-identity-header"
DEFAULT_TENANT_ID = "2fcf1c68-b412-4c85-bfb2-cb20152a6843"
SNAPSHOT_APP_ID = "7c1f0a4e-3b7d-4f63-9a51-6d0c2e8b9f10"
MAX_VISIBLE_JOBS = 12
MAX_PAGE_SIZE = 999
# Graph's wording for the 12-job cap has not been seen published anywhere; this is the emulator's guess.
MAX_JOBS_MESSAGE = "Maximum number of 12 snapshot jobs reached. Delete existing snapshot jobs to create new ones."
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
NOT_COMPLETED = "0001-01-01T00:00:00Z"
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"

DEFAULT_FIELDS = ("id", "displayName", "description", "status", "tenantId", "createdDateTime", "completedDateTime")
SELECT_ONLY_FIELDS = ("createdBy", "errorDetails", "resourceLocation", "resources")
ALL_FIELDS = DEFAULT_FIELDS + SELECT_ONLY_FIELDS
TERMINAL = ("succeeded", "partiallySuccessful", "failed")
STATUSES = ("notStarted", "running", *TERMINAL, "unknownFutureValue")
OPS = ("create", "list", "get", "delete", "download", "token")

ERROR_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Forbidden",
    404: "ResourceNotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}

GRAPH_PREFIX = re.compile(r"^/(v1\.0|beta)(/.*)?$")
CREATE_PATH = re.compile(r"^/admin/configurationManagement/configurationSnapshots/createSnapshot/?$")
JOBS_PATH = re.compile(r"^/admin/configurationManagement/configurationSnapshotJobs/?$")
JOB_PATH = re.compile(r"^/admin/configurationManagement/configurationSnapshotJobs(?:/([^/()']+)|\('([^/()']*)'\))/?$")
CONTENT_PATH = re.compile(r"^/admin/configurationManagement/configurationSnapshots(?:/([^/()']+)|\('([^/()']*)'\))/?$")
DISPLAY_NAME_RULE = re.compile(r"^[A-Za-z0-9 ]{8,32}$")


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_datetime(value: datetime) -> str:
    """Graph's form: 7 fractional digits and Z (`2025-02-18T15:43:59.7935268Z`)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def parse_datetime(value: str) -> datetime:
    """ISO 8601 with up to 7 fractional digits and Z or an offset; naive means UTC."""
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def default_config() -> dict[str, Any]:
    return {
        "jobStartSeconds": 0.2,
        "jobDurationSeconds": 1.0,
        "latencyMs": 0,
        "pageSize": 100,
        "maxPageSize": MAX_PAGE_SIZE,
        "unsupportedTypes": [],
        "failingTypes": {},
        "resourceCounts": {},
        "defaultResourceCount": 3,
        "propertyBytes": {},
        "permission": "ReadWrite",
        "resourceLocationBase": None,
        "tenantId": DEFAULT_TENANT_ID,
    }


class ControlError(Exception):
    """A bad request to the control API."""


def _lower_keys(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ControlError(f"{key} must be an object keyed by resource type")
    return {str(k).lower(): v for k, v in value.items()}


def merge_config(config: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`config` with `update` merged in, validated; type-keyed settings are stored lowercase."""
    merged = dict(config)
    for key, value in update.items():
        if key not in merged:
            raise ControlError(f"unknown config key {key!r}; known: {sorted(merged)}")
        if key in ("jobStartSeconds", "jobDurationSeconds", "latencyMs"):
            if not isinstance(value, int | float) or value < 0:
                raise ControlError(f"{key} must be a number >= 0")
        elif key in ("pageSize", "maxPageSize", "defaultResourceCount"):
            if not isinstance(value, int) or value < (1 if key == "pageSize" else 0):
                raise ControlError(f"{key} must be an integer")
            if key in ("pageSize", "maxPageSize"):
                value = min(value, MAX_PAGE_SIZE)
        elif key == "unsupportedTypes":
            if not isinstance(value, list):
                raise ControlError("unsupportedTypes must be a list")
            value = [str(v).lower() for v in value]
        elif key in ("failingTypes", "resourceCounts", "propertyBytes"):
            value = _lower_keys(value, key)
        elif key == "permission":
            if value not in ("ReadWrite", "Read", "None"):
                raise ControlError("permission must be ReadWrite, Read or None")
        elif key == "resourceLocationBase":
            value = str(value).rstrip("/") if value else None
        elif key == "tenantId":
            value = str(value)
        merged[key] = value
    if "pageSize" in update and "maxPageSize" not in update:
        # A configured page size is also the server's limit: $top above it still pages (server-driven paging).
        merged["maxPageSize"] = merged["pageSize"]
    return merged


@dataclass
class Job:
    id: str
    display_name: str
    description: str
    tenant_id: str
    resources: list[str]
    created: datetime
    created_by: dict[str, Any]
    pinned_status: str | None = None  # set through the control API: progress over time stops
    final_status: str | None = None
    completed: datetime | None = None
    error_details: list[str] = field(default_factory=list)
    snapshot_id: str | None = None

    def status(self, config: dict[str, Any], now: datetime) -> str:
        if self.final_status:
            return self.final_status
        if self.pinned_status:
            return self.pinned_status
        elapsed = (now - self.created).total_seconds()
        return "notStarted" if elapsed < float(config["jobStartSeconds"]) else "running"

    def due(self, config: dict[str, Any], now: datetime) -> datetime | None:
        """When the job finishes on its own, if that moment has passed."""
        if self.final_status or self.pinned_status:
            return None
        finish = self.created + timedelta(
            seconds=float(config["jobStartSeconds"]) + float(config["jobDurationSeconds"])
        )
        return finish if finish <= now else None


@dataclass
class Snapshot:
    id: str
    job_id: str
    content: dict[str, Any]
    _body: bytes | None = None

    def body(self) -> bytes:
        if self._body is None:
            self._body = json.dumps(self.content, ensure_ascii=False).encode("utf-8")
        return self._body


@dataclass
class Fault:
    method: str
    path: str
    status: int
    action: str
    times: int
    retry_after: float | None
    delay_ms: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        if not isinstance(data, dict):
            raise ControlError("a fault is an object")
        action = str(data.get("action", "respond"))
        if action not in ("respond", "drop", "reset", "delay"):
            raise ControlError("action must be respond, drop, reset or delay")
        status = data.get("status", 503)
        if action == "respond" and not isinstance(status, int):
            raise ControlError("status must be an integer")
        return cls(
            method=str(data.get("method", "*")).upper(),
            path=str(data.get("path", "")),
            status=int(status),
            action=action,
            times=int(data.get("times", 1)),
            retry_after=data.get("retryAfter"),
            delay_ms=float(data.get("delayMs", 0)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method, "path": self.path, "status": self.status, "action": self.action,
            "times": self.times, "retryAfter": self.retry_after, "delayMs": self.delay_ms,
        }  # fmt: skip

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and self.method in ("*", method) and self.path in path


class EmulatorState:
    """Everything the emulator knows: config, jobs, snapshot contents, tenant overrides, faults, tokens, log."""

    def __init__(self, identity_header: str = DEFAULT_IDENTITY_HEADER) -> None:
        self.identity_header = identity_header
        self.tokens: dict[str, str] = {}  # token -> resource; survives reset (clients cache tokens)
        self.reset()

    def reset(self) -> None:
        self.config: dict[str, Any] = default_config()
        self.jobs: dict[str, Job] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.overrides: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []

    # --- tokens -----------------------------------------------------------------------------------------

    def issue_token(self, resource: str) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens[token] = resource
        return token

    def graph_token_valid(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        return self.tokens.get(authorization[len("Bearer ") :].strip()) == GRAPH_RESOURCE

    # --- tenant -----------------------------------------------------------------------------------------

    def resource_count(self, type_lower: str) -> int:
        return int(self.config["resourceCounts"].get(type_lower, self.config["defaultResourceCount"]))

    def tenant_resources(self, resource_type: str) -> list[dict[str, Any]]:
        """The tenant's current instances of one type: generated ones, then the admin's changes."""
        type_lower = resource_type.lower()
        size = int(self.config["propertyBytes"].get(type_lower, 0))
        resources = emulator_content.generate_resources(type_lower, self.resource_count(type_lower), size)
        changes = {name: res for (t, name), res in self.overrides.items() if t == type_lower}
        if not changes:
            return resources
        result: list[dict[str, Any]] = []
        for resource in resources:
            name = resource["displayName"]
            if name in changes:
                replacement = changes.pop(name)
                if replacement is not None:
                    result.append(copy.deepcopy(replacement))
            else:
                result.append(resource)
        result.extend(copy.deepcopy(res) for res in changes.values() if res is not None)
        return result

    def change_tenant(self, body: dict[str, Any]) -> None:
        for item in body.get("set", []) or []:
            if not isinstance(item, dict) or not item.get("resourceType") or not item.get("displayName"):
                raise ControlError("each set entry needs resourceType and displayName")
            type_lower = str(item["resourceType"]).lower()
            resource = {
                "displayName": str(item["displayName"]),
                "resourceType": type_lower,
                "properties": item.get("properties", {}),
            }
            self.overrides[(type_lower, resource["displayName"])] = resource
        for item in body.get("remove", []) or []:
            if not isinstance(item, dict) or not item.get("resourceType") or not item.get("displayName"):
                raise ControlError("each remove entry needs resourceType and displayName")
            self.overrides[(str(item["resourceType"]).lower(), str(item["displayName"]))] = None

    # --- jobs -------------------------------------------------------------------------------------------

    def new_job(
        self,
        display_name: str,
        resources: list[str],
        description: str = "",
        created: datetime | None = None,
        created_by: dict[str, Any] | None = None,
    ) -> Job:
        job = Job(
            id=str(uuid.uuid4()),
            display_name=display_name,
            description=description,
            tenant_id=str(self.config["tenantId"]),
            resources=list(resources),
            created=created or utc_now(),
            created_by=created_by
            or {"user": None, "application": {"id": SNAPSHOT_APP_ID, "displayName": "snapshot app"}},
        )
        self.jobs[job.id] = job
        return job

    def advance(self, now: datetime | None = None) -> None:
        """Finish every job whose time has come, in creation order, capturing the tenant as it is now."""
        now = now or utc_now()
        for job in list(self.jobs.values()):
            due = job.due(self.config, now)
            if due is not None:
                self.finish(job, at=due)

    def finish(
        self, job: Job, status: str | None = None, error_details: list[str] | None = None, at: datetime | None = None
    ) -> None:
        requested = list(dict.fromkeys(t.lower() for t in job.resources))
        failing_config: dict[str, str] = self.config["failingTypes"]
        failing = [t for t in requested if t in failing_config]
        if status is None:
            status = (
                "failed"
                if failing and len(failing) == len(requested)
                else ("partiallySuccessful" if failing else "succeeded")
            )
        if error_details is None:
            error_details = [
                f"{t}: Error exporting resource [{t}]. exceptionMessage(s):{failing_config[t]} ," for t in failing
            ]
            if status == "failed" and not error_details:
                error_details = [
                    f"{t}: Errors encountered while establishing connection with underlying workload" for t in requested
                ]
        job.final_status = status
        job.pinned_status = None
        job.completed = at or utc_now()
        job.error_details = list(error_details)
        if status in ("succeeded", "partiallySuccessful"):
            exported = [t for t in requested if status == "succeeded" or t not in failing]
            snapshot_id = str(uuid.uuid4())
            resources: list[dict[str, Any]] = []
            for type_lower in exported:
                resources.extend(self.tenant_resources(type_lower))
            content = {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#admin/configurationManagement/configurationSnapshots/$entity",
                "id": snapshot_id,
                "displayName": job.display_name,
                "description": job.description,
                "parameters": [],
                "resources": resources,
            }
            self.snapshots[snapshot_id] = Snapshot(snapshot_id, job.id, content)
            job.snapshot_id = snapshot_id

    def remove_job(self, job_id: str) -> bool:
        job = self.jobs.pop(job_id, None)
        if job is None:
            return False
        if job.snapshot_id:
            self.snapshots.pop(job.snapshot_id, None)
        return True

    def job_json(self, job: Job, base: str, now: datetime | None = None) -> dict[str, Any]:
        """The job with every field, the real status (not masked), resourceLocation against `base`."""
        location = ""
        if job.snapshot_id:
            location_base = self.config["resourceLocationBase"] or base
            location = f"{location_base}/admin/configurationManagement/configurationSnapshots('{job.snapshot_id}')"
        return {
            "id": job.id,
            "displayName": job.display_name,
            "description": job.description,
            "tenantId": job.tenant_id,
            "status": job.status(self.config, now or utc_now()),
            "resources": list(job.resources),
            "createdDateTime": format_datetime(job.created),
            "completedDateTime": format_datetime(job.completed) if job.completed else NOT_COMPLETED,
            "resourceLocation": location,
            "createdBy": copy.deepcopy(job.created_by),
            "errorDetails": list(job.error_details),
        }

    # --- faults and log ---------------------------------------------------------------------------------

    def take_fault(self, method: str, paths: tuple[str, ...]) -> Fault | None:
        for fault in self.faults:
            if any(fault.matches(method, path) for path in paths):
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OPS, 0)
        for entry in self.requests:
            if entry["op"] in counts:
                counts[entry["op"]] += 1
        return counts


STATE_KEY = web.AppKey("state", EmulatorState)
LOG_KEY = "emulator_log_entry"


# --- Graph responses ---------------------------------------------------------------------------------------


def graph_json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return web.Response(body=body, status=status, headers={"Content-Type": JSON_TYPE, **(headers or {})})


def graph_error(
    status: int,
    code: str | None = None,
    message: str = "",
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"code": code or ERROR_CODES.get(status, "UnknownError"), "message": message}
    if details is not None:
        error["details"] = details
    error["innerError"] = {"date": utc_now().strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4())}
    return graph_json({"error": error}, status=status, headers=headers)


class GraphError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.details = status, message, code, details

    def response(self) -> web.Response:
        return graph_error(self.status, self.code, self.message, self.details)


def classify(method: str, path: str) -> str:
    if path.startswith("/msi/token"):
        return "token"
    match = GRAPH_PREFIX.match(path)
    if not match:
        return "other"
    rest = match.group(2) or ""
    if method == "POST" and CREATE_PATH.match(rest):
        return "create"
    if method == "GET" and JOBS_PATH.match(rest):
        return "list"
    if JOB_PATH.match(rest):
        return {"GET": "get", "DELETE": "delete"}.get(method, "other")
    if method == "GET" and CONTENT_PATH.match(rest):
        return "download"
    return "other"


def _close_connection(request: web.Request, reset: bool) -> None:
    transport = request.transport
    if transport is None:
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def emulate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log, delay and fault every Graph and token request; the control API passes straight through."""
    path = request.path
    if path.startswith("/_emulator"):
        return await handler(request)
    state = request.app[STATE_KEY]
    op = classify(request.method, path)
    entry: dict[str, Any] = {
        "method": request.method,
        "path": path,
        "query": dict(request.query),
        "status": None,
        "authorized": op != "token" and state.graph_token_valid(request.headers.get("Authorization")),
        "hadAuthorization": "Authorization" in request.headers,
        "prefer": request.headers.get("Prefer"),
        "host": request.host,
        "op": op,
        "fault": None,
        "time": format_datetime(utc_now()),
    }
    state.requests.append(entry)
    if op != "token" and state.config["latencyMs"]:
        await asyncio.sleep(float(state.config["latencyMs"]) / 1000)
    fault = state.take_fault(request.method, (path, request.raw_path))
    if fault is not None:
        entry["fault"] = fault.action
        if fault.action == "respond":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            entry["status"] = fault.status
            message = f"Injected fault: {ERROR_CODES.get(fault.status, 'error')}"
            return graph_error(fault.status, message=message, headers=headers)
        if fault.action == "reset":
            entry["status"] = 0
            _close_connection(request, reset=True)
            raise ConnectionDropped
        if fault.action == "delay":
            await asyncio.sleep(fault.delay_ms / 1000)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        entry["status"] = exc.status
        raise
    entry["status"] = response.status
    if op != "token" and not response.prepared:
        response.headers.setdefault("request-id", str(uuid.uuid4()))
        if "client-request-id" in request.headers:
            response.headers["client-request-id"] = request.headers["client-request-id"]
    if fault is not None and fault.action == "drop":
        _close_connection(request, reset=False)
        raise ConnectionDropped
    return response


class ConnectionDropped(Exception):
    """Raised after the connection was closed on purpose, so that nothing is sent."""


@web.middleware
async def swallow_dropped(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ConnectionDropped:
        # The transport is closed: aiohttp cannot send this, and the client already saw the connection end.
        return web.Response(status=499)


# --- token endpoint ----------------------------------------------------------------------------------------


async def token_endpoint(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if request.headers.get("X-IDENTITY-HEADER") != state.identity_header:
        return web.json_response(
            {"statusCode": 401, "message": "Unauthorized: the X-IDENTITY-HEADER header is missing or wrong"},
            status=401,
        )
    resource = request.query.get("resource", "")
    if not request.query.get("api-version") or not resource:
        return web.json_response({"statusCode": 400, "message": "api-version and resource are required"}, status=400)
    token = state.issue_token(resource)
    body = {
        "access_token": token,
        "expires_on": str(int(time.time()) + 24 * 3600),
        "resource": resource,
        "token_type": "Bearer",
    }
    if "client_id" in request.query:
        body["client_id"] = request.query["client_id"]
    return web.json_response(body)


# --- Graph routes ------------------------------------------------------------------------------------------


def _base_url(request: web.Request, version: str) -> str:
    return f"{request.scheme}://{request.host}/{version}"


def _require_permission(state: EmulatorState, write: bool) -> None:
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


def _parse_select(request: web.Request) -> list[str] | None:
    raw = request.query.get("$select")
    if raw is None:
        return None
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    by_lower = {f.lower(): f for f in ALL_FIELDS}
    result: list[str] = []
    for name in fields:
        if name == "*":
            result.extend(ALL_FIELDS)
            continue
        known = by_lower.get(name.lower())
        if known is None:
            raise GraphError(
                400, f"Could not find a property named '{name}' on type 'microsoft.graph.configurationSnapshotJob'."
            )
        result.append(known)
    return list(dict.fromkeys(result))


def _shape_job(full: dict[str, Any], select: list[str] | None, unknown_enums: bool) -> dict[str, Any]:
    fields = DEFAULT_FIELDS if select is None else ("id", *select)
    shaped = {name: full[name] for name in ALL_FIELDS if name in fields}
    if shaped.get("status") == "partiallySuccessful" and not unknown_enums:
        shaped["status"] = "unknownFutureValue"
    return shaped


def _job_headers(request: web.Request) -> dict[str, str]:
    return {"Preference-Applied": PREFER_UNKNOWN_ENUMS} if _wants_unknown_enums(request) else {}


# $filter: clauses joined by `and`; `field op literal` (eq, ne, ge, le, gt, lt) or startswith(field,'x').
FILTER_COMPARE = re.compile(r"^\s*(\w+)\s+(eq|ne|ge|le|gt|lt)\s+('(?:[^']|'')*'|[^\s']+)\s*$", re.IGNORECASE)
FILTER_STARTSWITH = re.compile(r"^\s*startswith\(\s*(\w+)\s*,\s*'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)
FILTERABLE = ("id", "displayName", "description", "status", "tenantId", "createdDateTime", "completedDateTime")


def _split_and(expression: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    in_quote = False
    i = 0
    while i < len(expression):
        ch = expression[i]
        if ch == "'":
            in_quote = not in_quote
        if not in_quote and expression[i : i + 5].lower() == " and ":
            parts.append("".join(current))
            current = []
            i += 5
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text.lower() == "null":
        return None
    try:
        return parse_datetime(text)
    except ValueError as exc:
        raise GraphError(400, f"Invalid filter literal {text!r}.") from exc


def _filter_predicate(expression: str) -> Callable[[dict[str, Any]], bool]:
    by_lower = {f.lower(): f for f in FILTERABLE}
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for clause in _split_and(expression):
        starts = FILTER_STARTSWITH.match(clause)
        compare = FILTER_COMPARE.match(clause)
        if starts:
            name = by_lower.get(starts.group(1).lower())
            prefix = starts.group(2).replace("''", "'")
            if name is None:
                raise GraphError(400, f"Invalid filter clause: unknown property '{starts.group(1)}'.")

            def starts_with(job: dict[str, Any], n: str = name, p: str = prefix) -> bool:
                return str(job[n]).lower().startswith(p.lower())

            checks.append(starts_with)
        elif compare:
            name = by_lower.get(compare.group(1).lower())
            if name is None:
                raise GraphError(400, f"Invalid filter clause: unknown property '{compare.group(1)}'.")
            op, value = compare.group(2).lower(), _literal(compare.group(3))

            def check(job: dict[str, Any], n: str = name, o: str = op, v: Any = value) -> bool:
                actual: Any = job[n]
                if isinstance(v, datetime):
                    actual = parse_datetime(actual)
                elif isinstance(v, str) and n != "status":
                    actual, v = str(actual).lower(), v.lower()
                if o == "eq":
                    return bool(actual == v)
                if o == "ne":
                    return bool(actual != v)
                if v is None:
                    return False
                return bool({"ge": actual >= v, "le": actual <= v, "gt": actual > v, "lt": actual < v}[o])

            checks.append(check)
        else:
            raise GraphError(400, f"Invalid filter clause: '{clause.strip()}'.")
    return lambda job: all(check(job) for check in checks)


def _order(jobs: list[dict[str, Any]], orderby: str | None) -> list[dict[str, Any]]:
    if not orderby:
        return jobs
    by_lower = {f.lower(): f for f in FILTERABLE}
    for part in reversed([p.strip() for p in orderby.split(",") if p.strip()]):
        words = part.split()
        name = by_lower.get(words[0].lower())
        direction = words[1].lower() if len(words) > 1 else "asc"
        if name is None or direction not in ("asc", "desc") or len(words) > 2:
            raise GraphError(400, f"Invalid $orderby clause: '{part}'.")
        jobs = sorted(jobs, key=operator.itemgetter(name), reverse=direction == "desc")
    return jobs


def _skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        return int(json.loads(base64.urlsafe_b64decode(padded))["offset"])
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphError(400, "Invalid $skiptoken.") from exc


async def list_jobs(request: web.Request, state: EmulatorState, version: str) -> web.Response:
    _require_permission(state, write=False)
    select = _parse_select(request)
    unknown_enums = _wants_unknown_enums(request)
    base = _base_url(request, version)
    now = utc_now()
    jobs = [state.job_json(job, base, now) for job in state.jobs.values()]
    if "$filter" in request.query:
        jobs = [job for job in jobs if _filter_predicate(request.query["$filter"])(job)]
    jobs = _order(jobs, request.query.get("$orderby"))
    page_size = int(state.config["pageSize"])
    if "$top" in request.query:
        try:
            page_size = int(request.query["$top"])
        except ValueError as exc:
            raise GraphError(400, "Invalid value for $top.") from exc
        if page_size < 1:
            raise GraphError(400, "Invalid value for $top.")
    page_size = min(page_size, int(state.config["maxPageSize"]))
    offset = _offset(request.query["$skiptoken"]) if "$skiptoken" in request.query else 0
    page = jobs[offset : offset + page_size]
    body: dict[str, Any] = {
        "@odata.context": f"{base}/$metadata#admin/configurationManagement/configurationSnapshotJobs"
    }
    if select is None:
        body["@microsoft.graph.tips"] = TIPS
    if request.query.get("$count", "").lower() == "true":
        body["@odata.count"] = len(jobs)
    body["value"] = [_shape_job(job, select, unknown_enums) for job in page]
    if offset + page_size < len(jobs):
        query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
        query["$skiptoken"] = _skiptoken(offset + page_size)
        body["@odata.nextLink"] = (
            f"{base}/admin/configurationManagement/configurationSnapshotJobs?{urlencode(query, safe='$,')}"
        )
    return graph_json(body, headers=_job_headers(request))


def _find_job(state: EmulatorState, job_id: str) -> Job:
    job = state.jobs.get(job_id.strip("{}"))
    if job is None:
        raise GraphError(404, f"Snapshot job with id '{job_id}' was not found.", "ResourceNotFound")
    return job


async def get_job(request: web.Request, state: EmulatorState, version: str, job_id: str) -> web.Response:
    _require_permission(state, write=False)
    select = _parse_select(request)
    job = _find_job(state, job_id)
    base = _base_url(request, version)
    body: dict[str, Any] = {
        "@odata.context": f"{base}/$metadata#admin/configurationManagement/configurationSnapshotJobs/$entity"
    }
    if select is None:
        body["@microsoft.graph.tips"] = TIPS
    body.update(_shape_job(state.job_json(job, base), select, _wants_unknown_enums(request)))
    return graph_json(body, headers=_job_headers(request))


async def delete_job(request: web.Request, state: EmulatorState, job_id: str) -> web.Response:
    _require_permission(state, write=True)
    job = _find_job(state, job_id)
    state.remove_job(job.id)
    return web.Response(status=204)


async def create_snapshot(request: web.Request, state: EmulatorState, version: str) -> web.Response:
    _require_permission(state, write=True)
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GraphError(400, "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise GraphError(400, "The request body must be a JSON object.")
    display_name = body.get("displayName")
    description = body.get("description") or ""
    resources = body.get("resources")
    details: list[dict[str, Any]] = []
    if not isinstance(display_name, str) or not DISPLAY_NAME_RULE.match(display_name):
        details.append({"code": "ValidationError", "message": DISPLAY_NAME_MESSAGE, "target": "displayName"})
    if not isinstance(resources, list) or not resources or not all(isinstance(r, str) and r for r in resources):
        details.append(
            {
                "code": "ValidationError",
                "message": "Resources must be a non-empty array of strings.",
                "target": "resources",
            }
        )
    if not isinstance(description, str):
        details.append({"code": "ValidationError", "message": "Description must be a string.", "target": "description"})
    if details:
        raise GraphError(400, "One or more validation errors occurred.", "BadRequest", details)
    assert isinstance(display_name, str) and isinstance(resources, list)
    known = emulator_content.catalogue()
    unsupported_config = set(state.config["unsupportedTypes"])
    unsupported = [r for r in resources if r.lower() not in known or r.lower() in unsupported_config]
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
        raise GraphError(409, MAX_JOBS_MESSAGE, "Conflict")
    job = state.new_job(display_name, resources, description)
    base = _base_url(request, version)
    full = state.job_json(job, base)
    result: dict[str, Any] = {"@odata.context": f"{base}/$metadata#microsoft.graph.configurationSnapshotJob"}
    result.update({k: full[k] for k in ("id", "displayName", "description", "tenantId", "status", "resources")})
    result["status"] = "notStarted"  # Graph answers the create before the job is picked up
    result.update({k: full[k] for k in ("createdDateTime", "completedDateTime", "resourceLocation", "createdBy")})
    return graph_json(result)


async def download(request: web.Request, state: EmulatorState, snapshot_id: str) -> web.Response:
    _require_permission(state, write=False)
    snapshot = state.snapshots.get(snapshot_id.strip("{}"))
    if snapshot is None:
        raise GraphError(404, f"Snapshot with id '{snapshot_id}' was not found.", "ResourceNotFound")
    return web.Response(body=snapshot.body(), headers={"Content-Type": JSON_TYPE})


async def graph_route(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    match = GRAPH_PREFIX.match(request.path)
    if match is None:
        return graph_error(404, "UnknownError", "")
    version, rest = match.group(1), match.group(2) or ""
    if not state.graph_token_valid(request.headers.get("Authorization")):
        code = "InvalidAuthenticationToken"
        message = (
            "Access token is empty."
            if "Authorization" not in request.headers
            else "Access token validation failure. Invalid audience."
        )
        return graph_error(401, code, message)
    state.advance()
    try:
        if request.method == "POST" and CREATE_PATH.match(rest):
            return await create_snapshot(request, state, version)
        if JOBS_PATH.match(rest) and request.method == "GET":
            return await list_jobs(request, state, version)
        job_match = JOB_PATH.match(rest)
        if job_match:
            job_id = job_match.group(1) or job_match.group(2) or ""
            if request.method == "GET":
                return await get_job(request, state, version, job_id)
            if request.method == "DELETE":
                return await delete_job(request, state, job_id)
            raise GraphError(405, "The HTTP method is not allowed for this resource.", "MethodNotAllowed")
        content_match = CONTENT_PATH.match(rest)
        if content_match and request.method == "GET":
            return await download(request, state, content_match.group(1) or content_match.group(2) or "")
    except GraphError as exc:
        return exc.response()
    # What Graph answered for a POST to configurationSnapshots (msgraph-sdk-dotnet #3155): 404, empty message.
    return graph_error(404, "UnknownError", "")


# --- control API -------------------------------------------------------------------------------------------


async def _json_body(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    try:
        return await request.json()
    except ValueError as exc:
        raise ControlError("the body is not JSON") from exc


def _control_base(request: web.Request) -> str:
    return _base_url(request, "v1.0")


def _control_job_json(request: web.Request, state: EmulatorState, job: Job) -> dict[str, Any]:
    data = state.job_json(job, _control_base(request))
    data["snapshotId"] = job.snapshot_id
    return data


async def control(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    state.advance()
    parts = [p for p in request.path.split("/") if p][1:]  # after "_emulator"
    method = request.method
    try:
        body = await _json_body(request) if method in ("POST", "PATCH") else {}
        if parts == ["reset"] and method == "POST":
            state.reset()
            return web.json_response({"reset": True})
        if parts == ["config"]:
            if method == "POST":
                if not isinstance(body, dict):
                    raise ControlError("config is an object")
                state.config = merge_config(state.config, body)
            if method in ("GET", "POST"):
                return web.json_response(state.config)
        if parts == ["faults"]:
            if method == "POST":
                items = body if isinstance(body, list) else [body]
                state.faults.extend(Fault.from_json(item) for item in items)
            elif method == "DELETE":
                state.faults.clear()
            return web.json_response({"faults": [f.to_json() for f in state.faults]})
        if parts == ["requests"]:
            if method == "DELETE":
                state.requests.clear()
            return web.json_response({"requests": state.requests, "counts": state.counts()})
        if parts == ["tenant"]:
            if method == "POST":
                if not isinstance(body, dict):
                    raise ControlError("the body is {set: [...], remove: [...]}")
                state.change_tenant(body)
                return web.json_response({"overrides": len(state.overrides)})
            if method == "GET":
                resource_type = request.query.get("resourceType")
                if not resource_type:
                    raise ControlError("resourceType is required")
                return web.json_response({"resources": state.tenant_resources(resource_type)})
        if parts == ["jobs"]:
            if method == "GET":
                return web.json_response([_control_job_json(request, state, j) for j in state.jobs.values()])
            if method == "POST":
                return web.json_response(_control_job_json(request, state, _control_create_job(state, body)))
        if len(parts) >= 2 and parts[0] == "jobs":
            job = state.jobs.get(parts[1])
            if job is None:
                return web.json_response({"error": f"no job {parts[1]}"}, status=404)
            if len(parts) == 2 and method == "PATCH":
                _control_update_job(state, job, body)
                return web.json_response(_control_job_json(request, state, job))
            if len(parts) == 3 and parts[2] == "complete" and method == "POST":
                if not job.final_status:
                    state.finish(job)
                return web.json_response(_control_job_json(request, state, job))
            if len(parts) == 3 and parts[2] == "expire" and method == "POST":
                state.remove_job(job.id)
                return web.json_response({"expired": job.id})
        if len(parts) == 2 and parts[0] == "snapshots" and method == "GET":
            snapshot = state.snapshots.get(parts[1])
            if snapshot is None:
                return web.json_response({"error": f"no snapshot {parts[1]}"}, status=404)
            return web.Response(body=snapshot.body(), content_type="application/json")
    except ControlError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response({"error": f"no control route {method} {request.path}"}, status=404)


def _status_value(value: Any) -> str:
    if value not in STATUSES:
        raise ControlError(f"status must be one of {STATUSES}")
    return str(value)


def _control_create_job(state: EmulatorState, body: Any) -> Job:
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
    _control_update_job(state, job, {k: v for k, v in body.items() if k in ("status", "errorDetails")})
    return job


def _control_update_job(state: EmulatorState, job: Job, body: Any) -> None:
    if not isinstance(body, dict):
        raise ControlError("the body is an object")
    if body.get("createdDateTime"):
        try:
            job.created = parse_datetime(str(body["createdDateTime"]))
        except ValueError as exc:
            raise ControlError("createdDateTime is not ISO 8601") from exc
    details = body.get("errorDetails")
    if details is not None and not isinstance(details, list):
        raise ControlError("errorDetails is a list of strings")
    if body.get("status"):
        status = _status_value(body["status"])
        if status in TERMINAL:
            if job.snapshot_id:
                state.snapshots.pop(job.snapshot_id, None)
                job.snapshot_id = None
            state.finish(job, status=status, error_details=[str(d) for d in details] if details is not None else None)
            return
        job.final_status, job.completed, job.pinned_status = None, None, status
        if job.snapshot_id:
            state.snapshots.pop(job.snapshot_id, None)
            job.snapshot_id = None
    if details is not None:
        job.error_details = [str(d) for d in details]


def create_app(state: EmulatorState | None = None) -> web.Application:
    app = web.Application(middlewares=[swallow_dropped, emulate], client_max_size=64 * 1024 * 1024)
    app[STATE_KEY] = state or EmulatorState()
    app.router.add_get("/msi/token", token_endpoint)
    app.router.add_route("*", "/_emulator/{tail:.*}", control)
    app.router.add_route("*", "/{tail:.*}", graph_route)
    return app


# --- control client ----------------------------------------------------------------------------------------


class EmulatorControl:
    """Synchronous client for the emulator's control API (tests and scripts)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout

    @property
    def graph_base_url(self) -> str:
        return f"{self.base_url}/v1.0"

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}/msi/token"

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        with httpx.Client(base_url=self.base_url, timeout=self._timeout) as client:
            response = client.request(method, f"/_emulator{path}", json=body, params=params)
        if response.status_code >= 400:
            raise RuntimeError(f"emulator control {method} {path}: {response.status_code} {response.text}")
        return response.json()

    def reset(self) -> None:
        self._call("POST", "/reset")

    def configure(self, **config: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/config", config)
        return result

    def config(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/config")
        return result

    def add_fault(self, **fault: Any) -> None:
        self._call("POST", "/faults", fault)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/requests")["requests"]
        return result

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = self._call("GET", "/requests")["counts"]
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def create_job(
        self,
        displayName: str,
        resources: list[str],
        description: str | None = None,
        status: str | None = None,
        createdDateTime: str | None = None,
        errorDetails: list[str] | None = None,
        createdBy: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"displayName": displayName, "resources": resources}
        optional = {
            "description": description, "status": status, "createdDateTime": createdDateTime,
            "errorDetails": errorDetails, "createdBy": createdBy,
        }  # fmt: skip
        body.update({k: v for k, v in optional.items() if v is not None})
        result: dict[str, Any] = self._call("POST", "/jobs", body)
        return result

    def update_job(self, job_id: str, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/jobs/{job_id}", fields)
        return result

    def complete_job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/jobs/{job_id}/complete")
        return result

    def expire_job(self, job_id: str) -> None:
        self._call("POST", f"/jobs/{job_id}/expire")

    def jobs(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/jobs")
        return result

    def snapshot_content(self, snapshot_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/snapshots/{snapshot_id}")
        return result

    def change_tenant(
        self, set: list[dict[str, Any]] | None = None, remove: list[dict[str, Any]] | None = None
    ) -> None:
        self._call("POST", "/tenant", {"set": set or [], "remove": remove or []})

    def tenant_resources(self, resource_type: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/tenant", params={"resourceType": resource_type})["resources"]
        return result


# --- command line ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Microsoft Graph UTCM snapshot emulator with an MSI token endpoint")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--identity-header", default=DEFAULT_IDENTITY_HEADER)
    args = parser.parse_args(argv)
    app = create_app(EmulatorState(identity_header=args.identity_header))
    url = f"http://{args.host}:{args.port}"

    def announce(*_: object, **__: object) -> None:
        print(f"emulator listening on {url}", flush=True)

    web.run_app(app, host=args.host, port=args.port, print=announce, access_log=None)


if __name__ == "__main__":
    main()
