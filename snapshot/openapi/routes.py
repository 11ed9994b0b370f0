"""The HTTP API as data, in no particular format: its title, keys, tags and one table of its routes.

`ROUTES` has one entry per HTTP function of snapshot/http_api.py (operationId = function name). Bodies are
named schemas of snapshot/openapi/schemas.py. Renderers (snapshot/openapi/v3.py) turn this into a document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from snapshot.models import IDEMPOTENCY_KEY_MAX, JobStatus
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

    method: Literal["GET", "POST", "DELETE"]
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
SNAPSHOTS, CATALOGUE, OPERATIONS = "snapshots", "catalogue", "operations"
TAGS = {
    SNAPSHOTS: "Start, follow, read and delete snapshot jobs.",
    CATALOGUE: "The resource types Microsoft Graph can snapshot.",
    OPERATIONS: "Health and this document.",
}

# --- parameters and answers that several routes share ------------------------------------------------

PATH_PARAMETERS = {
    "id": Parameter(
        "id", "path", JOB_ID_SCHEMA, "The snapshot job id (Graph's, a GUID).", required=True, component="JobId"
    )
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
    "Absolute URL of the job (get_snapshot), with the caller's `code` kept.",
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
    429: "Too many requests; retry after `Retry-After` seconds.",
    500: "Unexpected error; the function log has the details.",
    502: "Microsoft Graph refused the request (for example a missing Graph permission).",
    503: "Microsoft Graph or Table Storage is throttled or unavailable; retry after `Retry-After` seconds.",
}


def problem(status: int, description: str | None = None) -> Answer:
    headers = (RETRY_LATER,) if status in (429, 503) else ()
    return Answer(status, description or PROBLEM_TEXT[status], "Problem", PROBLEM_MEDIA_TYPE, headers)


def problems(*statuses: int) -> tuple[Answer, ...]:
    """Problem answers for these statuses, plus 500 (any handled route may answer it)."""
    return tuple(problem(status) for status in (*statuses, 500))


def accepted(description: str) -> Answer:
    return Answer(202, description, "JobView", headers=(LOCATION, RETRY_AFTER))


NOT_STORED = problem(409, "The job's content is not stored (yet, or at all).")


ASYNC_PATTERN = """\
Asynchronous request-reply (the pattern the Logic Apps HTTP action follows by itself):

* `202 Accepted` while the job runs in Microsoft Graph or its content is being stored. `Location` is the
  absolute URL of this same operation (it keeps the `code` query parameter if the caller sent one) and
  `Retry-After` the seconds to wait before asking again.
* `200 OK` once the job `succeeded` or was `partiallySuccessful` and its content is stored; then read it
  from `links.resources` or `links.content`. Check `errors` for the types a partial job could not export.
* `424 Failed Dependency` when there is nothing to wait for: the job `failed` or `expired`, or its content
  could not be stored (`contentState` `unavailable` or `error`, see `contentError`). Logic Apps treats it
  as a failure that is not retried, so a run-after-failed branch fires.

