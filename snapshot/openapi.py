"""The OpenAPI 3.1 document of the HTTP API (served by the `openapi` function at GET /api/openapi.json).

Request and job schemas come from the pydantic models (snapshot/models.py), so the document follows them;
the rest (pages, problems, catalogue, health, content) is written here, next to the routes in http_api.py.
It is usable as the definition of a Logic Apps custom connector or with any OpenAPI client.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic.json_schema import models_json_schema

from snapshot.models import (
    DISPLAY_NAME_MAX,
    DISPLAY_NAME_MIN,
    DISPLAY_NAME_PATTERN,
    IDEMPOTENCY_KEY_MAX,
    LIST_TOP_DEFAULT,
    LIST_TOP_MAX,
    JobStatus,
    StartSnapshotRequest,
)
from snapshot.views import JobView, QuotaStatus

API_VERSION = "1.0.0"
REF = "#/components/schemas/{model}"
PROBLEM_MEDIA_TYPE = "application/problem+json"

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": REF.format(model=name)}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


# --- schemas ----------------------------------------------------------------------------------------


def _drop_property_titles(schema: Schema) -> Schema:
    """pydantic titles every property after its name ("Displayname"); models keep their title."""
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


def model_schemas() -> dict[str, Schema]:
    """The pydantic models' JSON schemas, `$defs` lifted into components (validation mode for the request)."""
    _, top = models_json_schema(
        [(StartSnapshotRequest, "validation"), (JobView, "serialization"), (QuotaStatus, "serialization")],
        ref_template=REF,
    )
    schemas: dict[str, Schema] = {name: _drop_property_titles(s) for name, s in top.get("$defs", {}).items()}
    # Rules checked by validators in models.py, stated here too so clients can check them before calling.
    request = schemas["StartSnapshotRequest"]["properties"]
    request["displayName"].update(
        minLength=DISPLAY_NAME_MIN,
        maxLength=DISPLAY_NAME_MAX,
        pattern=DISPLAY_NAME_PATTERN.pattern,
        description="Letters, digits and spaces only; unique among the snapshot jobs Microsoft Graph holds.",
        examples=["Weekly baseline 01"],
    )
    request["resources"].update(
        uniqueItems=True,
        description="Resource type names from GET /resource-types (case-insensitive, no duplicates).",
        examples=[["microsoft.entra.conditionalAccessPolicy", "microsoft.teams.meetingPolicy"]],
    )
    request["resources"]["items"]["minLength"] = 1
    schemas["JobView"]["description"] = (
        "A snapshot job: Graph's configurationSnapshotJob plus where its content stands in this app. "
        "`links` are absolute URLs that keep the caller's `code` query parameter."
    )
    return schemas


def page(item: Schema, title: str) -> Schema:
    return {
        "title": title,
        "type": "object",
        "required": ["value", "continuationToken", "nextLink"],
        "properties": {
            "value": {"type": "array", "items": item},
            "continuationToken": {
                **nullable({"type": "string"}),
                "description": "Pass as `continuationToken` for the next page; null on the last page.",
            },
            "nextLink": {
                **nullable({"type": "string", "format": "uri"}),
                "description": "The URL of the next page (same query, next token); null on the last page.",
            },
        },
    }


