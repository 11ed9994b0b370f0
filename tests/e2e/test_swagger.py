"""The OpenAPI 2.0 (Swagger) document a Logic Apps custom connector imports: valid, from the same route table
and schemas as the 3.1 one, with the async 202/Location pattern, the function key and designer summaries."""

from __future__ import annotations

import functools
import json
from typing import Any

from openapi_spec_validator import validate

from snapshot.openapi import document, v2
from snapshot.openapi.routes import ALL_ROUTES

METHODS = ("get", "post", "put", "delete")


@functools.cache
def swagger() -> dict[str, Any]:
    return v2.document("https://app.example.net/api/")


def operations(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        op["operationId"]: (method, path)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def test_the_document_is_valid_openapi_2_0_and_serves_the_api_base() -> None:
    doc = swagger()
    assert doc["swagger"] == "2.0"
    validate(doc)
    json.dumps(doc)
    assert (doc["schemes"], doc["host"], doc["basePath"]) == (["https"], "app.example.net", "/api")


def test_it_has_the_same_operations_and_schemas_as_the_3_1_document() -> None:
    v3 = document("https://app.example.net/api")
    assert operations(swagger()) == operations(v3)
    assert set(swagger()["definitions"]) == set(v3["components"]["schemas"])
    assert "#/components/" not in json.dumps(swagger())
    for name, (method, path) in operations(v3).items():
        statuses = set(v3["paths"][path][method]["responses"])
        assert set(swagger()["paths"][path][method]["responses"]) == statuses, name


def test_the_start_follows_the_async_pattern_and_the_key_is_an_api_key() -> None:
    doc = swagger()
    start = doc["paths"]["/snapshots"]["post"]
    accepted = start["responses"]["202"]
    assert accepted["schema"] == {"$ref": "#/definitions/JobView"}
    assert {"Location", "Retry-After"} <= set(accepted["headers"])
    assert accepted["headers"]["Retry-After"]["type"] == "integer"
    poll = doc["paths"]["/snapshots/{id}"]["get"]["responses"]
    assert {"200", "202", "424"} <= set(poll) and "Location" in poll["202"]["headers"]
    body = next(p for p in start["parameters"] if p["in"] == "body")
    assert body["schema"] == {"$ref": "#/definitions/StartSnapshotRequest"} and body["required"] is True
    assert doc["securityDefinitions"] == {
        "functionKeyQuery": {
            "type": "apiKey",
            "in": "query",
            "name": "code",
            "description": "A function key of the app (the connection asks for it once).",
        }
    }
    assert doc["security"] == [{"functionKeyQuery": []}]
    assert doc["paths"]["/health"]["get"]["security"] == []


def test_every_operation_and_parameter_has_a_summary_for_the_designer() -> None:
    doc = swagger()
    for name, (method, path) in operations(doc).items():
        op = doc["paths"][path][method]
        assert op["summary"], name
        for parameter in [*doc["paths"][path].get("parameters", []), *op.get("parameters", [])]:
            assert parameter["x-ms-summary"] and parameter["description"], (name, parameter["name"])
    assert {route.function for route in ALL_ROUTES} == set(operations(doc))


def test_json_schema_keywords_swagger_lacks_are_narrowed() -> None:
    narrowed = v2.schema_v2(
        {
            "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
            "default": None,
            "examples": ["2026-01-01T00:00:00Z"],
            "patternProperties": {"^x": {}},
        }
    )
    assert narrowed == {
        "type": "string",
        "format": "date-time",
        "x-nullable": True,
        "example": "2026-01-01T00:00:00Z",
    }
    assert v2.schema_v2({"const": "a", "type": ["integer", "null"]}) == {
        "enum": ["a"],
        "type": "integer",
        "x-nullable": True,
    }
