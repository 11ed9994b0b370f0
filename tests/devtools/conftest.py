"""Fixtures for the emulator tests: the app's Graph settings and its SDK stack, pointed at the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from azure.identity.aio import ManagedIdentityCredential
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient

from devtools import services
from devtools.emulator_client import EmulatorControl
from tests.devtools.emulator_graph import GRAPH_SCOPE, Graph


@pytest.fixture
def graph_env(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorControl, emulator_service: services.Service
) -> dict[str, str]:
    """What stack_env sets for Graph and the identity, without needing Azurite."""
    for name in services.LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)
    env = services.emulator_env(emulator_service.port)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
async def graph(graph_env: dict[str, str], emulator: EmulatorControl) -> AsyncIterator[Graph]:
    credential = ManagedIdentityCredential()  # after the environment is set: it is read at construction
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1"])
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = emulator.graph_base_url
    yield Graph(GraphServiceClient(request_adapter=adapter), adapter, credential, emulator)
    await credential.close()
