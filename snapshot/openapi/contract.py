"""The vocabulary of the HTTP contract: keys, tags, parameters, answers and the Route record the tables use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from snapshot.models import PREVIOUS
from snapshot.openapi.schemas import JOB_ID_SCHEMA, SECONDS, TOP_SCHEMA, Schema

TITLE = "Tenant snapshot API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Takes and keeps Microsoft 365 tenant configuration snapshots (Microsoft Graph UTCM). "
    "Errors are RFC 9457 `application/problem+json`. Authenticate with a function key, as the "
    "`code` query parameter or the `x-functions-key` header."
)
PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ApiKey:
    """One way to send the function key; `scheme` names it in the document."""

    scheme: str
    location: Literal["query", "header"]
    name: str
    description: str | None = None


@dataclass(frozen=True)
class Parameter:
    """A request parameter, or (location "header") a response header."""

    name: str
    location: Literal["path", "query", "header"]
    schema: Schema
    description: str
    required: bool = False
    component: str | None = None  # declared once under this name and referred to wherever it is used


@dataclass(frozen=True)
class Answer:
    """One documented response: `body` names its schema, None for an empty body."""

    status: int
    description: str
    body: str | None = None
    media_type: str = "application/json"
    headers: tuple[Parameter, ...] = ()


@dataclass(frozen=True)
class Route:
    """One operation. `anonymous` routes need no function key; every other one may get the host's 401."""

    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str
    function: str
    tag: str
    summary: str
    answers: tuple[Answer, ...]
    description: str | None = None
    parameters: tuple[Parameter, ...] = ()
    body: str | None = None  # the schema of a required JSON request body
    anonymous: bool = False

    @property
    def path_parameters(self) -> tuple[Parameter, ...]:
        return tuple(PATH_PARAMETERS[name] for name in re.findall(r"\{([^}]+)\}", self.path))

    @property
    def responses(self) -> tuple[Answer, ...]:
        return self.answers if self.anonymous else (*self.answers, UNAUTHORIZED)


KEYS = (
    ApiKey("functionKeyQuery", "query", "code", "Use this one from Logic Apps: the `Location` it polls keeps the key."),
    ApiKey("functionKeyHeader", "header", "x-functions-key"),
)
SNAPSHOTS, MONITORS, CATALOGUE, OPERATIONS = "snapshots", "monitors", "catalogue", "operations"
TENANTS, FLEET = "tenants", "fleet"
TAGS = {
    SNAPSHOTS: "Start, follow, read and delete snapshot jobs.",
    MONITORS: "Graph monitors built from stored snapshots, and the drift history kept here.",
    CATALOGUE: "The resource types Microsoft Graph can snapshot.",
    OPERATIONS: "Health and this document.",
    TENANTS: "Customer tenants: onboarding, status, removal. Every tenant route also exists under /tenants/{tenantId}.",
    FLEET: "Every tenant at once: the standard, the fleet's summary and page, rounds of snapshots.",
}

# --- parameters and answers that several routes share ------------------------------------------------

TENANT_ID_PATTERN = "^(home|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
PATH_PARAMETERS = {
    "id": Parameter(
        "id",
        "path",
        JOB_ID_SCHEMA,
        "The id (Graph's, a GUID) of the snapshot job, or under /monitors of the monitor.",
        required=True,
        component="JobId",
    ),
    "tenantId": Parameter(
        "tenantId",
        "path",
        {"type": "string", "pattern": TENANT_ID_PATTERN},
        "The tenant (its id, a GUID; `home` or the home tenant's id for the home tenant). Routes under "
        "/tenants/{tenantId}/ work in that tenant only; the same routes without it serve the home tenant.",
        required=True,
        component="TenantId",
    ),
}
TOP = Parameter("top", "query", TOP_SCHEMA, "Page size.", component="Top")
CONTINUATION_TOKEN = Parameter(
    "continuationToken",
    "query",
    {"type": "string"},
    "The token of the previous page, as returned.",
    component="ContinuationToken",
)

