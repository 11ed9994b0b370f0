"""Renders the route table (routes.py) and the named schemas (schemas.py) as one OpenAPI 3.1 document."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from snapshot.openapi.contract import DESCRIPTION, KEYS, TAGS, TITLE, VERSION, Answer, ApiKey, Parameter, Route
from snapshot.openapi.routes import ALL_ROUTES
from snapshot.openapi.schemas import component_schemas

Node = dict[str, Any]
COMPONENT = "#/components/{kind}/{name}"
SCHEMA_REF = COMPONENT.format(kind="schemas", name="{model}")


def document(server_url: str) -> Node:
    """The OpenAPI 3.1 document; `server_url` is the API's base URL, e.g. https://<app>.azurewebsites.net/api."""
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
            "servers": [{"url": server_url.rstrip("/")}],
            "security": [{key.scheme: []} for key in KEYS],
            "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
            "paths": paths(ALL_ROUTES),
            "components": components(ALL_ROUTES),
        }
    )


def paths(table: Sequence[Route]) -> Node:
    return path_items(table, use_parameter, operation)


def path_items(
    table: Sequence[Route], render_parameter: Callable[[Parameter], Node], render_operation: Callable[[Route], Node]
) -> Node:
    """Path items in table order; a path's parameters are declared once on its item (OpenAPI 3.1 and 2.0)."""
    items: Node = {}
    for route in table:
        item = items.setdefault(route.path, {})
        if route.path_parameters:
            item["parameters"] = [render_parameter(p) for p in route.path_parameters]
        item[route.method.lower()] = render_operation(route)
    return items


def operation_node(route: Route, render_response: Callable[[Answer], Node], middle: Node) -> Node:
    """An operation in both formats: id, tag, summary, description, the format's `middle`, answers, security."""
    node: Node = {"operationId": route.function, "tags": [route.tag], "summary": route.summary}
    if route.description:
        node["description"] = route.description
    node.update(middle)
    node["responses"] = {str(answer.status): render_response(answer) for answer in route.responses}
    if route.anonymous:
        node["security"] = []
    return node


def operation(route: Route) -> Node:
    middle: Node = {}
    if route.parameters:
        middle["parameters"] = [use_parameter(p) for p in route.parameters]
    if route.body:
        middle["requestBody"] = {"required": True, "content": content(route.body, "application/json")}
    return operation_node(route, response, middle)


def response(answer: Answer) -> Node:
    node: Node = {"description": answer.description}
    if answer.headers:
        node["headers"] = {header.name: use_header(header) for header in answer.headers}
    if answer.body:
        node["content"] = content(answer.body, answer.media_type)
    return node


def content(schema_name: str, media_type: str) -> Node:
    return {media_type: {"schema": {"$ref": SCHEMA_REF.format(model=schema_name)}}}


def use_parameter(p: Parameter) -> Node:
    return shared(p, "parameters") or parameter(p)


def use_header(p: Parameter) -> Node:
    return shared(p, "headers") or header(p)


def shared(p: Parameter, kind: str) -> Node | None:
    """A reference to the declaration under components, for a parameter or header the table shares."""
    return {"$ref": COMPONENT.format(kind=kind, name=p.component)} if p.component else None


def parameter(p: Parameter) -> Node:
    node: Node = {"name": p.name, "in": p.location, "schema": p.schema, "description": p.description}
    if p.required:
        node["required"] = True
    return node


def header(p: Parameter) -> Node:
    """A Header Object is a Parameter Object without `name` and `in`."""
    return {key: value for key, value in parameter(p).items() if key not in ("name", "in")}


def security_scheme(key: ApiKey) -> Node:
    node: Node = {"type": "apiKey", "in": key.location, "name": key.name}
    if key.description:
        node["description"] = key.description
    return node


def components(table: Sequence[Route]) -> Node:
    """The named schemas, and the parameters and headers the table marks as shared."""
    parameters = [p for route in table for p in (*route.path_parameters, *route.parameters)]
    headers = [h for route in table for answer in route.responses for h in answer.headers]
    return {
        "schemas": component_schemas(SCHEMA_REF),
        "parameters": {p.component: parameter(p) for p in parameters if p.component},
        "headers": {h.component: header(h) for h in headers if h.component},
        "securitySchemes": {key.scheme: security_scheme(key) for key in KEYS},
    }
