"""health: Table Storage reachable and a Graph token through the managed identity; 503 names what failed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import azure.functions as func
import pytest

from devtools import services
from devtools.emulator_client import EmulatorControl
from snapshot import http_api
from tests.support import use_setting


async def call_health() -> tuple[int, dict]:
    request = func.HttpRequest(method="GET", url="http://localhost/api/health", body=b"")
    response = await http_api.health(request)
    return response.status_code, json.loads(response.get_body())


async def test_healthy_with_both_dependencies_up(app_env: dict[str, str], emulator: EmulatorControl) -> None:
    status, body = await call_health()
    assert status == 200
    assert body == {"status": "healthy", "checks": {"tableStorage": "ok", "managedIdentity": "ok"}}
    assert [r["query"]["resource"] for r in emulator.requests() if r["op"] == "token"] == [
        "https://graph.microsoft.com"
    ]


@pytest.fixture
def stopped_azurite() -> Iterator[services.Service]:
    service = services.azurite(services.free_port()).start()
    service.stop()
    yield service


async def test_503_names_table_storage_when_azurite_is_stopped(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, stopped_azurite: services.Service
) -> None:
    use_setting(monkeypatch, "AzureWebJobsStorage", services.azurite_connection_string(stopped_azurite.port))
    status, body = await call_health()
    assert status == 503
    assert body["checks"]["tableStorage"] == "unreachable"
    assert body["checks"]["managedIdentity"] == "ok"
    assert "127.0.0.1" not in json.dumps(body)  # reveals no configuration


async def test_503_names_the_identity_when_the_token_endpoint_fails(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.add_fault(method="GET", path="/msi/token", status=500, times=100)
    status, body = await call_health()
    assert status == 503
    assert body["checks"] == {"tableStorage": "ok", "managedIdentity": "no token for Microsoft Graph"}


async def test_health_and_the_log_name_every_invalid_setting_without_its_value(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SNAPSHOT_RETRY_AFTER_SECONDS", "secret-soon")
    use_setting(monkeypatch, "SNAPSHOT_POLL_SCHEDULE", "secret * *")
    status, body = await call_health()
    assert status == 503
    detail = body["checks"]["configuration"]
    assert "SNAPSHOT_RETRY_AFTER_SECONDS" in detail and "SNAPSHOT_POLL_SCHEDULE" in detail
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("SNAPSHOT_RETRY_AFTER_SECONDS" in m and "SNAPSHOT_POLL_SCHEDULE" in m for m in logged), logged
    assert "secret" not in json.dumps(body) and "secret" not in caplog.text
