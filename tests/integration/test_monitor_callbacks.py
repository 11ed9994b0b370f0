"""Monitor callbacks: a drift poll that finds new or fixed drifts POSTs them once to the monitor's callbackUrl.

In-process against Azurite and the emulator (Graph over HTTP). The receiver is a local HTTPS server whose
self-signed certificate the app is told to trust (notify.CALLBACK_VERIFY), as in test_callbacks_flow.py:
the Functions host over HTTP could not be given the test's trust anchor.
"""

from __future__ import annotations

import copy
import json
import ssl

import pytest
from aiohttp import web

from devtools.emulator_client import EmulatorControl
from snapshot.callbacks import delivery, policy
from snapshot.models import parse_body
from snapshot.monitoring import MonitorRequest
from snapshot.settings import get_settings
from snapshot.usecases import drifts, monitors, notify
from tests.support import use_setting
from tests.support.inprocess import start_job, tick_until_stored
from tests.support.receiver import Serve, Server

CA = "microsoft.entra.conditionalAccessPolicy"


@pytest.fixture
def local_callbacks(monkeypatch: pytest.MonkeyPatch, app_env: dict[str, str], trust: ssl.SSLContext) -> None:
    use_setting(monkeypatch, "SNAPSHOT_CALLBACK_ALLOWED_HOSTS", "localhost")
    monkeypatch.setattr(notify, "CALLBACK_VERIFY", trust)
    monkeypatch.setattr(policy, "BASE_DELAY_SECONDS", 0.0)  # retry at the next poll, not 30 s later


async def test_new_and_fixed_drifts_are_called_back_once_each(
    local_callbacks: None, emulator: EmulatorControl, serve: Serve
) -> None:
    async def flaky(request: web.Request, server: Server) -> web.Response:
        return web.Response(status=503 if len(server.hits) == 1 else 200)

    server = await serve(flaky)
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job_id = await start_job("Callback source", [CA])
    await tick_until_stored()
    body = {"displayName": "Called back", "resourceTypes": [CA], "callbackUrl": server.url("/drifts?sig=secret")}
    monitor = await monitors.create_monitor(job_id, parse_body(MonitorRequest, body, get_settings().callback_hosts))
    assert monitor["callback"] == {"url": server.url("/drifts"), "status": "pending", "pendingChanges": 0}

    emulator.run_monitors()
    assert (await drifts.poll_drifts()).callbacks == 0  # a clean run: nothing to say
    policy_resource = emulator.tenant_resources(CA)[0]
    changed = copy.deepcopy(policy_resource)
    changed["properties"]["GrantControlOperator"] = "NEITHER"
    emulator.change_tenant(set=[changed])
    emulator.run_monitors()
    first = await drifts.poll_drifts()
    assert (first.new, first.callbacks) == (1, 1)
    assert [hit.answered for hit in server.hits] == [503]  # retried by the next poll, with the same delivery id
    second = await drifts.poll_drifts()
    assert (second.new, second.callbacks) == (0, 1)
    emulator.run_monitors()  # still drifted: nothing new
    assert (await drifts.poll_drifts()).callbacks == 0

    assert [hit.answered for hit in server.hits] == [503, 200]
    ids = {hit.headers[delivery.DELIVERY_ID_HEADER] for hit in server.hits}
    assert len(ids) == 1
    sent = json.loads(server.hits[1].body)
    assert sent["monitorId"] == monitor["id"] and sent["displayName"] == "Called back"
    assert [(c["change"], c["drift"]["driftedProperties"][0]["currentValue"]) for c in sent["changes"]] == [
        ("new", "NEITHER")
    ]

    emulator.change_tenant(set=[policy_resource])
    emulator.run_monitors()
    fixed = await drifts.poll_drifts()
    assert (fixed.fixed, fixed.callbacks) == (1, 1)
    assert [hit.answered for hit in server.hits] == [503, 200, 200]
    assert [c["change"] for c in json.loads(server.hits[2].body)["changes"]] == ["fixed"]
    assert server.hits[2].headers[delivery.DELIVERY_ID_HEADER] not in ids  # a new batch, a new delivery id
    assert "sig=secret" not in json.dumps(await monitors.get_monitor(monitor["id"]))
