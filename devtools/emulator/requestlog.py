"""The log of every Graph and token request the emulator answered, and the middleware that writes it.

An entry records whether an Authorization header was sent and whether it was valid, never its value.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from devtools.emulator.state import format_datetime, utc_now
from devtools.emulator.tenants import TENANT_KEY

# The names of the routes that count as operations; any other route is logged as "other".
OPS = ("create", "list", "get", "delete", "download", "token", "tenantToken")


class RequestLog:
    """The entries in arrival order, and how many there were per operation."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OPS, 0)
        for entry in self.entries:
            if entry["op"] in counts:
                counts[entry["op"]] += 1
        return counts


LOG_KEY = web.AppKey("request_log", RequestLog)
ENTRY_KEY = web.RequestKey("log_entry", dict)  # this request's entry, for the fault middleware to complete


def _tenant_id(request: web.Request, op: str) -> str | None:
    """The tenant a request was for: its token's (Graph), or its path's (a tenant's token endpoint)."""
    if op == "tenantToken":
        return request.match_info.get("tenant", "").lower() or None
    tenant = request.get(TENANT_KEY)
    return tenant.id if tenant is not None else None


def operation(request: web.Request) -> str:
    name = request.match_info.route.name
    return name if name in OPS else "other"


@web.middleware
async def log_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log every request but those to the control API, with the status it was answered with."""
    if request.path.startswith("/_emulator"):
        return await handler(request)
    op = operation(request)
    entry: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": dict(request.query),
        "status": None,
        "authorized": op not in ("token", "tenantToken") and TENANT_KEY in request,
        "tenant": _tenant_id(request, op),
        "hadAuthorization": "Authorization" in request.headers,
        "prefer": request.headers.get("Prefer"),
        "host": request.host,
        "op": op,
        "fault": None,
        "time": format_datetime(utc_now()),
    }
    request.app[LOG_KEY].entries.append(entry)
    request[ENTRY_KEY] = entry
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        entry["status"] = exc.status
        raise
    entry["status"] = response.status
    return response
