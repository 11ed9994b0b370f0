"""Fixtures and helpers of the in-process tests on many tenants (tenancy=multi on the session's emulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devtools import services
from devtools.emulator_client import EmulatorControl
from snapshot import clients
from tests.support import use_setting


@pytest.fixture
async def multi_env(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, emulator: EmulatorControl
) -> AsyncIterator[dict[str, str]]:
    """app_env in tenancy=multi, with the emulator's app registration and its Entra authority over TLS."""
    assert "SNAPSHOT_AUTHORITY_HOST" in app_env, "the session emulator serves its Entra authority over TLS"
    for name, value in services.multi_tenant_env().items():
        use_setting(monkeypatch, name, value)
    await clients.close_all()
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    yield app_env