In a Logic App, call `POST /snapshots` with the HTTP action and leave "Asynchronous pattern" on: the action
follows `Location` until this operation stops answering 202. In a custom connector, poll this operation
while it answers 202, waiting `Retry-After` seconds between calls."""

# --- the routes ----------------------------------------------------------------------------------------

ROUTES = (
    Route(
        "POST",
        "/snapshots",
        "start_snapshot",
        SNAPSHOTS,
        "Start a snapshot",
        description=(
            "Creates one Microsoft Graph snapshot job and answers at once with 202, `Location` (the job, "
            "see get_snapshot) and `Retry-After`. The body is checked against Graph's rules before Graph "
            "is called. With an `Idempotency-Key`, a retried request returns the job the first one "
            "created (same body) or 409 (different body); Graph never gets a second job.\n\n" + ASYNC_PATTERN
        ),
        parameters=(
            Parameter(
                "Idempotency-Key",
                "header",
                {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
                "Any caller-chosen key, e.g. the workflow run id; the same key returns the same job.",
            ),
        ),
        body="StartSnapshotRequest",
        answers=(
            accepted("The job was created (or returned again for a known Idempotency-Key)."),
            *problems(400, 409, 413, 415, 429, 502, 503),
        ),
    ),
    Route(
        "GET",
        "/snapshots",
        "list_snapshots",
        SNAPSHOTS,
        "List snapshot jobs, newest first",
        parameters=(
            Parameter(
                "status",
                "query",
                {"type": "string", "enum": [s.value for s in JobStatus]},
                "Only jobs with this status.",
            ),
            TOP,
            CONTINUATION_TOKEN,
        ),
        answers=(Answer(200, "One page of jobs.", "JobPage"), *problems(400, 503)),
    ),
    Route(
        "GET",
        "/snapshots/{id}",
        "get_snapshot",
        SNAPSHOTS,
        "Get a snapshot job (poll it until it is not 202)",
        description=ASYNC_PATTERN,
        answers=(
            Answer(200, "Done; the content is stored.", "JobView"),
            accepted("Still running, or its content is being stored; ask again later."),
            Answer(424, "Failed or expired, or its content is unavailable: nothing to wait for.", "JobView"),
            *problems(404, 503),
        ),
    ),
    Route(
        "DELETE",
        "/snapshots/{id}",
        "delete_snapshot",
        SNAPSHOTS,
        "Delete a snapshot job",
        description=(
            "Deletes the job in Microsoft Graph (frees one of its 12 job slots) and, unless "
            "`keepContent=true`, the content stored in this app and the job record."
        ),
        parameters=(
            Parameter(
                "keepContent",
                "query",
                {"type": "boolean", "default": False},
                "Keep the stored content (readable as before) and delete only the Graph job.",
            ),
        ),
        answers=(Answer(204, "Deleted."), *problems(400, 404, 502, 503)),
    ),
    Route(
        "GET",
        "/snapshots/{id}/resources",
        "list_snapshot_resources",
        SNAPSHOTS,
        "List the stored resources of a snapshot, by type and name",
        parameters=(
            Parameter(
                "resourceType",
                "query",
                {"type": "string"},
                "Only resources of this type (as in the content, e.g. `microsoft.teams.meetingpolicy`).",
            ),
            TOP,
            CONTINUATION_TOKEN,
        ),
        answers=(
            Answer(200, "One page of resources.", "ResourcePage"),
            *problems(400, 404, 503),
            NOT_STORED,
        ),
    ),
    Route(
        "GET",
        "/snapshots/{id}/diff",
        "diff_snapshots",
        SNAPSHOTS,
        "Compare two stored snapshots: resources added, removed and changed, property by property",
        parameters=(
            Parameter("against", "query", JOB_ID_SCHEMA, "The id of the older snapshot.", required=True),
            Parameter("resourceType", "query", {"type": "string"}, "Only resources of this type."),
        ),
        answers=(
            Answer(200, "The differences.", "SnapshotDiff"),
            *problems(400, 404, 503),
            problem(409, "One of the two snapshots is not stored (yet, or at all)."),
        ),
    ),
    Route(
        "GET",
        "/snapshots/{id}/content",
        "get_snapshot_content",
        SNAPSHOTS,
        "Get the whole snapshot in Graph's configurationBaseline shape",
        answers=(
            Answer(200, "The snapshot content.", "SnapshotContent"),
            *problems(404, 503),
            NOT_STORED,
        ),
    ),
    Route(
        "GET",
        "/resource-types",
        "list_resource_types",
        CATALOGUE,
        "List the resource type names a snapshot can ask for, by workload",
        answers=(Answer(200, "The catalogue.", "ResourceTypeCatalogue"), *problems()),
    ),
    Route(
        "GET",
        "/quota",
        "get_quota",
        CATALOGUE,
        "This month's use of Graph's extraction quota (resources stored by this app, UTC month), and Graph's job slots",
        description=(
            "A start answers 429, with Retry-After up to the reset, once `remaining` is 0. `jobSlots` counts the "
            "jobs Graph shows now (one Graph list call): made by this app, or by other tools (adopted)."
        ),
        answers=(Answer(200, "The quota.", "QuotaStatus"), *problems(503)),
    ),
    Route(
        "GET",
        "/health",
        "health",
        OPERATIONS,
        "Health of the app's dependencies (no function key needed)",
        answers=(
            Answer(200, "Every dependency answers.", "Health"),
            Answer(503, "`checks` names what failed.", "Health"),
        ),
        anonymous=True,
    ),
    Route(
        "GET",
        "/openapi.json",
        "openapi",
        OPERATIONS,
        "This OpenAPI document",
        answers=(Answer(200, "OpenAPI 3.1.", "OpenApiDocument"), *problems()),
    ),
)
