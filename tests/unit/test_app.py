"""The app indexes: every function with its trigger, route, methods and auth level."""

from __future__ import annotations

from tests.support import bindings


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
