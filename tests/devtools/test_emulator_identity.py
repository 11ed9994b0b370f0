"""The emulator's token endpoint and Graph's bearer-token check (devtools/emulator/identity.py), through azure-identity.

The emulator runs as a subprocess (tests/conftest.py `emulator_service`); the `emulator` fixture resets it.
"""

from __future__ import annotations

import json
import time

import httpx

from devtools.emulator_client import EmulatorControl
from tests.devtools.emulator_graph import JOBS, Graph


async def test_the_token_is_issued_for_graph_and_never_logged(graph: Graph, emulator: EmulatorControl) -> None:
    await graph.page()
    token = await graph.token()
    requests = emulator.requests()
    token_requests = [r for r in requests if r["op"] == "token"]
    assert len(token_requests) == 1  # the credential caches it
    assert token_requests[0]["query"]["resource"] == "https://graph.microsoft.com"
    assert token_requests[0]["query"]["api-version"] == "2019-08-01"
    listed = next(r for r in requests if r["op"] == "list")
    assert listed["authorized"] is True and listed["hadAuthorization"] is True
    assert token not in json.dumps(requests)


async def test_the_token_endpoint_checks_the_identity_header(graph_env: dict[str, str]) -> None:
    endpoint = graph_env["IDENTITY_ENDPOINT"]
    params = {"api-version": "2019-08-01", "resource": "https://graph.microsoft.com", "client_id": "my-uami"}
    async with httpx.AsyncClient() as http:
        refused = await http.get(endpoint, params=params, headers={"X-IDENTITY-HEADER": "wrong"})
        missing = await http.get(endpoint, params=params)
        issued = await http.get(endpoint, params=params, headers={"X-IDENTITY-HEADER": graph_env["IDENTITY_HEADER"]})
    assert refused.status_code == missing.status_code == 401
    assert "access_token" not in refused.json()
    body = issued.json()
    assert issued.status_code == 200
    assert body["resource"] == "https://graph.microsoft.com" and body["token_type"] == "Bearer"
    assert body["client_id"] == "my-uami"
    assert int(body["expires_on"]) > time.time() + 3600 and isinstance(body["expires_on"], str)


async def test_graph_refuses_requests_without_a_graph_token(
    graph_env: dict[str, str], emulator: EmulatorControl
) -> None:
    endpoint, header = graph_env["IDENTITY_ENDPOINT"], {"X-IDENTITY-HEADER": graph_env["IDENTITY_HEADER"]}
    async with httpx.AsyncClient() as http:
        foreign = await http.get(
            endpoint, params={"api-version": "2019-08-01", "resource": "https://management.azure.com"}, headers=header
        )
        url = emulator.graph_base_url + JOBS
        answers = [
            await http.get(url),
            await http.get(url, headers={"Authorization": f"Bearer {foreign.json()['access_token']}"}),
            await http.get(url, headers={"Authorization": "Bearer made-up-token"}),
            await http.get(url, headers={"Authorization": "Basic dXNlcjpwYXNz"}),
        ]
    for answer in answers:
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert error["code"] == "InvalidAuthenticationToken"
        assert set(error["innerError"]) >= {"request-id", "date"}
    listed = [r for r in emulator.requests() if r["op"] == "list"]
    assert [r["authorized"] for r in listed] == [False] * 4
    assert [r["hadAuthorization"] for r in listed] == [False, True, True, True]


async def test_tokens_survive_a_reset(graph: Graph, emulator: EmulatorControl) -> None:
    await graph.page()
    emulator.reset()
    await graph.page()  # the cached token still works
    assert emulator.counts()["token"] == 0
