"""Health: Table Storage reachable and a Graph token obtainable; failures named, no configuration revealed.

Both checks run at once, each given HEALTH_CHECK_SECONDS: a dependency that accepts connections but never
answers is named as such instead of holding the answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass

from snapshot import clients
from snapshot.settings import SettingsError, get_settings, table_connection

log = logging.getLogger(__name__)

HEALTH_CHECK_SECONDS = 5


@dataclass
class HealthReport:
    checks: dict[str, str]

    @property
    def healthy(self) -> bool:
        return all(value == "ok" for value in self.checks.values())


async def _check(probe: Awaitable[None], failure: str) -> str:
    try:
        await asyncio.wait_for(probe, HEALTH_CHECK_SECONDS)
    except TimeoutError:
        return f"no answer within {HEALTH_CHECK_SECONDS} s"
    except Exception:
        return failure
    return "ok"


async def health() -> HealthReport:
    try:
        settings = get_settings()
        table_connection(settings)
    except SettingsError as exc:
        log.error("invalid app settings: %s", exc)
        names = ", ".join(exc.names) or "see the function log"
        return HealthReport({"configuration": f"invalid app settings: {names} (see the function log)"})
    storage, identity = await asyncio.gather(
        _check(clients.store(settings).ping(), "unreachable"),
        _check(clients.graph(settings).token_check(), "no token for Microsoft Graph"),
    )
    return HealthReport({"tableStorage": storage, "managedIdentity": identity})
