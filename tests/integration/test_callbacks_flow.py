"""Completion callbacks end to end: submitted with the start, POSTed by the poller once the job ends.

The receiver is a local HTTPS server whose self-signed certificate the poller is told to trust
(notify.CALLBACK_VERIFY): a real TLS handshake, with only the trust anchor swapped for the test's.
"""

from __future__ import annotations

import json
import ssl

import azure.functions as func
import pytest
from aiohttp import web

from devtools.emulator_client import EmulatorControl
from snapshot import http_api
from snapshot.callbacks import policy
from snapshot.usecases import notify, poll, reads
from tests.support import use_setting
from tests.support.receiver import Serve, Server

TYPES = ["microsoft.entra.conditionalAccessPolicy"]


@pytest.fixture
def local_callbacks(monkeypatch: pytest.MonkeyPatch, app_env: dict[str, str], trust: ssl.SSLContext) -> None:
    use_setting(monkeypatch, "SNAPSHOT_CALLBACK_ALLOWED_HOSTS", "localhost")
    monkeypatch.setattr(notify, "CALLBACK_VERIFY", trust)
    monkeypatch.setattr(policy, "BASE_DELAY_SECONDS", 0.0)  # retry at the next tick, not 30 s later


async def start_with_callback(name: str, url: str) -> dict:
    body = {"displayName": name, "resources": TYPES, "callbackUrl": url}
    request = func.HttpRequest(
        method="POST",
        url="http://app.example/api/snapshots",
        headers={"Content-Type": "application/json"},
        body=json.dumps(body).encode(),
    )
    response = await http_api.start_snapshot(request)
    assert response.status_code == 202, response.get_body()
    return json.loads(response.get_body())


async def test_a_callback_is_delivered_exactly_once_even_when_the_first_attempt_fails(
    local_callbacks: None,
    emulator: EmulatorControl,
    serve,
) -> None:
    async def flaky(request: web.Request, server: Server) -> web.Response:
        return web.Response(status=500 if len(server.hits) == 1 else 200)

    server: Server = await serve(flaky)
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job = await start_with_callback("Callback job one", server.url("/hook?sig=secret"))
    assert job["callback"]["url"] == server.url("/hook")  # the signature is never shown
    assert job["callback"]["status"] == "pending"

    first = await poll.poll()
    assert first.downloaded == 1 and first.callbacks == 1
    assert [hit.answered for hit in server.hits] == [500]
    second = await poll.poll()
    assert second.callbacks == 1
    await poll.poll()  # nothing more to send

    assert [hit.answered for hit in server.hits] == [500, 200]
    delivered = server.hits[1]
    assert json.loads(delivered.body)["id"] == job["id"]
    assert json.loads(delivered.body)["contentState"] == "stored"
    assert delivered.headers["X-Snapshot-Delivery-Id"] == server.hits[0].headers["X-Snapshot-Delivery-Id"]
    assert "Authorization" not in delivered.headers
    record = await reads.get_job(job["id"])
    assert record.callback is not None and record.callback.status == "delivered"
    assert record.callback.attempts == 2


async def test_a_failed_job_is_called_back_too(local_callbacks: None, emulator: EmulatorControl, serve: Serve) -> None:
    async def ok(request: web.Request, server: Server) -> web.Response:
        return web.Response(status=202)

    server: Server = await serve(ok)
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, failingTypes={t.lower(): "Forbidden" for t in TYPES})
    job = await start_with_callback("Callback job two", server.url("/done"))
    await poll.poll()
    assert len(server.hits) == 1 and json.loads(server.hits[0].body)["status"] == "failed"
    assert (await reads.get_job(job["id"])).callback.status == "delivered"  # type: ignore[union-attr]


async def test_a_redirect_is_not_followed(local_callbacks: None, emulator: EmulatorControl, serve: Serve) -> None:
    async def redirect(request: web.Request, server: Server) -> web.StreamResponse:
        if request.path == "/elsewhere":
            return web.Response(status=200)
        raise web.HTTPFound(server.url("/elsewhere"))

    server: Server = await serve(redirect)
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job = await start_with_callback("Callback job three", server.url("/hook"))
    await poll.poll()
    await poll.poll()
    assert [hit.path for hit in server.hits] == ["/hook"]
    state = (await reads.get_job(job["id"])).callback
    assert state is not None and state.status == "failed"
    assert "redirect" in (state.last_error or "")
