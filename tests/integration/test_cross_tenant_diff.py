"""A snapshot of one tenant diffed against another tenant's (issue: the fleet at a glance), on Azurite and the
emulator: values that only name their tenant (its id, its accepted domains, its own objects' ids) are normalised
on both sides, and a real difference is still reported; the HTML report says which rules applied.

The emulator's generated resources name contoso.onmicrosoft.com in every tenant; neither tenant here owns that
domain, so those values stay as they are on both sides (and compare equal), as a foreign domain should."""

from __future__ import annotations

import json
from typing import Any

from devtools.emulator_client import EmulatorControl
from snapshot import errors, http_api, tenancy
from snapshot.onboarding import TenantStatus
from snapshot.tenancy import Tenant
from snapshot.usecases import compare
from tests.support.fanout import onboard
from tests.support.fleet import FABRIKAM, NORTHWIND, POLICY_TYPE, TYPES, tenant_config
from tests.support.inprocess import request, start_job, tick_until_stored


async def snapshot_of(tenant_id: str) -> str:
    with tenancy.scoped(Tenant(tenant_id, home=False)):
        job_id = await start_job(f"fleet {tenant_id[-2:]}", TYPES)
        await tick_until_stored()
    return job_id


async def two_tenants(emulator: EmulatorControl, fabrikam_state: str) -> tuple[str, str]:
    for tenant_id, name in ((NORTHWIND, "Northwind"), (FABRIKAM, "Fabrikam")):
        emulator.add_tenant(tenant_id, name)
        assert await onboard(tenant_id, name) == TenantStatus.READY
    tenant_config(emulator, NORTHWIND, "Northwind", "enabled")
    tenant_config(emulator, FABRIKAM, "Fabrikam", fabrikam_state)
    return await snapshot_of(NORTHWIND), await snapshot_of(FABRIKAM)


def rule(result: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in result["normalised"] if r["rule"] == name)
    return found


async def test_tenant_specific_values_are_normalised_and_a_real_difference_is_still_reported(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    northwind_job, fabrikam_job = await two_tenants(emulator, fabrikam_state="disabled")
    with tenancy.scoped(Tenant(NORTHWIND, home=False)):
        result = await compare.diff_jobs(northwind_job, f"{FABRIKAM}:latest", None)
    assert result["against"] == f"{FABRIKAM}:{fabrikam_job}"
    assert result["summary"]["added"] == result["summary"]["removed"] == 0
    changed = {(c["resourceType"], c["displayName"]): [p["path"] for p in c["changes"]] for c in result["changed"]}
    assert changed == {(POLICY_TYPE.lower(), "AADConditionalAccessPolicy-Block legacy"): ["State"]}
    assert result["summary"]["unchanged"] > 4  # the domains and the group, named differently, compare equal
    assert rule(result, "tenantId")["against"] == {"knows": [FABRIKAM], "replaced": 1}
    assert rule(result, "initialDomain")["snapshot"]["knows"] == ["northwind.onmicrosoft.com"]
    assert rule(result, "domain")["against"]["knows"] == ["fabrikam.com"]
    for name in ("initialDomain", "initialMailDomain", "domain", "objectId"):
        assert rule(result, name)["against"]["replaced"] > 0 and rule(result, name)["snapshot"]["replaced"] > 0
    assert rule(result, "initialMailDomain")["snapshot"]["knows"] == ["northwind.mail.onmicrosoft.com"]


async def test_the_same_tenants_compare_equal_once_normalised_and_the_report_lists_the_rules(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    northwind_job, fabrikam_job = await two_tenants(emulator, fabrikam_state="enabled")
    with tenancy.scoped(Tenant(NORTHWIND, home=False)):
        result = await compare.diff_jobs(northwind_job, f"{FABRIKAM}:{fabrikam_job}", None)
    assert result["changed"] == [] and result["summary"]["changed"] == 0
    req = request("GET", "snapshots/{id}/report", {"id": northwind_job}, params={"against": f"{FABRIKAM}:latest"})
    with tenancy.scoped(Tenant(NORTHWIND, home=False)):  # what the tenant route's wrapper does (http_support.in_tenant)
        response = await http_api.get_change_report(req)
    page = response.get_body().decode()
    assert response.status_code == 200 and response.headers["X-Diff-Against"] == f"{FABRIKAM}:{fabrikam_job}"
    assert "Normalised before comparing" in page and "fabrikam.onmicrosoft.com" in page and "initialDomain" in page


async def test_against_another_tenant_names_the_field_when_it_is_not_a_tenant_and_404s_when_unknown(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    northwind_job, _ = await two_tenants(emulator, fabrikam_state="enabled")
    with tenancy.scoped(Tenant(NORTHWIND, home=False)):
        for against, status in (("nope:latest", 400), (f"{FABRIKAM}:", 400),
                                ("7e1a0000-0000-4000-8000-0000000000ff:latest", 404)):  # fmt: skip
            req = request("GET", "snapshots/{id}/diff", {"id": northwind_job}, params={"against": against})
            response = await http_api.diff_snapshots(req)
            problem = json.loads(response.get_body())
            assert response.status_code == status, problem
            if status == 400:
                assert problem["errors"][0]["field"] == "against"
    assert errors.TenantNotRegistered.status == 404
