"""Callback delivery to a local HTTPS receiver: one POST, no credentials, no redirects, status classification."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from pathlib import Path

import pytest
from aiohttp import web

from snapshot.callbacks.delivery import deliver
from snapshot.callbacks.policy import DeliveryOutcome
from tests.support.receiver import RELEASE, Serve, Server

LOGIC = ["*.logic.azure.com"]


PAYLOAD = {"id": "job-1", "status": "succeeded", "contentState": "stored", "resourceCount": 3}


LOCAL = ["localhost"]


pytestmark = pytest.mark.timeout(15)


def assert_no_secret(outcome: DeliveryOutcome) -> None:
    assert "secret" not in (outcome.error or "")
    assert "sig=" not in (outcome.error or "")


async def test_one_post_with_the_json_body_and_delivery_id_and_no_credentials(
    serve: Serve, trust: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def ok(request: web.Request, server: Server) -> web.StreamResponse:
        return web.json_response({"ok": True}, headers={"Set-Cookie": "session=abc"})

    # A proxy from the environment must not be used (trust_env=False): this one does not exist.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    server = await serve(ok)
    outcome = await deliver(server.url("/hook?sig=secret"), PAYLOAD, "d-123", LOCAL, timeout=3, verify=trust)
    assert outcome == DeliveryOutcome(delivered=True, retryable=False, status=200, error=None)
    assert len(server.hits) == 1
    hit = server.hits[0]
    assert hit.path == "/hook"
    assert json.loads(hit.body) == PAYLOAD
    headers = {k.lower(): v for k, v in hit.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-snapshot-delivery-id"] == "d-123"
    assert headers["user-agent"] == "tenant-snapshot-callbacks"
    assert "authorization" not in headers
    assert "cookie" not in headers
    assert "proxy-authorization" not in headers


async def test_a_500_is_retryable_and_the_retry_delivers_with_the_same_id(serve: Serve, trust: ssl.SSLContext) -> None:
    async def flaky(request: web.Request, server: Server) -> web.StreamResponse:
        return web.Response(status=500 if len(server.hits) == 1 else 200, text="boom" * 10)

    server = await serve(flaky)
    url = server.url("/hook?sig=secret")
    first = await deliver(url, PAYLOAD, "d-1", LOCAL, timeout=3, verify=trust)
    assert (first.delivered, first.retryable, first.status) == (False, True, 500)
    assert_no_secret(first)
    second = await deliver(url, PAYLOAD, "d-1", LOCAL, timeout=3, verify=trust)
    assert (second.delivered, second.status) == (True, 200)
    assert len(server.hits) == 2
    assert [h.headers["X-Snapshot-Delivery-Id"] for h in server.hits] == ["d-1", "d-1"]
    assert [h.answered for h in server.hits] == [500, 200]  # two POSTs, exactly one successful


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed_and_is_permanent(serve: Serve, trust: ssl.SSLContext, status: int) -> None:
    async def redirect(request: web.Request, server: Server) -> web.StreamResponse:
        if request.path == "/hook":
            return web.Response(status=status, headers={"Location": server.url("/target?sig=secret")})
        return web.Response(status=200)

    server = await serve(redirect)
    outcome = await deliver(server.url("/hook?sig=secret"), PAYLOAD, "d-2", LOCAL, timeout=3, verify=trust)
    assert (outcome.delivered, outcome.retryable, outcome.status) == (False, False, status)
    assert "redirects are not followed" in (outcome.error or "")
    assert_no_secret(outcome)
    assert server.on("/target") == []
    assert len(server.hits) == 1


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (401, False), (404, False), (410, False),
                                                   (408, True), (429, True), (502, True), (503, True)])  # fmt: skip
async def test_status_classification(serve: Serve, trust: ssl.SSLContext, status: int, retryable: bool) -> None:
    async def answer(request: web.Request, server: Server) -> web.StreamResponse:
        return web.Response(status=status, headers={"Retry-After": "120"})

    server = await serve(answer)
    outcome = await deliver(server.url("/hook?sig=secret"), PAYLOAD, "d-3", LOCAL, timeout=3, verify=trust)
    assert (outcome.delivered, outcome.retryable, outcome.status) == (False, retryable, status)
    assert outcome.error == f"HTTP {status}"
    assert outcome.retry_after == (120.0 if retryable else None)


async def test_a_timeout_is_retryable(serve: Serve, trust: ssl.SSLContext) -> None:
    async def slow(request: web.Request, server: Server) -> web.StreamResponse:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(request.app[RELEASE].wait(), 5)
        return web.Response(status=200)

    server = await serve(slow)
    started = asyncio.get_running_loop().time()
    outcome = await deliver(server.url("/hook?sig=secret"), PAYLOAD, "d-4", LOCAL, timeout=0.5, verify=trust)
    assert asyncio.get_running_loop().time() - started < 2
    assert (outcome.delivered, outcome.retryable, outcome.status) == (False, True, None)
    assert "timed out" in (outcome.error or "")
    assert_no_secret(outcome)


async def test_connection_refused_is_retryable(trust: ssl.SSLContext) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = await deliver(f"https://localhost:{port}/hook?sig=secret", PAYLOAD, "d-5", LOCAL, timeout=2, verify=trust)
    assert (outcome.delivered, outcome.retryable) == (False, True)
    assert outcome.error and outcome.error.startswith("connection failed")
    assert_no_secret(outcome)


async def test_an_untrusted_certificate_is_not_delivered(serve: Serve, certificate: tuple[Path, Path]) -> None:
    async def ok(request: web.Request, server: Server) -> web.StreamResponse:
        return web.Response(status=200)

    server = await serve(ok)
    outcome = await deliver(server.url("/hook?sig=secret"), PAYLOAD, "d-6", LOCAL, timeout=2)  # system CAs only
    assert not outcome.delivered
    assert server.hits == []
    assert_no_secret(outcome)
    # a CA file path is accepted as well
    trusted = await deliver(server.url("/hook"), PAYLOAD, "d-6", LOCAL, timeout=2, verify=str(certificate[1]))
    assert trusted.delivered


async def test_deliver_revalidates_the_url(serve: Serve, trust: ssl.SSLContext) -> None:
    async def ok(request: web.Request, server: Server) -> web.StreamResponse:
        return web.Response(status=200)

    server = await serve(ok)
    for url, allowed in (
        (server.url("/hook?sig=secret"), LOGIC),  # host not allowed
        (f"https://127.0.0.1:{server.port}/hook?sig=secret", ["127.0.0.1", "localhost"]),  # IP literal
        (server.url("/hook?sig=secret").replace("https", "http"), LOCAL),  # not https
    ):
        outcome = await deliver(url, PAYLOAD, "d-7", allowed, timeout=2, verify=trust)
        assert (outcome.delivered, outcome.retryable, outcome.status) == (False, False, None)
        assert (outcome.error or "").startswith("callback URL refused")
        assert_no_secret(outcome)
    assert server.hits == []
