"""The HTTP API as data, in no particular format: its title, keys, tags and one table of its routes.

`ROUTES` (with monitor_routes.MONITOR_ROUTES) has one entry per HTTP function of snapshot/http_api.py
(operationId = function name). Bodies are
named schemas of snapshot/openapi/schemas.py. Renderers (snapshot/openapi/v3.py, v2.py) turn this into a document.
"""

from __future__ import annotations

from snapshot.models import IDEMPOTENCY_KEY_MAX, JobStatus
from snapshot.openapi.contract import (
    AGAINST,
    CATALOGUE,
    CONTINUATION_TOKEN,
    NO_SUCH_PAIR,
    NOT_STORED,
    OPERATIONS,
    PAIR_NOT_STORED,
    REPORT_HEADERS,
    SNAPSHOTS,
    TOP,
    Answer,
    Parameter,
    Route,
    accepted,
    problems,
)
from snapshot.openapi.fleet_routes import FLEET_ROUTES
from snapshot.openapi.monitor_routes import MONITOR_ROUTES
from snapshot.openapi.tenant_routes import TENANT_ROUTES, scoped_routes
from snapshot.report.render import MAX_REPORT_BYTES

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
            "created (same body) or 409 (different body); Graph never gets a second job. Once that job is "
            "deleted (without keepContent), the key is free again and starts a new one.\n\n" + ASYNC_PATTERN
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
            AGAINST,
            Parameter("resourceType", "query", {"type": "string"}, "Only resources of this type."),
        ),
        answers=(
            Answer(200, "The differences; `against` is the id compared with.", "SnapshotDiff"),
            *problems(400, 503),
            NO_SUCH_PAIR,
            PAIR_NOT_STORED,
        ),
    ),
    Route(
        "GET",
        "/snapshots/{id}/report",
        "get_change_report",
        SNAPSHOTS,
        "What changed since another snapshot, as an HTML page to read or to send by mail",
        description=(
            "The diff of the two snapshots as one self-contained HTML page (inline styles, no script, nothing "
            "fetched): a summary per workload and resource type, each changed resource with its property paths, "
            "old -> new, added and removed resources, and the values Graph gave as placeholders. At most "
            f"{MAX_REPORT_BYTES:,} bytes: past that it says how many resources it left out and links the JSON "
            "diff. The counts are also in the `X-Diff-*` headers, so a caller can decide whether to send it."
        ),
        parameters=(AGAINST,),
        answers=(
            Answer(200, "The report.", "ChangeReport", "text/html", REPORT_HEADERS),
            *problems(400, 503),
            NO_SUCH_PAIR,
            PAIR_NOT_STORED,
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
    Route(
        "GET",
        "/swagger.json",
        "swagger",
        OPERATIONS,
        "This API as OpenAPI 2.0 (Swagger), to import as a Logic Apps custom connector",
        answers=(Answer(200, "OpenAPI 2.0.", "SwaggerDocument"), *problems()),
    ),
)

# Every route of the API: these, the monitor and tenant routes (kept in their own modules for size), and the
# tenant-scoped copy of each route of a tenant's data.
ALL_ROUTES = (
    *ROUTES, *MONITOR_ROUTES, *TENANT_ROUTES, *FLEET_ROUTES, *scoped_routes((*ROUTES, *MONITOR_ROUTES))
)  # fmt: skip
