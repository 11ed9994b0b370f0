"""Injected faults: the list the control API fills, and the middleware that slows, answers, drops, resets, redirects
or spoils requests (a body that is not JSON, or the real body cut short)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from devtools.emulator.requestlog import ENTRY_KEY
from devtools.emulator.responses import ERROR_CODES, graph_error
from devtools.emulator.state import ControlError
from devtools.emulator.tenants import tenant_of

ACTIONS = ("respond", "drop", "reset", "delay", "redirect", "notJson", "truncate")
DEFAULT_REDIRECT = "https://content.example.net/snapshot.json"
NOT_JSON_BODY = b"<html><body>Service temporarily unavailable</body></html>"


@dataclass
class Fault:
    """`times` requests whose method and path match get `action` instead of (or before) their answer."""

    method: str
    path: str
    status: int
    action: str
    times: int
    retry_after: float | None
    delay_ms: float
    location: str = DEFAULT_REDIRECT
    tenant: str | None = None  # only requests of this tenant (its token's, or its token endpoint's)

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        if not isinstance(data, dict):
            raise ControlError("a fault is an object")
        action = str(data.get("action", "respond"))
        if action not in ACTIONS:
            raise ControlError(f"action must be one of {', '.join(ACTIONS)}")
        status = data.get("status", 503)
        if action == "respond" and not isinstance(status, int):
            raise ControlError("status must be an integer")
        return cls(
            method=str(data.get("method", "*")).upper(),
            path=str(data.get("path", "")),
            status=int(status),
            action=action,
            times=int(data.get("times", 1)),
            retry_after=data.get("retryAfter"),
            delay_ms=float(data.get("delayMs", 0)),
            location=str(data.get("location") or DEFAULT_REDIRECT),
            tenant=str(data["tenant"]).lower() if data.get("tenant") else None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method, "path": self.path, "status": self.status, "action": self.action,
            "times": self.times, "retryAfter": self.retry_after, "delayMs": self.delay_ms, "location": self.location,
            "tenant": self.tenant,
        }  # fmt: skip

    def matches(self, method: str, path: str, tenant: str | None) -> bool:
        return self.times > 0 and self.method in ("*", method) and self.path in path and self.tenant in (None, tenant)


class Faults:
    """The faults still to be used, first added first matched."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def take(self, method: str, paths: tuple[str, ...], tenant: str | None = None) -> Fault | None:
        """The first fault matching the request, used once."""
        for fault in self.pending:
            if any(fault.matches(method, path, tenant) for path in paths):
                fault.times -= 1
                if fault.times <= 0:
                    self.pending.remove(fault)
                return fault
        return None


FAULTS_KEY = web.AppKey("faults", Faults)


class ConnectionDropped(Exception):
    """Raised after the connection was closed on purpose, so that nothing is sent."""


def _close_connection(request: web.Request, reset: bool) -> None:
    transport = request.transport
    if transport is None:
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the configured latency and the first matching fault to each logged (Graph or token) request."""
    entry = request.get(ENTRY_KEY)
    if entry is None:  # the control API is never slowed or faulted
        return await handler(request)
    latency_ms = tenant_of(request).state.config["latencyMs"]
    if entry["op"] != "token" and latency_ms:
        entry["waitedMs"] = float(latency_ms)
        await asyncio.sleep(float(latency_ms) / 1000)
    fault = request.app[FAULTS_KEY].take(request.method, (request.path, request.raw_path), entry.get("tenant"))
    if fault is None:
        return await handler(request)
    entry["fault"] = fault.action
    if fault.action == "respond":
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        return graph_error(
            fault.status, message=f"Injected fault: {ERROR_CODES.get(fault.status, 'error')}", headers=headers
        )
    if fault.action == "reset":
        entry["status"] = 0
        _close_connection(request, reset=True)
        raise ConnectionDropped
    if fault.action == "redirect":
        return web.Response(status=302, headers={"Location": fault.location})
    if fault.action == "notJson":
        return web.Response(body=NOT_JSON_BODY, content_type="text/html")
    if fault.action == "truncate":
        return await _truncated(request, handler)
    if fault.action == "delay":
        entry["waitedMs"] = entry.get("waitedMs", 0.0) + fault.delay_ms
        await asyncio.sleep(fault.delay_ms / 1000)
        return await handler(request)
    response = await handler(request)  # drop: the work is done, the answer is lost
    entry["status"] = response.status
    _close_connection(request, reset=False)
    raise ConnectionDropped


async def _truncated(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The real answer with the second half of its body cut off (its Content-Type kept)."""
    response = await handler(request)
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes):
        return response
    cut = web.Response(body=body[: len(body) // 2], status=response.status)
    cut.headers["Content-Type"] = response.headers.get("Content-Type", "application/json")
    return cut


@web.middleware
async def swallow_dropped(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn a deliberately closed connection into a response aiohttp will not manage to send."""
    try:
        return await handler(request)
    except ConnectionDropped:
        # The transport is closed: aiohttp cannot send this, and the client already saw the connection end.
        return web.Response(status=499)
