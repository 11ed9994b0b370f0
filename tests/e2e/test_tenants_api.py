"""The tenant routes over real HTTP (local host, Azurite, emulator), in the default single-tenant mode: the home
tenant is the first tenant and every tenant route works under /tenants/{tenantId} for it, another tenant
cannot be registered without tenancy=multi, and bad input gets problem+json naming the field."""

from __future__ import annotations

import httpx

from devtools.emulator_client import EmulatorControl
from snapshot.openapi import document
from tests.e2e.test_openapi import Contract, base_url, follow

CUSTOMER = "7e1a0000-0000-4000-8000-0000000000c1"
TYPES = ["microsoft.entra.conditionalAccessPolicy"]


def test_the_home_tenant_is_listed_first_and_ready(api: httpx.Client) -> None:
    contract = Contract(document(base_url(api)))
    listed = contract.check(api.get("/api/tenants")).json()["value"]
    assert [(t["tenantId"], t["home"], t["status"]) for t in listed] == [("home", True, "ready")]
    home = contract.check(api.get("/api/tenants/home")).json()
    assert home["stepsOwed"] == [] and home["consentUrl"] is None


def test_a_customer_tenant_needs_multi_tenant_mode(api: httpx.Client) -> None:
    contract = Contract(document(base_url(api)))
    refused = contract.check(api.post("/api/tenants", json={"tenantId": CUSTOMER, "displayName": "Contoso"}))
    assert refused.status_code == 409 and "tenancy=multi" in refused.json()["detail"]
    unknown = contract.check(api.get(f"/api/tenants/{CUSTOMER}"))
    assert unknown.status_code == 404
    assert contract.check(api.get(f"/api/tenants/{CUSTOMER}/snapshots")).status_code == 404
    assert contract.check(api.delete(f"/api/tenants/{CUSTOMER}")).status_code == 404
    registered = {op for op, _ in contract.seen}
    assert {"register_tenant", "get_tenant", "tenant_list_snapshots", "delete_tenant"} <= registered


def test_bad_tenant_input_names_the_field(api: httpx.Client) -> None:
    contract = Contract(document(base_url(api)))
    bad = contract.check(api.post("/api/tenants", json={"tenantId": "contoso", "displayName": ""}))
    assert bad.status_code == 400
    assert {e["field"] for e in bad.json()["errors"]} == {"tenantId", "displayName"}
    home_delete = contract.check(api.delete("/api/tenants/home"))
    assert home_delete.status_code == 400 and home_delete.json()["errors"][0]["field"] == "tenantId"
    assert contract.check(api.get("/api/tenants/home", params={"refresh": "maybe"})).status_code == 400


def test_a_snapshot_started_in_the_home_scope_is_the_home_tenants(api: httpx.Client, emulator: EmulatorControl) -> None:
    """The scoped and unscoped routes are one tenant's: a job started under /tenants/home is listed unscoped,
    and its status URL stays in the scope it was started in."""
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=1)
    contract = Contract(document(base_url(api)))
    started = contract.check(
        api.post("/api/tenants/home/snapshots", json={"displayName": "Scoped snapshot", "resources": TYPES})
    )
    assert started.status_code == 202, started.text
    assert "/api/tenants/home/snapshots/" in started.headers["Location"]
    done = follow(api, contract, started)
    assert done.status_code == 200, done.text
    unscoped = contract.check(api.get("/api/snapshots")).json()["value"]
    assert [job["id"] for job in unscoped] == [started.json()["id"]]