LOCATION = Parameter(
    "Location",
    "header",
    {"type": "string", "format": "uri"},
    "Absolute URL of the job (get_snapshot) or of a created monitor (get_monitor), with the caller's `code` kept.",
    required=True,
    component="Location",
)
RETRY_AFTER = Parameter(
    "Retry-After",
    "header",
    SECONDS,
    "Seconds to wait before the next request.",
    required=True,
    component="Retry-After",
)
RETRY_LATER = Parameter("Retry-After", "header", SECONDS, "Seconds to wait before retrying.")

UNAUTHORIZED = Answer(401, "No valid function key (answered by the Functions host, empty body).")
PROBLEM_TEXT = {
    400: "The request is not valid; `errors` names each field and what is wrong.",
    404: "No snapshot job with this id.",
    409: "Conflict; `detail` says what to do.",
    413: "The body is larger than 64 KiB.",
    415: "The body is not JSON (send `Content-Type: application/json`).",
    429: "This month's extraction quota is used up; `resetsAt` says when it resets (no Retry-After).",
    500: "Unexpected error; the function log has the details.",
    502: "Microsoft Graph refused the request (for example a missing Graph permission).",
    503: "Microsoft Graph or Table Storage is throttled or unavailable; retry after `Retry-After` seconds.",
}


def problem(status: int, description: str | None = None) -> Answer:
    headers = (RETRY_LATER,) if status == 503 else ()
    return Answer(status, description or PROBLEM_TEXT[status], "Problem", PROBLEM_MEDIA_TYPE, headers)


def problems(*statuses: int) -> tuple[Answer, ...]:
    """Problem answers for these statuses, plus 500 (any handled route may answer it)."""
    return tuple(problem(status) for status in (*statuses, 500))


def accepted(description: str) -> Answer:
    return Answer(202, description, "JobView", headers=(LOCATION, RETRY_AFTER))


NOT_STORED = problem(409, "The job's content is not stored (yet, or at all).")

CROSS_TENANT_PATTERN = TENANT_ID_PATTERN.removesuffix("$") + ":.+$"  # <tenantId>:<snapshot id or latest>
AGAINST = Parameter(
    "against",
    "query",
    {"anyOf": [JOB_ID_SCHEMA, {"const": PREVIOUS}, {"type": "string", "pattern": CROSS_TENANT_PATTERN}]},
    f"The id of the older snapshot, or `{PREVIOUS}`: the newest stored snapshot created before this one whose "
    "resource types include all of this one's (only this one's types are then compared). Or another tenant's "
    "snapshot, `<tenantId>:<id>` or `<tenantId>:latest` (its newest stored snapshot with all of this one's types): "
    "each side's own tenant id, accepted domains and object ids are then normalised before comparing, and the "
    "answer lists the rules (`normalised`). The answer names the snapshot it resolved to.",
    required=True,
    component="Against",
)
NO_SUCH_PAIR = problem(
    404,
    f"No snapshot job with this id or `against`; or, for `{PREVIOUS}`, no earlier stored snapshot has all its types.",
)
PAIR_NOT_STORED = problem(409, "One of the two snapshots is not stored (yet, or at all).")


def diff_header(name: str, description: str) -> Parameter:
    schema = {"type": "string"} if name == "X-Diff-Against" else {"type": "integer", "minimum": 0}
    return Parameter(name, "header", schema, description, required=True)


REPORT_HEADERS = (
    diff_header("X-Diff-Against", "The id of the snapshot compared with (`previous` resolved)."),
    diff_header("X-Diff-Added", "Resources added."),
    diff_header("X-Diff-Removed", "Resources removed."),
    diff_header("X-Diff-Changed", "Resources changed."),
    diff_header("X-Diff-Not-Comparable", "Matched resources with a value Graph gave as a placeholder."),
)
