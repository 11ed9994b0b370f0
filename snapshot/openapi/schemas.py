"""The API's named JSON Schemas (2020-12): the pydantic models' own, plus the bodies no model describes.

Every function takes the `$ref` template, so any renderer can place the schemas where its format wants them.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from snapshot.models import (
    DISPLAY_NAME_MAX,
    DISPLAY_NAME_MIN,
    DISPLAY_NAME_PATTERN,
    LIST_TOP_DEFAULT,
    LIST_TOP_MAX,
    StartSnapshotRequest,
)
from snapshot.monitoring import DriftRecord, MonitorRequest, RebaselineRequest, RunRecord
from snapshot.onboarding import RegisterTenantRequest, TenantStatus
from snapshot.openapi.fleet_schemas import fleet_schemas
from snapshot.views import JobView, QuotaStatus

Schema = dict[str, Any]

# Schemas of parameters and headers, used inline.
SECONDS: Schema = {"type": "integer", "minimum": 0}
TOP_SCHEMA: Schema = {"type": "integer", "minimum": 1, "maximum": LIST_TOP_MAX, "default": LIST_TOP_DEFAULT}
# Graph's job ids are GUIDs; no id can hold what Table keys forbid (/ \ # ? and control characters).
JOB_ID_SCHEMA: Schema = {"type": "string", "minLength": 1, "pattern": r"^[^/\\#?\u0000-\u001f\u007f-\u009f]+$"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def component_schemas(ref_template: str) -> dict[str, Schema]:
    """Every named schema; `ref_template` places them, e.g. `#/components/schemas/{model}`."""
    return {**model_schemas(ref_template), **handwritten_schemas(ref_template)}


def _drop_property_titles(schema: Schema) -> Schema:
    """pydantic titles every property after its name ("Displayname"); models keep their title."""
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


def model_schemas(ref_template: str) -> dict[str, Schema]:
    """The pydantic models' JSON schemas, `$defs` lifted out (validation mode for the request)."""
    _, top = models_json_schema(
        [
            (StartSnapshotRequest, "validation"),
            (JobView, "serialization"),
            (QuotaStatus, "serialization"),
            (MonitorRequest, "validation"),
            (RebaselineRequest, "validation"),
            (DriftRecord, "serialization"),
            (RunRecord, "serialization"),
            (RegisterTenantRequest, "validation"),
        ],
        ref_template=ref_template,
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


def diff_schema() -> Schema:
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
    side = {
        "type": "object",
        "required": ["knows", "replaced"],
        "properties": {
            "knows": {"type": "array", "items": {"type": "string"}},
            "replaced": {"type": "integer", "minimum": 0},
        },
    }
    return {
        "type": "object",
        "description": (
            "From snapshot `against` (older) to `id`: resources matched by type (case-insensitive) and display "
            "name. OData annotations are ignored, a scalar equals a one-element list, key order is ignored, and "
            "Graph's `System.Collections.Hashtable` placeholder is reported as not comparable."
        ),
        "required": ["id", "against", "summary", "added", "removed", "changed", "notComparable", "truncated"],
        "properties": {
            "id": {"type": "string"},
            "against": {
                "type": "string",
                "description": "The snapshot compared with (`previous` resolved; `<tenantId>:<id>` across tenants).",
            },
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
            "normalised": {
                "type": "array",
                "description": (
                    "Only across tenants: each rule that replaced a side's own values (tenantId, initialDomain, "
                    "initialMailDomain, domain, objectId) by the same placeholder, what it knew and replaced per side."
                ),
                "items": {
                    "type": "object",
                    "required": ["rule", "against", "snapshot"],
                    "properties": {"rule": {"type": "string"}, "against": side, "snapshot": side},
                },
            },
        },
    }


def problem_schemas(ref_template: str) -> dict[str, Schema]:
    """RFC 9457 problem details, with the fields this API adds."""
    return {
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
                "type": {
                    "type": "string",
                    "format": "uri",
                    "description": "`urn:tenant-snapshot:problem:<kind>`: an identifier, not a web address.",
                },
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {"$ref": ref_template.format(model="FieldError")},
                    "description": "Validation failures.",
                },
                "existingJobId": {"type": "string", "description": "409: the job that holds the name or key."},
                "limits": {
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                    "description": "409/422 of a monitor: the limit passed and how far (monitors, used, requested).",
                },
                "resetsAt": {
                    "type": "string",
                    "format": "date-time",
                    "description": "429: when the monthly quota resets (UTC).",
                },
                "visibleJobs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"id": {"type": "string"}, "displayName": {"type": "string"}},
                    },
                    "description": "409 at Graph's 12-job cap: the jobs Graph shows, to choose one to delete.",
                },
                "unsupportedResources": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "400: the resource types Microsoft Graph does not accept.",
                },
            },
        },
    }


