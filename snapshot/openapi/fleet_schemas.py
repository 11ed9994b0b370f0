"""The fleet's named JSON Schemas: its two request bodies (from the pydantic models) and its answers."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from snapshot.fleet import PAGE_MAX, Group, StandardRequest
from snapshot.onboarding import TenantStatus
from snapshot.rounds import MemberState, RoundRequest

Schema = dict[str, Any]
TEXT: Schema = {"anyOf": [{"type": "string"}, {"type": "null"}]}
WHEN: Schema = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}
COUNT: Schema = {"type": "integer", "minimum": 0}
FLEET_TOP_SCHEMA: Schema = {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_MAX}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(title: str, properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    return {"title": title, "type": "object", "required": required or list(properties), "properties": properties}


def fleet_schemas(ref_template: str) -> dict[str, Schema]:
    _, top = models_json_schema(
        [(StandardRequest, "validation"), (RoundRequest, "validation")], ref_template=ref_template
    )
    schemas: dict[str, Schema] = dict(top.get("$defs", {}))
    standard = _object("FleetStandard", {
        "tenantId": {"type": "string"}, "snapshotId": {"type": "string"}, "followsLatest": {"type": "boolean"},
        "resourceTypes": {"type": "array", "items": {"type": "string"}}, "revision": {"type": "integer", "minimum": 1},
        "setAt": {"type": "string", "format": "date-time"},
    })  # fmt: skip
    schemas["FleetStandard"] = standard
    schemas["FleetStandardSet"] = {
        **standard,
        "title": "FleetStandardSet",
        "required": [*standard["required"], "summariesQueued"],
        "properties": {**standard["properties"], "summariesQueued": {**COUNT, "description": "tenants re-summarised"}},
    }
    schemas["FleetRow"] = _fleet_row()
    schemas["FleetPage"] = _object("FleetPage", {
        "count": COUNT,
        "groups": {"type": "object", "properties": {g.value: COUNT for g in Group}},
        "standard": _nullable({"$ref": ref_template.format(model="FleetStandard")}),
        "value": {"type": "array", "items": {"$ref": ref_template.format(model="FleetRow")}},
        "continuationToken": TEXT,
        "nextLink": _nullable({"type": "string", "format": "uri"}),
    })  # fmt: skip
    schemas["FleetReport"] = {"type": "string", "contentMediaType": "text/html", "description": "An HTML page (UTF-8)."}
    schemas["FleetRound"] = _round()
    return schemas


def _fleet_row() -> Schema:
    snapshot = _object("FleetSnapshot", {
        "id": {"type": "string"}, "storedAt": WHEN, "ageHours": _nullable({"type": "number"}),
        "resourceCount": _nullable(COUNT), "reportUrl": _nullable({"type": "string", "format": "uri"}),
    })  # fmt: skip
    changes = _object("FleetChanges", {
        "against": {"type": "string"}, "added": COUNT, "removed": COUNT, "changed": COUNT, "total": COUNT,
    })  # fmt: skip
    deviations = _object("FleetDeviations", {
        "current": {"type": "boolean", "description": "counted against the standard as it is now"},
        "total": _nullable(COUNT),
        "byWorkload": _nullable({"type": "object", "additionalProperties": COUNT}),
        "error": TEXT,
    })  # fmt: skip
    return _object("FleetRow", {
        "tenantId": {"type": "string"}, "displayName": {"type": "string"}, "home": {"type": "boolean"},
        "status": {"type": "string", "enum": [s.value for s in TenantStatus]},
        "group": {"type": "string", "enum": [g.value for g in Group]},
        "lastSnapshot": _nullable(snapshot), "changes": _nullable(changes), "deviations": _nullable(deviations),
        "activeDrifts": COUNT,
        "quota": _nullable(_object("FleetQuota", {"month": TEXT, "used": COUNT})),
        "jobSlots": _object("FleetJobSlots", {"used": COUNT, "limit": COUNT}),
        "lastError": TEXT, "summarisedAt": WHEN,
    })  # fmt: skip


def _round() -> Schema:
    member = _object("FleetRoundTenant", {
        "tenantId": {"type": "string"}, "displayName": {"type": "string"},
        "outcome": {"type": "string", "enum": [s.value for s in MemberState]}, "jobId": TEXT, "detail": TEXT,
    })  # fmt: skip
    return _object("FleetRound", {
        "id": {"type": "string"}, "status": {"type": "string", "enum": ["running", "completed"]},
        "summariesPending": {**COUNT, "description": "stored tenants whose fleet summary is not computed yet"},
        "resourceTypes": {"type": "array", "items": {"type": "string"}},
        "startedAt": {"type": "string", "format": "date-time"}, "deadline": {"type": "string", "format": "date-time"},
        "counts": {"type": "object", "properties": {s.value: COUNT for s in MemberState}},
        "tenants": {"type": "array", "items": member},
        "links": _object("FleetRoundLinks", {"self": {"type": "string", "format": "uri"}}),
    })  # fmt: skip