def handwritten_schemas() -> dict[str, Schema]:
    odata_annotations = {"^@odata\\.": {"description": "An OData annotation, as Graph sent it."}}
    change = {
        "type": "object",
        "required": ["path", "kind"],
        "properties": {
            "path": {"type": "string", "description": "e.g. `Conditions.Users.IncludeUsers`, `Rules[2].Name`."},
            "kind": {"enum": ["changed", "added", "removed", "notComparable"]},
            "old": {"description": "The old value (annotations stripped); null when added."},
            "new": {"description": "The new value; null when removed."},
        },
    }
    resource_ref = {
        "type": "object",
        "required": ["resourceType", "displayName"],
        "properties": {"resourceType": {"type": "string"}, "displayName": {"type": "string"}},
    }
    resource_diff = {
        "type": "object",
        "required": ["resourceType", "displayName", "changes"],
        "properties": {
            "resourceType": {"type": "string"},
            "displayName": {"type": "string"},
            "changes": {"type": "array", "items": change},
            "notComparable": {"type": "array", "items": change},
            "truncated": {"type": "boolean"},
        },
    }
    counts = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
    return {
        "SnapshotDiff": {
            "type": "object",
            "description": (
                "From snapshot `against` (older) to `id`: resources matched by type (case-insensitive) and display "
                "name. OData annotations are ignored, a scalar equals a one-element list, key order is ignored, and "
                "Graph's `System.Collections.Hashtable` placeholder is reported as not comparable."
            ),
            "required": ["id", "against", "summary", "added", "removed", "changed", "notComparable", "truncated"],
            "properties": {
                "id": {"type": "string"},
                "against": {"type": "string"},
                "summary": {
                    "type": "object",
                    "required": ["added", "removed", "changed", "unchanged", "notComparable", "byResourceType"],
                    "properties": {
                        "added": {"type": "integer"},
                        "removed": {"type": "integer"},
                        "changed": {"type": "integer"},
                        "unchanged": {"type": "integer"},
                        "notComparable": {"type": "integer"},
                        "byResourceType": {"type": "object", "additionalProperties": counts},
                    },
                },
                "added": {"type": "array", "items": resource_ref},
                "removed": {"type": "array", "items": resource_ref},
                "changed": {"type": "array", "items": resource_diff},
                "notComparable": {"type": "array", "items": resource_diff},
                "truncated": {"type": "boolean", "description": "Lists were cut; the summary is still complete."},
            },
        },
        "FieldError": {
            "type": "object",
            "required": ["field", "message"],
            "properties": {
                "field": {"type": "string", "description": "e.g. `displayName`, `resources[2]`, `top`, `body`."},
                "message": {"type": "string"},
            },
        },
        "Problem": {
            "title": "Problem",
            "description": "RFC 9457 problem details. A 5xx never carries a stack trace or a configuration value.",
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string", "format": "uri-reference"},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "errors": {"type": "array", "items": ref("FieldError"), "description": "Validation failures."},
                "existingJobId": {"type": "string", "description": "409: the job that holds the name or key."},
                "unsupportedResources": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "400: the resource types Microsoft Graph does not accept.",
                },
            },
        },
        "JobPage": page(ref("JobView"), "JobPage"),
        "BaselineResource": {
            "title": "BaselineResource",
            "description": "One configured object, as Graph exported it (PascalCase DSC properties).",
            "type": "object",
            "required": ["resourceType", "displayName"],
            "properties": {
                "resourceType": {"type": "string", "examples": ["microsoft.teams.meetingpolicy"]},
                "displayName": {"type": "string", "examples": ["TeamsMeetingPolicy-Global"]},
                "properties": {
                    "type": "object",
                    "description": "The object's settings; may hold `<name>@odata.type` annotations.",
                },
            },
        },
        "ResourcePage": page(ref("BaselineResource"), "ResourcePage"),
        "SnapshotContent": {
            "title": "SnapshotContent",
            "description": "The whole snapshot in Graph's configurationBaseline shape, as Graph returned it.",
            "type": "object",
            "required": ["resources"],
            "properties": {
                "id": {"type": "string"},
                "displayName": {"type": "string"},
                "description": nullable({"type": "string"}),
                "parameters": {"type": "array", "items": {"type": "object"}},
                "resources": {"type": "array", "items": ref("BaselineResource")},
            },
            "patternProperties": odata_annotations,
        },
        "ResourceTypeCatalogue": {
            "title": "ResourceTypeCatalogue",
            "type": "object",
            "required": ["count", "workloads"],
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "workloads": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "count", "resourceTypes"],
                        "properties": {
                            "name": {"type": "string", "examples": ["entra"]},
                            "count": {"type": "integer", "minimum": 0},
                            "resourceTypes": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
        },
        "Health": {
            "title": "Health",
            "type": "object",
            "required": ["status", "checks"],
            "properties": {
                "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
                "checks": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Dependency name -> `ok` or what failed; no configuration values.",
                },
            },
        },
        "OpenApiDocument": {"type": "object", "required": ["openapi", "info", "paths"]},
    }


# --- responses --------------------------------------------------------------------------------------

SECONDS = {"type": "integer", "minimum": 0}
RETRY_AFTER = {"$ref": "#/components/headers/Retry-After"}
LOCATION = {"$ref": "#/components/headers/Location"}

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


def json_body(schema_name: str, media_type: str = "application/json") -> dict[str, Any]:
    return {media_type: {"schema": ref(schema_name)}}


def problem(status: int, description: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description or PROBLEM_TEXT[status],
        "content": json_body("Problem", PROBLEM_MEDIA_TYPE),
    }
    if status in (429, 503):
        response["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": SECONDS}}
    return response


def problems(*statuses: int) -> dict[str, Any]:
    """Problem responses for these statuses, plus 500 (any handled route may answer it)."""
    return {str(status): problem(status) for status in (*statuses, 500)}


def accepted(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"Location": LOCATION, "Retry-After": RETRY_AFTER},
        "content": json_body("JobView"),
    }


UNAUTHORIZED = {"description": "No valid function key (answered by the Functions host, empty body)."}

# --- operations -------------------------------------------------------------------------------------


