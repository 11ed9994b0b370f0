"""Session services for the tests: Azurite and the Graph emulator, on free ports, stopped by PID.

Nothing here is a fake: Table Storage is Azurite, Graph is devtools/emulator.py over real HTTP, and the
managed identity is azure-identity's ManagedIdentityCredential talking to the emulator's token endpoint.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from devtools import services
from snapshot import settings as settings_module

if TYPE_CHECKING:
    from devtools.emulator_client import EmulatorControl

LOG_DIR = services.ROOT / ".local" / "test-logs"

# Variables that would make azure-identity pick another credential or the app another config.
_LEAKY_ENV = (
    "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
    "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT", "SNAPSHOT_STORAGE",
)  # fmt: skip


@pytest.fixture(scope="session")
def azurite_service() -> Iterator[services.Service]:
    service = services.azurite(services.free_port(), log_path=LOG_DIR / "azurite.log").start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def emulator_service() -> Iterator[services.Service]:
    service = services.emulator(services.free_port(), log_path=LOG_DIR / "emulator.log").start()
    yield service
    service.stop()


@pytest.fixture
def emulator(emulator_service: services.Service) -> EmulatorControl:
    """The emulator's control client, reset to its defaults for this test."""
    from devtools.emulator_client import EmulatorControl

    control = EmulatorControl(f"http://127.0.0.1:{emulator_service.port}")
    control.reset()
    return control


def stack_environment(azurite_port: int, emulator_port: int, table_prefix: str) -> dict[str, str]:
    return {
        **services.emulator_env(emulator_port),
        "AzureWebJobsStorage": services.azurite_connection_string(azurite_port),
        "SNAPSHOT_TABLE_PREFIX": table_prefix,
        "SNAPSHOT_RETRY_AFTER_SECONDS": "1",
    }


@pytest.fixture
def stack_env(
    monkeypatch: pytest.MonkeyPatch,
    azurite_service: services.Service,
    emulator: EmulatorControl,
    emulator_service: services.Service,
) -> Iterator[dict[str, str]]:
    """Point the app at Azurite and the emulator, with tables of its own for this test."""
    for name in _LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)
    env = stack_environment(azurite_service.port, emulator_service.port, f"T{uuid.uuid4().hex[:12]}")
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
    from snapshot import graph, store

    yield stack_env
    await graph.reset_client()
    await store.reset_store()


E2E_TABLE_PREFIX = "Endtoend"


@pytest.fixture(scope="session")
def app_host(azurite_service: services.Service, emulator_service: services.Service) -> Iterator[services.Service]:
    """devtools/host.py serving function_app.app over real HTTP, against Azurite and the emulator."""
    env = stack_environment(azurite_service.port, emulator_service.port, E2E_TABLE_PREFIX)
    env["SNAPSHOT_POLL_SCHEDULE"] = "0 0 0 1 1 *"  # tests run the poller through the admin endpoint
    for name in _LEAKY_ENV:
        env[name] = ""
    service = services.host(services.free_port(), env, log_path=LOG_DIR / "host.log").start(timeout=120)
    yield service
    service.stop()


def clear_tables(azurite_port: int, prefix: str) -> None:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableServiceClient

    client = TableServiceClient.from_connection_string(services.azurite_connection_string(azurite_port))
    for suffix in ("Jobs", "Resources", "Idempotency"):
        table = client.get_table_client(prefix + suffix)
        try:
            keys = [(e["PartitionKey"], e["RowKey"]) for e in table.list_entities(select=["PartitionKey", "RowKey"])]
        except ResourceNotFoundError:
            continue
        for partition, row in keys:
            table.delete_entity(partition, row)


@pytest.fixture
def api(
    app_host: services.Service, azurite_service: services.Service, emulator: EmulatorControl
) -> Iterator[httpx.Client]:
    """An HTTP client on the local host, with the emulator reset and the app's tables emptied."""
    clear_tables(azurite_service.port, E2E_TABLE_PREFIX)
    with httpx.Client(base_url=f"http://127.0.0.1:{app_host.port}", timeout=60) as client:
        yield client


def run_function(api: httpx.Client, name: str) -> None:
    """Run a non-HTTP function now through the host's admin endpoint, and wait for it."""
    response = api.post(f"/admin/functions/{name}", params={"wait": "true"}, json={"input": ""})
    assert response.status_code == 200, response.text
