"""No call waits forever: with Azurite frozen (SIGSTOP: connections accepted, nothing answered), health
answers naming Table Storage, and a list and a start answer 503 once the Table client's timeouts run out."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator

import pytest

from devtools import services
from devtools.emulator_client import EmulatorControl
from snapshot import clients, http_api, settings
from snapshot.usecases import health
from tests.support import use_setting
from tests.support.inprocess import USER, request


@pytest.fixture
def frozen_azurite(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[services.Service]:
    """An Azurite of this test's own, listening but stopped with SIGSTOP; resumed and stopped afterwards."""
    service = services.azurite(services.free_port()).start()
    assert service.process is not None
    use_setting(monkeypatch, "AzureWebJobsStorage", services.azurite_connection_string(service.port))
    os.kill(service.process.pid, signal.SIGSTOP)
    yield service
    os.kill(service.process.pid, signal.SIGCONT)
    service.stop()


@pytest.mark.timeout(120)  # a hang guard only: a regression would otherwise block the suite
async def test_health_list_and_start_answer_while_azurite_is_frozen(
    frozen_azurite: services.Service, emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The production read timeout is kept in the options; this test shortens it so that it runs quickly.
    monkeypatch.setitem(settings.TABLE_CLIENT_OPTIONS, "read_timeout", 2)
    await clients.close_all()

    report = await health.health()
    # the ping's own 3 s read timeout, or the health check's bound, whichever ends first
    assert report.checks["tableStorage"] in ("unreachable", f"no answer within {health.HEALTH_CHECK_SECONDS} s")
    assert report.checks["managedIdentity"] == "ok"

    listed = await http_api.list_snapshots(request("GET", "snapshots"))
    assert listed.status_code == 503 and "Retry-After" in listed.headers
    assert json.loads(listed.get_body())["title"] == "Table Storage is unavailable"

    body = json.dumps({"displayName": "Frozen storage job", "resources": [USER]}).encode()
    started = await http_api.start_snapshot(
        request("POST", "snapshots", body=body, headers={"Content-Type": "application/json"})
    )
    assert started.status_code == 503 and "Retry-After" in started.headers
    assert emulator.counts()["create"] == 0  # the quota check came first and could not answer


def test_every_table_and_identity_client_has_timeouts() -> None:
    for options in (settings.TABLE_CLIENT_OPTIONS, settings.IDENTITY_CLIENT_OPTIONS):
        assert options["connection_timeout"] > 0 and options["read_timeout"] > 0 and options["retry_total"] >= 0
