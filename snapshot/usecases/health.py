"""Health: Table Storage reachable and a Graph token obtainable; failures named, no configuration revealed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from snapshot import clients
from snapshot.settings import SettingsError, get_settings, table_connection

log = logging.getLogger(__name__)


@dataclass
class HealthReport:
    checks: dict[str, str]

    @property
    def healthy(self) -> bool:
        return all(value == "ok" for value in self.checks.values())


async def health() -> HealthReport:
    checks: dict[str, str] = {}
    try:
        settings = get_settings()
        table_connection(settings)
    except SettingsError as exc:
        log.error("invalid app settings: %s", exc)
        names = ", ".join(exc.names) or "see the function log"
        return HealthReport({"configuration": f"invalid app settings: {names} (see the function log)"})
    try:
        await clients.store(settings).ping()
        checks["tableStorage"] = "ok"
    except Exception:
        checks["tableStorage"] = "unreachable"
    try:
        await clients.graph(settings).token_check()
        checks["managedIdentity"] = "ok"
    except Exception:
        checks["managedIdentity"] = "no token for Microsoft Graph"
    return HealthReport(checks)