def parameter(name: str, where: str, schema: Schema, description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "schema": schema, "description": description, **extra}


JOB_ID = {"$ref": "#/components/parameters/JobId"}
TOP = {"$ref": "#/components/parameters/Top"}
CONTINUATION = {"$ref": "#/components/parameters/ContinuationToken"}

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


def operations() -> dict[str, Any]:
    snapshot_tag, catalogue_tag, ops_tag = ["snapshots"], ["catalogue"], ["operations"]
    return {
        "/snapshots": {
            "post": {
                "operationId": "start_snapshot",
                "tags": snapshot_tag,
                "summary": "Start a snapshot",
                "description": (
                    "Creates one Microsoft Graph snapshot job and answers at once with 202, `Location` (the job, "
                    "see get_snapshot) and `Retry-After`. The body is checked against Graph's rules before Graph "
                    "is called. With an `Idempotency-Key`, a retried request returns the job the first one "
                    "created (same body) or 409 (different body); Graph never gets a second job.\n\n" + ASYNC_PATTERN
                ),
                "parameters": [
                    parameter(
                        "Idempotency-Key",
                        "header",
                        {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
                        "Any caller-chosen key, e.g. the workflow run id; the same key returns the same job.",
                    )
                ],
                "requestBody": {"required": True, "content": json_body("StartSnapshotRequest")},
                "responses": {
                    "202": accepted("The job was created (or returned again for a known Idempotency-Key)."),
                    "401": UNAUTHORIZED,
                    **problems(400, 409, 413, 415, 429, 502, 503),
                },
            },
            "get": {
                "operationId": "list_snapshots",
                "tags": snapshot_tag,
                "summary": "List snapshot jobs, newest first",
                "parameters": [
                    parameter(
                        "status",
                        "query",
                        {"type": "string", "enum": [status.value for status in JobStatus]},
                        "Only jobs with this status.",
                    ),
                    TOP,
                    CONTINUATION,
                ],
                "responses": {
                    "200": {"description": "One page of jobs.", "content": json_body("JobPage")},
                    "401": UNAUTHORIZED,
                    **problems(400, 503),
                },
            },
        },
        "/snapshots/{id}": {
            "parameters": [JOB_ID],
            "get": {
                "operationId": "get_snapshot",
                "tags": snapshot_tag,
                "summary": "Get a snapshot job (poll it until it is not 202)",
                "description": ASYNC_PATTERN,
                "responses": {
                    "200": {"description": "Done; the content is stored.", "content": json_body("JobView")},
                    "202": accepted("Still running, or its content is being stored; ask again later."),
                    "424": {
                        "description": "Failed or expired, or its content is unavailable: nothing to wait for.",
                        "content": json_body("JobView"),
                    },
                    "401": UNAUTHORIZED,
                    **problems(404, 503),
                },
            },
            "delete": {
                "operationId": "delete_snapshot",
                "tags": snapshot_tag,
                "summary": "Delete a snapshot job",
                "description": (
                    "Deletes the job in Microsoft Graph (frees one of its 12 job slots) and, unless "
                    "`keepContent=true`, the content stored in this app and the job record."
                ),
                "parameters": [
                    parameter(
                        "keepContent",
                        "query",
                        {"type": "boolean", "default": False},
                        "Keep the stored content (readable as before) and delete only the Graph job.",
                    )
                ],
                "responses": {
                    "204": {"description": "Deleted."},
                    "401": UNAUTHORIZED,
                    **problems(400, 404, 502, 503),
                },
            },
        },
        "/snapshots/{id}/resources": {
            "parameters": [JOB_ID],
            "get": {
                "operationId": "list_snapshot_resources",
                "tags": snapshot_tag,
                "summary": "List the stored resources of a snapshot, by type and name",
                "parameters": [
                    parameter(
                        "resourceType",
                        "query",
                        {"type": "string"},
                        "Only resources of this type (as in the content, e.g. `microsoft.teams.meetingpolicy`).",
                    ),
                    TOP,
                    CONTINUATION,
                ],
                "responses": {
                    "200": {"description": "One page of resources.", "content": json_body("ResourcePage")},
                    "401": UNAUTHORIZED,
                    **problems(400, 404, 503),
                    "409": problem(409, "The job's content is not stored (yet, or at all)."),
                },
            },
        },
        "/snapshots/{id}/diff": {
            "parameters": [JOB_ID],
            "get": {
                "operationId": "diff_snapshots",
                "tags": snapshot_tag,
                "summary": "Compare two stored snapshots: resources added, removed and changed, property by property",
                "parameters": [
                    parameter("against", "query", JOB_ID_SCHEMA, "The id of the older snapshot.", required=True),
                    parameter("resourceType", "query", {"type": "string"}, "Only resources of this type."),
                ],
                "responses": {
                    "200": {"description": "The differences.", "content": json_body("SnapshotDiff")},
                    "401": UNAUTHORIZED,
                    **problems(400, 404, 503),
                    "409": problem(409, "One of the two snapshots is not stored (yet, or at all)."),
                },
            },
        },
        "/snapshots/{id}/content": {
            "parameters": [JOB_ID],
            "get": {
                "operationId": "get_snapshot_content",
                "tags": snapshot_tag,
                "summary": "Get the whole snapshot in Graph's configurationBaseline shape",
                "responses": {
                    "200": {"description": "The snapshot content.", "content": json_body("SnapshotContent")},
                    "401": UNAUTHORIZED,
                    **problems(404, 503),
                    "409": problem(409, "The job's content is not stored (yet, or at all)."),
                },
            },
        },
        "/resource-types": {
            "get": {
                "operationId": "list_resource_types",
                "tags": catalogue_tag,
                "summary": "List the resource type names a snapshot can ask for, by workload",
                "responses": {
                    "200": {"description": "The catalogue.", "content": json_body("ResourceTypeCatalogue")},
                    "401": UNAUTHORIZED,
                    **problems(),
                },
            }
        },
        "/quota": {
            "get": {
                "operationId": "get_quota",
                "tags": catalogue_tag,
                "summary": "This month's use of Graph's extraction quota (resources stored by this app, UTC month)",
                "description": "A start answers 429, with Retry-After up to the reset, once `remaining` is 0.",
                "responses": {
                    "200": {"description": "The quota.", "content": json_body("QuotaStatus")},
                    "401": UNAUTHORIZED,
                    **problems(503),
                },
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "tags": ops_tag,
                "summary": "Health of the app's dependencies (no function key needed)",
                "security": [],
                "responses": {
                    "200": {"description": "Every dependency answers.", "content": json_body("Health")},
                    "503": {"description": "`checks` names what failed.", "content": json_body("Health")},
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ops_tag,
                "summary": "This OpenAPI document",
                "responses": {
                    "200": {"description": "OpenAPI 3.1.", "content": json_body("OpenApiDocument")},
                    "401": UNAUTHORIZED,
                    **problems(),
                },
            }
        },
    }


# Graph's job ids are GUIDs; no id can hold what Table keys forbid (/ \ # ? and control characters).
JOB_ID_SCHEMA = {"type": "string", "minLength": 1, "pattern": r"^[^/\\#?\u0000-\u001f\u007f-\u009f]+$"}


def components() -> dict[str, Any]:
    top_schema = {"type": "integer", "minimum": 1, "maximum": LIST_TOP_MAX, "default": LIST_TOP_DEFAULT}
    return {
        "schemas": {**model_schemas(), **handwritten_schemas()},
        "parameters": {
            "JobId": parameter("id", "path", JOB_ID_SCHEMA, "The snapshot job id (Graph's, a GUID).", required=True),
            "Top": parameter("top", "query", top_schema, "Page size."),
            "ContinuationToken": parameter(
                "continuationToken", "query", {"type": "string"}, "The token of the previous page, as returned."
            ),
        },
        "headers": {
            "Location": {
                "description": "Absolute URL of the job (get_snapshot), with the caller's `code` kept.",
                "required": True,
                "schema": {"type": "string", "format": "uri"},
            },
            "Retry-After": {
                "description": "Seconds to wait before the next request.",
                "required": True,
                "schema": SECONDS,
            },
        },
        "securitySchemes": {
            "functionKeyHeader": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
            "functionKeyQuery": {
                "type": "apiKey",
                "in": "query",
                "name": "code",
                "description": "Use this one from Logic Apps: the `Location` it polls keeps the key.",
            },
        },
    }


def document(server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document; `server_url` is the API's base URL, e.g. https://<app>.azurewebsites.net/api."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "Tenant snapshot API",
                "version": API_VERSION,
                "description": (
                    "Takes and keeps Microsoft 365 tenant configuration snapshots (Microsoft Graph UTCM). "
                    "Errors are RFC 9457 `application/problem+json`. Authenticate with a function key, as the "
                    "`code` query parameter or the `x-functions-key` header."
                ),
            },
            "servers": [{"url": server_url.rstrip("/")}],
            "security": [{"functionKeyQuery": []}, {"functionKeyHeader": []}],
            "tags": [
                {"name": "snapshots", "description": "Start, follow, read and delete snapshot jobs."},
                {"name": "catalogue", "description": "The resource types Microsoft Graph can snapshot."},
                {"name": "operations", "description": "Health and this document."},
            ],
            "paths": operations(),
            "components": components(),
        }
    )
