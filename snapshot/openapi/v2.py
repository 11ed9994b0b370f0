"""Renders the route table (routes.py) and the named schemas (schemas.py) as one OpenAPI 2.0 (Swagger) document.

Logic Apps (and Power Automate) custom connectors import OpenAPI 2.0 only. The schemas are JSON Schema
2020-12; `schema_v2` narrows them to Swagger's subset (a nullable `anyOf` becomes `x-nullable`, `const` an
`enum`, `examples` one `example`, a null default none; keywords Swagger lacks are dropped). The connector authenticates with
the function key as the `code` query parameter, the one key the Location header it polls keeps.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from snapshot.openapi.contract import DESCRIPTION, KEYS, TAGS, TITLE, VERSION, Answer, Parameter, Route
from snapshot.openapi.routes import ALL_ROUTES
from snapshot.openapi.schemas import component_schemas
from snapshot.openapi.v3 import operation_node, path_items

Node = dict[str, Any]
DEFINITION_REF = "#/definitions/{model}"
CONNECTOR_KEY = KEYS[0]  # the `code` query parameter
# Keywords of a Swagger 2.0 Schema Object (the rest of JSON Schema 2020-12 is dropped); x- extensions stay.
SCHEMA_KEYWORDS = {
    "$ref", "format", "title", "description", "default", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
    "maxProperties", "minProperties", "required", "enum", "type", "items", "allOf", "properties",
    "additionalProperties", "discriminator", "readOnly", "xml", "externalDocs", "example",
}  # fmt: skip
# What a non-body parameter or a header may say about its value.
SIMPLE_KEYWORDS = ("type", "format", "enum", "default", "minimum", "maximum", "minLength", "maxLength", "pattern")


def document(base_url: str) -> Node:
    """The Swagger 2.0 document; `base_url` is the API's base URL, e.g. https://<app>.azurewebsites.net/api."""
    parts = urlsplit(base_url.rstrip("/"))
    return copy.deepcopy(
        {
            "swagger": "2.0",
            "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
            "host": parts.netloc,
            "basePath": parts.path or "/",
            "schemes": [parts.scheme],
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "securityDefinitions": {
                CONNECTOR_KEY.scheme: {
                    "type": "apiKey",
                    "in": CONNECTOR_KEY.location,
                    "name": CONNECTOR_KEY.name,
                    "description": "A function key of the app (the connection asks for it once).",
                }
            },
            "security": [{CONNECTOR_KEY.scheme: []}],
            "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
            "paths": paths(ALL_ROUTES),
            "definitions": {name: schema_v2(s) for name, s in component_schemas(DEFINITION_REF).items()},
        }
    )


def paths(table: Sequence[Route]) -> Node:
    return path_items(table, parameter, operation)


def operation(route: Route) -> Node:
    middle: Node = {}
    parameters = [parameter(p) for p in route.parameters]
    if route.body:
        parameters.append(
            {
                "name": "body",
                "in": "body",
                "required": True,
                "description": f"The request body, a {route.body}.",
                "x-ms-summary": summary_of(route.body),
                "schema": {"$ref": DEFINITION_REF.format(model=route.body)},
            }
        )
    if parameters:
        middle["parameters"] = parameters
    middle["produces"] = sorted({answer.media_type for answer in route.responses if answer.body})
    return operation_node(route, response, middle)


def response(answer: Answer) -> Node:
    node: Node = {"description": answer.description}
    if answer.body:
        node["schema"] = {"$ref": DEFINITION_REF.format(model=answer.body)}
    if answer.headers:
        node["headers"] = {h.name: {**simple(h.schema), "description": h.description} for h in answer.headers}
    return node


def parameter(p: Parameter) -> Node:
    node: Node = {"name": p.name, "in": p.location, "description": p.description, "x-ms-summary": summary_of(p.name)}
    if p.required:
        node["required"] = True
    return node | simple(p.schema)


def simple(schema: Node) -> Node:
    """A parameter's or header's value: Swagger puts the schema's keywords on the parameter itself.

    Swagger gives a parameter one type: a choice (`anyOf`, e.g. an id or `previous`) becomes its options'
    common type, described in the parameter's text."""
    options = schema.get("anyOf") or schema.get("oneOf")
    if options and "type" not in schema:
        kinds = {
            option.get("type", type(option.get("const", "")).__name__.replace("str", "string")) for option in options
        }
        return {"type": kinds.pop() if len(kinds) == 1 else "string"}
    return {key: schema[key] for key in SIMPLE_KEYWORDS if key in schema}


def summary_of(name: str) -> str:
    """`resourceType` / `Idempotency-Key` / `StartSnapshotRequest` -> a title for the designer."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("-", " ").split()
    return " ".join(word[:1].upper() + word[1:] for word in words)


def schema_v2(schema: Any) -> Any:
    """A JSON Schema 2020-12 node narrowed to Swagger 2.0's Schema Object."""
    if isinstance(schema, list):
        return [schema_v2(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    node = dict(schema)
    options = node.pop("anyOf", None) or node.pop("oneOf", None)
    if options:
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) < len(options):
            node["x-nullable"] = True
        node = {**kept[0], **node} if len(kept) == 1 else node
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        node["x-nullable"] = node.get("x-nullable", False) or len(types) < len(node["type"])
        node["type"] = types[0] if types else "string"
    if "default" in node and node["default"] is None:  # Swagger has no null value to default to
        del node["default"]
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("examples"):
        node["example"] = node["examples"][0]
    converted: Node = {}
    for key, value in node.items():
        if key in ("properties", "definitions"):
            converted[key] = {name: schema_v2(item) for name, item in value.items()}
        elif key in ("items", "additionalProperties", "allOf"):
            converted[key] = schema_v2(value)
        elif key in SCHEMA_KEYWORDS or key.startswith("x-"):
            converted[key] = value
    if "$ref" in converted:  # siblings of $ref are ignored in 2.0; keep the reference alone
        return {"$ref": converted["$ref"]}
    return converted
