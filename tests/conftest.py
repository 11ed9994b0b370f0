"""Session services for the tests: Azurite and the Graph emulator, on free ports, stopped by PID.

Nothing here is a fake: Table Storage is Azurite, Graph is devtools/emulator/ over real HTTP, and the
managed identity is azure-identity's ManagedIdentityCredential talking to the emulator's token endpoint.
"""

from __future__ import annotations

import os
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from devtools import services
from snapshot import settings as settings_module
from tests.support import E2E_TABLE_PREFIX, LOG_DIR, clear_tables, host_environment, stack_environment
from tests.support.receiver import Serve, make_certificate, receivers

if TYPE_CHECKING:
    from devtools.emulator_client import EmulatorControl


@pytest.fixture(scope="session")
def azurite_service() -> Iterator[services.Service]:
    service = services.azurite(services.free_port(), log_path=LOG_DIR / "azurite.log").start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def azurite_queue_service() -> Iterator[services.Service]:
    service = services.azurite_queue(services.free_port(), log_path=LOG_DIR / "azurite-queue.log").start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def emulator_service() -> Iterator[services.Service]:
    service = services.emulator(
        services.free_port(), log_path=LOG_DIR / "emulator.log", https_port=services.free_port()
    ).start()
    yield service
    service.stop()


@pytest.fixture
def emulator(emulator_service: services.Service) -> EmulatorControl:
    """The emulator's control client, reset to its defaults for this test."""
    from devtools.emulator_client import EmulatorControl

    control = EmulatorControl(f"http://127.0.0.1:{emulator_service.port}")
    control.reset()
    return control


@pytest.fixture
def stack_env(
    monkeypatch: pytest.MonkeyPatch,
    azurite_service: services.Service,
    azurite_queue_service: services.Service,
    emulator: EmulatorControl,
    emulator_service: services.Service,
) -> Iterator[dict[str, str]]:
    """Point the app at Azurite and the emulator, with tables of its own for this test."""
    for name in services.LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)
    prefix = f"T{uuid.uuid4().hex[:12]}"
    env = stack_environment(azurite_service.port, emulator_service, prefix, azurite_queue_service.port)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings_module.get_settings.cache_clear()
    yield env
    settings_module.get_settings.cache_clear()


def pytest_configure(config: pytest.Config) -> None:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")


@pytest.fixture
async def app_env(stack_env: dict[str, str]) -> AsyncIterator[dict[str, str]]:
    """stack_env for in-process tests of the app; closes the app's Graph client and Table store afterwards."""
    from snapshot import clients

    yield stack_env
    await clients.close_all()


@pytest.fixture(scope="session")
def app_host(
    azurite_service: services.Service, azurite_queue_service: services.Service, emulator_service: services.Service
) -> Iterator[services.Service]:
    """devtools.host serving function_app.app over real HTTP, against Azurite and the emulator."""
    env = host_environment(azurite_service.port, emulator_service, E2E_TABLE_PREFIX, azurite_queue_service.port)
    # The tests run the queues with the drain endpoint (tests/support run_function); no listener competes.
    extra = ["--no-queue-polling"]
    service = services.host(services.free_port(), env, log_path=LOG_DIR / "host.log", extra_args=extra).start(
        timeout=120
    )
    yield service
    service.stop()


@pytest.fixture
def api(
    app_host: services.Service, azurite_service: services.Service, emulator: EmulatorControl
) -> Iterator[httpx.Client]:
    """An HTTP client on the local host, with the emulator reset and the app's tables emptied."""
    clear_tables(azurite_service.port, E2E_TABLE_PREFIX)
    with httpx.Client(base_url=f"http://127.0.0.1:{app_host.port}", timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for DNS:localhost (key, cert)."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def trust(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[1]))


@pytest.fixture
async def serve(certificate: tuple[Path, Path]) -> AsyncIterator[Serve]:
    """Start local HTTPS receivers (tests/support/receiver.py) for the test; stopped afterwards."""
    async with receivers(certificate) as start:
        yield start