def content_schemas(ref_template: str) -> dict[str, Schema]:
    """A snapshot's stored content: whole, and one resource at a time."""
    resource = {"$ref": ref_template.format(model="BaselineResource")}
    return {
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
        "ResourcePage": page(resource, "ResourcePage"),
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
                "resources": {"type": "array", "items": resource},
            },
            "patternProperties": {"^@odata\\.": {"description": "An OData annotation, as Graph sent it."}},
        },
    }


def operations_schemas() -> dict[str, Schema]:
    """The catalogue, health and the OpenAPI document itself."""
    return {
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
        "SwaggerDocument": {"type": "object", "required": ["swagger", "info", "paths"]},
    }


def monitor_schemas(ref_template: str) -> dict[str, Schema]:
    """Monitors (Graph's fields plus this app's), their list with the daily budget, drift and run pages."""
    summary: Schema = {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}
    return {
        "MonitorView": {
            **summary,
            "title": "MonitorView",
            "required": ["id", "createdByApp", "baseline"],
            "properties": {
                "id": {"type": "string"},
                "createdByApp": {"type": "boolean"},
                "snapshotId": nullable({"type": "string"}),
                "baseline": {"type": "object", "description": "entries, resourcesPerDay, byType"},
                "lastRun": nullable({"$ref": ref_template.format(model="RunRecord")}),
                "callback": nullable({"type": "object"}),
            },
        },
        "MonitorList": {
            "title": "MonitorList",
            "type": "object",
            "required": ["value", "budget"],
            "properties": {
                "value": {"type": "array", "items": summary},
                "budget": {"type": "object", "additionalProperties": {"type": "integer"}},
            },
        },
        "DriftPage": page({"$ref": ref_template.format(model="DriftRecord")}, "DriftPage"),
        "RunPage": page({"$ref": ref_template.format(model="RunRecord")}, "RunPage"),
    }


def handwritten_schemas(ref_template: str) -> dict[str, Schema]:
    """The bodies no pydantic model describes (pages, problems, content, diff, catalogue, health)."""
    return {
        "SnapshotDiff": diff_schema(),
        "ChangeReport": {"type": "string", "contentMediaType": "text/html", "description": "An HTML page (UTF-8)."},
        **problem_schemas(ref_template),
        "JobPage": page({"$ref": ref_template.format(model="JobView")}, "JobPage"),
        **content_schemas(ref_template),
        **operations_schemas(),
        **monitor_schemas(ref_template),
        **tenant_schemas(ref_template),
        **fleet_schemas(ref_template),
    }


def tenant_schemas(ref_template: str) -> dict[str, Schema]:
    """A tenant as GET /api/tenants/{tenantId} shows it (snapshot/onboarding.py tenant_view), and their list."""
    text = nullable({"type": "string"})
    return {
        "Tenant": {
            "title": "Tenant",
            "type": "object",
            "required": ["tenantId", "displayName", "home", "status", "stepsOwed"],
            "properties": {
                "tenantId": {"type": "string"},
                "displayName": {"type": "string"},
                "home": {"type": "boolean"},
                "status": {"type": "string", "enum": [status.value for status in TenantStatus]},
                "detail": {**text, "description": "Entra's or Graph's own text behind the status."},
                "errorCodes": {"type": "array", "items": {"type": "integer"}},
                "registeredDateTime": text,
                "checkedDateTime": text,
                "lastError": text,
                "consentUrl": {**text, "description": "The admin-consent URL of the app in this tenant."},
                "stepsOwed": {"type": "array", "items": {"type": "string"}},
            },
        },
        "TenantList": {
            "title": "TenantList",
            "type": "object",
            "required": ["value"],
            "properties": {"value": {"type": "array", "items": {"$ref": ref_template.format(model="Tenant")}}},
        },
    }
