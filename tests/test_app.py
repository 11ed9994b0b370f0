"""The app indexes: every function with its trigger, route, methods and auth level."""

from __future__ import annotations

import functools
import json
from typing import Any

import function_app


@functools.cache  # get_functions() may be called once per app: a second call re-validates and fails
def bindings() -> dict[str, dict[str, Any]]:
    result = {}
    for fn in function_app.app.get_functions():
        trigger = json.loads(fn.get_function_json())["bindings"][0]
        result[str(fn.get_function_name())] = trigger
    return result


def test_health_is_an_anonymous_get() -> None:
    health = bindings()["health"]
    assert health["type"] == "httpTrigger"
    assert health["route"] == "health"
    assert health["methods"] == ["GET"]
    assert health["authLevel"] == "ANONYMOUS"


def test_snapshot_routes_need_a_function_key() -> None:
    found = bindings()
    assert found["start_snapshot"]["route"] == "snapshots"
    assert found["start_snapshot"]["methods"] == ["POST"]
    assert found["get_snapshot"]["route"] == "snapshots/{id}"
    for name, trigger in found.items():
        if trigger["type"] == "httpTrigger" and name != "health":
            assert trigger["authLevel"] == "FUNCTION", name
