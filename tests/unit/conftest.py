"""Unit tests run with no Azurite, no emulator and no host: a unit test asking for one fails at collection."""

from __future__ import annotations

import pytest

SERVICE_FIXTURES = {"azurite_service", "emulator_service", "app_host", "stack_env", "app_env", "api", "emulator"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        wanted = SERVICE_FIXTURES & set(getattr(item, "fixturenames", ()))
        if wanted and "tests/unit/" in str(item.path).replace("\\", "/"):
            raise pytest.UsageError(f"{item.nodeid} is a unit test but uses {sorted(wanted)}: move it to integration/")
