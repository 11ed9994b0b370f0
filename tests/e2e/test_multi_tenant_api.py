"""Many tenants over real HTTP: a local host in tenancy=multi (its own tables and its own Azurite queue
service), the emulator as Graph and as Entra over TLS, azure-identity's real credentials in the host.

A customer tenant is onboarded through the API (pending consent, then ready), its snapshot is started, polled
through the fan-out (timer → queue → that tenant's poll) and read under /api/tenants/{id}/..., never under the
home tenant's routes; its quota is its own; removing it keeps its history unless purged.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devtools import services
from devtools.emulator_client import EmulatorControl
from snapshot.openapi import document
from tests.e2e.test_openapi import Contract, base_url, follow
from tests.support import LOG_DIR, clear_tables, host_environment, run_function

CUSTOMER = "7e1a0000-0000-4000-8000-00000000f0a1"
TYPES = ["microsoft.entra.conditionalAccessPolicy"]
PREFIX = "Multitenant"


@pytest.fixture(scope="module")
def multi_host(azurite_service: services.Service, emulator_service: services.Service) -> Iterator[services.Service]:
    queues = services.azurite_queue(services.free_port(), log_path=LOG_DIR / "azurite-queue-multi.log").start()
    env = {**host_environment(azurite_service.port, emulator_service, PREFIX, queues.port)}
    env.update(services.multi_tenant_env())
    host = services.host(
        services.free_port(), env, log_path=LOG_DIR / "host-multi.log", extra_args=["--no-queue-polling"]
    )
    try:
        yield host.start(timeout=120)
    finally:
        host.stop()
        queues.stop()


@pytest.fixture
def multi_api(
    multi_host: services.Service, azurite_service: services.Service, emulator: EmulatorControl
) -> Iterator[httpx.Client]:
    clear_tables(azurite_service.port, PREFIX)
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    with httpx.Client(base_url=f"http://127.0.0.1:{multi_host.port}", timeout=60) as client:
        yield client


def test_a_customer_tenant_is_onboarded_snapshotted_and_kept_apart(
    multi_api: httpx.Client, emulator: EmulatorControl
) -> None:
    contract = Contract(document(base_url(multi_api)))
    emulator.add_tenant(CUSTOMER, "Contoso", consented=False)
    registered = contract.check(multi_api.post("/api/tenants", json={"tenantId": CUSTOMER, "displayName": "Contoso"}))
    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert body["status"] == "pendingConsent" and body["errorCodes"] == [700016]
    assert body["consentUrl"].endswith(
        f"/{CUSTOMER}/adminconsent?client_id={services.multi_tenant_env()['SNAPSHOT_APP_CLIENT_ID']}"
    )
    assert len(body["stepsOwed"]) == 3 and "adminconsent" in body["stepsOwed"][0]

    emulator.set_consent(CUSTOMER, True)
    ready = contract.check(multi_api.get(f"/api/tenants/{CUSTOMER}", params={"refresh": "true"})).json()
    assert (ready["status"], ready["stepsOwed"]) == ("ready", [])

    started = contract.check(
        multi_api.post(f"/api/tenants/{CUSTOMER}/snapshots", json={"displayName": "Customer", "resources": TYPES})
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    assert f"/api/tenants/{CUSTOMER}/snapshots/{job_id}" in started.headers["Location"]
    done = follow(multi_api, contract, started)  # each poll runs the timer and drains the tenants' queue
    assert done.status_code == 200 and done.json()["contentState"] == "stored", done.text

    assert [j["id"] for j in emulator.for_tenant(CUSTOMER).jobs()] == [job_id]
    assert emulator.jobs() == []  # the home tenant's Graph never saw it
    assert contract.check(multi_api.get(f"/api/snapshots/{job_id}")).status_code == 404
    assert contract.check(multi_api.get("/api/snapshots")).json()["value"] == []
    customer_quota = contract.check(multi_api.get(f"/api/tenants/{CUSTOMER}/quota")).json()
    home_quota = contract.check(multi_api.get("/api/quota")).json()
    assert customer_quota["used"] > 0 and home_quota["used"] == 0

    removed = contract.check(multi_api.delete(f"/api/tenants/{CUSTOMER}"))
    assert removed.status_code in (200, 204), removed.text
    assert contract.check(multi_api.get(f"/api/tenants/{CUSTOMER}/snapshots/{job_id}")).status_code == 404
    assert contract.check(multi_api.get(f"/api/tenants/{CUSTOMER}")).json()["status"] == "removed"
    back = contract.check(multi_api.post("/api/tenants", json={"tenantId": CUSTOMER, "displayName": "Contoso"}))
    assert back.json()["status"] == "ready"
    kept = contract.check(multi_api.get(f"/api/tenants/{CUSTOMER}/snapshots/{job_id}"))
    assert kept.status_code == 200  # its history was kept
    purged = contract.check(multi_api.delete(f"/api/tenants/{CUSTOMER}", params={"purge": "true"}))
    assert purged.status_code in (200, 204)
    assert contract.check(multi_api.get(f"/api/tenants/{CUSTOMER}")).status_code == 404


def test_each_tick_polls_every_ready_tenant_through_the_queue(
    multi_api: httpx.Client, emulator: EmulatorControl
) -> None:
    emulator.add_tenant(CUSTOMER, "Contoso")
    emulator.for_tenant(CUSTOMER).configure(jobStartSeconds=0, jobDurationSeconds=0)  # each tenant has its config
    assert multi_api.post("/api/tenants", json={"tenantId": CUSTOMER, "displayName": "Contoso"}).status_code == 201
    customer = multi_api.post(
        f"/api/tenants/{CUSTOMER}/snapshots", json={"displayName": "Customer tick", "resources": TYPES}
    )
    home = multi_api.post("/api/snapshots", json={"displayName": "Home tick", "resources": TYPES})
    assert customer.status_code == home.status_code == 202
    home_id = emulator.tenants()[0]["tenantId"]
    for _ in range(2):  # every tick, stored or not: one list per tenant
        emulator.clear_requests()
        run_function(multi_api, "poll_snapshots")
        lists = [
            r["tenant"]
            for r in emulator.requests()
            if r["method"] == "GET" and r["path"].endswith("configurationSnapshotJobs")
        ]
        assert sorted(lists) == sorted([CUSTOMER, home_id])  # one list per tenant per tick
    for url in (f"/api/tenants/{CUSTOMER}/snapshots/{customer.json()['id']}", f"/api/snapshots/{home.json()['id']}"):
        assert multi_api.get(url).json()["contentState"] == "stored"
