"""The tenants the emulator holds: the home tenant (the managed identity's) and customer tenants, each with its own
jobs, contents, quota, monitors and config; whether each has consented to the multi-tenant app registration.

A Graph request is answered from the state of the tenant its token was issued for (the token's `tid`), so a
token of one tenant can only ever read or change that tenant. A control request names its tenant with
`?tenant=<id>` (the home tenant when it does not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aiohttp import web

from devtools.emulator.monitor_state import MonitorState
from devtools.emulator.state import DEFAULT_TENANT_ID, ControlError, EmulatorState

GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@dataclass
class EmulatedTenant:
    id: str
    display_name: str
    consented: bool = True  # the app registration has a service principal here (admin consent granted)
    state: EmulatorState = field(default_factory=EmulatorState)
    monitors: MonitorState = field(default_factory=MonitorState)

    def to_json(self) -> dict[str, object]:
        return {"tenantId": self.id, "displayName": self.display_name, "consented": self.consented,
                "home": self.id == DEFAULT_TENANT_ID, "jobs": len(self.state.jobs)}  # fmt: skip


@dataclass(frozen=True)
class TenantSpec:
    """A tenant to hold from start-up (and again after a reset): `id[:displayName][:unconsented]`."""

    id: str
    display_name: str
    consented: bool = True

    @classmethod
    def parse(cls, text: str) -> TenantSpec:
        tenant_id, _, rest = text.partition(":")
        name, _, flag = rest.partition(":")
        if not GUID.match(tenant_id) or flag not in ("", "unconsented"):
            raise ValueError(f"{text!r}: a tenant is GUID[:displayName][:unconsented]")
        return cls(tenant_id.lower(), name or f"Tenant {tenant_id[:8]}", flag != "unconsented")


class Tenants:
    """The registry; the home tenant is always there and always consented."""

    def __init__(self, home_state: EmulatorState, home_monitors: MonitorState, startup: list[TenantSpec]) -> None:
        self.home = EmulatedTenant(DEFAULT_TENANT_ID, "Home tenant", True, home_state, home_monitors)
        self.startup = [spec for spec in startup if spec.id != self.home.id]
        self.by_id: dict[str, EmulatedTenant] = {}
        self.reset()

    def reset(self) -> None:
        self.home.state.reset()
        self.home.monitors.reset()
        self.by_id = {self.home.id: self.home}
        for spec in self.startup:
            self.add(spec.id, spec.display_name, spec.consented)

    def add(self, tenant_id: str, display_name: str, consented: bool) -> EmulatedTenant:
        if not GUID.match(tenant_id):
            raise ControlError("tenantId must be a GUID")
        if tenant_id.lower() in self.by_id:
            raise ControlError(f"tenant {tenant_id} exists")
        tenant_id = tenant_id.lower()
        tenant = EmulatedTenant(tenant_id, display_name, consented, EmulatorState(tenant_id))
        self.by_id[tenant.id] = tenant
        return tenant

    def get(self, tenant_id: str) -> EmulatedTenant | None:
        return self.by_id.get(tenant_id.lower())

    def named(self, tenant_id: str | None) -> EmulatedTenant:
        """The tenant a control request names (the home tenant when none); ControlError if there is none."""
        if not tenant_id:
            return self.home
        tenant = self.get(tenant_id)
        if tenant is None:
            raise ControlError(f"no tenant {tenant_id}")
        return tenant


TENANTS_KEY = web.AppKey("tenants", Tenants)
TENANT_KEY = web.RequestKey("tenant", EmulatedTenant)  # the tenant of this request's token


def tenant_of(request: web.Request) -> EmulatedTenant:
    """The tenant this request is answered from: its token's; a control request's `?tenant=`; else the home one."""
    tenant = request.get(TENANT_KEY)
    if tenant is not None:
        return tenant
    tenants = request.app[TENANTS_KEY]
    return tenants.named(request.query.get("tenant")) if request.path.startswith("/_emulator") else tenants.home
