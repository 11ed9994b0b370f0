"""The emulator as Entra for many tenants, over real HTTP(S): its per-tenant token endpoint checks the client
assertion against the app registration's federated credential and answers Entra's documented errors, and a
Graph request is answered from its token's tenant only (a token altered to name another tenant is refused)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from devtools import services
from devtools.emulator.entra import ASSERTION_TYPE
from devtools.emulator.identity import APP_CLIENT_ID
from devtools.emulator_client import EmulatorControl

CONTOSO = "7e1a0000-0000-4000-8000-00000000e0a1"
FABRIKAM = "7e1a0000-0000-4000-8000-00000000e0a2"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
JOBS = "/v1.0/admin/configurationManagement/configurationSnapshotJobs"


@pytest.fixture
def entra(emulator_service: services.Service, emulator: EmulatorControl) -> Iterator[httpx.Client]:
    """A client of the emulator's TLS port, trusting the certificate authority it made at start-up."""
    assert emulator_service.https_port is not None
    ca = services.emulator_ca_file(emulator_service.https_port)
    with httpx.Client(base_url=f"https://127.0.0.1:{emulator_service.https_port}", verify=str(ca)) as client:
        yield client


def exchange_token(emulator: EmulatorControl, audience: str = "api://AzureADTokenExchange") -> str:
    answer = httpx.get(
        emulator.token_endpoint,
        params={"api-version": "2019-08-01", "resource": audience},
        headers={"X-IDENTITY-HEADER": services.IDENTITY_HEADER},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def token_request(entra: httpx.Client, tenant: str, assertion: str | None, **form: str) -> httpx.Response:
    body = {"grant_type": "client_credentials", "client_id": APP_CLIENT_ID, "scope": GRAPH_SCOPE, **form}
    if assertion is not None:
        body.update(client_assertion_type=ASSERTION_TYPE, client_assertion=assertion)
    return entra.post(f"/{tenant}/oauth2/v2.0/token", data=body)


def refusal(answer: httpx.Response, status: int, code: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error_codes"] == [code] and body["error_description"].startswith(f"AADSTS{code}:")
    assert "access_token" not in body
    return str(body["error_description"])


def graph_jobs(emulator: EmulatorControl, token: str) -> httpx.Response:
    return httpx.get(f"{emulator.base_url}{JOBS}", headers={"Authorization": f"Bearer {token}"})


def test_a_tenants_token_reads_that_tenants_jobs_only(emulator: EmulatorControl, entra: httpx.Client) -> None:
    for tenant_id in (CONTOSO, FABRIKAM):
        emulator.add_tenant(tenant_id, tenant_id[-4:])
        emulator.for_tenant(tenant_id).create_job(
            displayName=f"in {tenant_id[-4:]}", resources=["microsoft.entra.user"]
        )
    emulator.create_job(displayName="in home", resources=["microsoft.entra.user"])
    answer = token_request(entra, CONTOSO, exchange_token(emulator))
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    listed = graph_jobs(emulator, token)
    assert listed.status_code == 200
    assert [job["displayName"] for job in listed.json()["value"]] == [f"in {CONTOSO[-4:]}"]

    # The same token with its tenant claim changed to another tenant's: the signature no longer holds.
    head, claims, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    forged["tid"] = FABRIKAM
    altered = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    assert graph_jobs(emulator, f"{head}.{altered}.{signature}").status_code == 401
    entries = [r for r in emulator.requests() if r["path"] == JOBS]
    assert [r["tenant"] for r in entries] == [CONTOSO, None]


def test_an_unconsented_tenant_gets_entras_consent_error_until_its_admin_consents(
    emulator: EmulatorControl, entra: httpx.Client
) -> None:
    emulator.add_tenant(CONTOSO, "Contoso", consented=False)
    text = refusal(token_request(entra, CONTOSO, exchange_token(emulator)), 400, 700016)
    assert "not been installed by the administrator of the tenant" in text
    emulator.set_consent(CONTOSO, True)
    granted = token_request(entra, CONTOSO, exchange_token(emulator))
    assert granted.status_code == 200
    emulator.set_consent(CONTOSO, False)  # consent revoked: a token issued before names no tenant any more
    assert graph_jobs(emulator, granted.json()["access_token"]).status_code == 401


def test_the_assertion_must_match_the_federated_credential(emulator: EmulatorControl, entra: httpx.Client) -> None:
    emulator.add_tenant(CONTOSO, "Contoso")
    # A managed-identity token for Graph instead of the token-exchange audience
    refusal(token_request(entra, CONTOSO, exchange_token(emulator, "https://graph.microsoft.com")), 401, 70021)
    emulator.set_federated_credential(subject="00000000-0000-0000-0000-0000000000ff")
    text = refusal(token_request(entra, CONTOSO, exchange_token(emulator)), 401, 70021)
    assert "No matching federated identity record" in text
    emulator.reset()
    emulator.add_tenant(CONTOSO, "Contoso")
    refusal(token_request(entra, CONTOSO, "not-a-token"), 400, 50027)
    refusal(token_request(entra, CONTOSO, None), 401, 7000216)
    refusal(token_request(entra, CONTOSO, exchange_token(emulator), scope="User.Read"), 400, 70011)
    refusal(token_request(entra, FABRIKAM, exchange_token(emulator)), 400, 90002)
    assert token_request(entra, CONTOSO, exchange_token(emulator)).status_code == 200
