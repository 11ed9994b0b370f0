"""The emulator's aiohttp application: its parts, its middlewares and its router."""

from __future__ import annotations

from aiohttp import web

from devtools.emulator import control, graph, monitors
from devtools.emulator.entra import resolve_tenant, tenant_token
from devtools.emulator.faults import FAULTS_KEY, Faults, inject_faults, swallow_dropped
from devtools.emulator.identity import DEFAULT_IDENTITY_HEADER, IDENTITY_KEY, Identity, token_endpoint
from devtools.emulator.monitor_state import MonitorState
from devtools.emulator.requestlog import LOG_KEY, RequestLog, log_requests
from devtools.emulator.state import EmulatorState
from devtools.emulator.tenants import TENANTS_KEY, Tenants, TenantSpec


def create_app(
    identity_header: str = DEFAULT_IDENTITY_HEADER, tenants: list[TenantSpec] | None = None
) -> web.Application:
    middlewares = [swallow_dropped, resolve_tenant, log_requests, inject_faults]
    app = web.Application(middlewares=middlewares, client_max_size=64 * 1024 * 1024)
    app[TENANTS_KEY] = Tenants(EmulatorState(), MonitorState(), tenants or [])
    app[IDENTITY_KEY] = Identity(identity_header)
    app[FAULTS_KEY] = Faults()
    app[LOG_KEY] = RequestLog()
    app.router.add_get("/msi/token", token_endpoint, name="token")
    app.router.add_post("/{tenant}/oauth2/v2.0/token", tenant_token, name="tenantToken")
    app.router.add_routes(monitors.routes)  # before graph's catch-all for unknown Graph paths
    app.router.add_routes(graph.routes)
    app.router.add_routes(control.routes)
    # The catch-alls come last: aiohttp tries routes sharing a path prefix in the order they were added.
    app.router.add_route("*", control.PREFIX + "/{tail:.*}", control.unknown_route)
    app.router.add_route("*", "/{tail:.*}", graph.not_graph)
    return app
