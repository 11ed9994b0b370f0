"""Many tenants, in-process, on Azurite and the emulator over real HTTP: azure-identity's real
ManagedIdentityCredential and ClientAssertionCredential fetch from the emulator (its managed-identity endpoint,
then its per-tenant Entra token endpoint over TLS), so nothing about the tokens is mocked.

Onboarding goes through each status from what Entra and Graph answered; each tenant's Graph calls carry that
tenant's token only; and one tenant throttled on a tick does not hold back the others stored on it.
"""

from __future__ import annotations

from devtools.emulator.identity import APP_CLIENT_ID
from devtools.emulator_client import EmulatorControl
from snapshot import clients, tenancy
from snapshot.models import parse_body
from snapshot.monitoring import MonitorRequest
from snapshot.onboarding import RegisterTenantRequest, TenantStatus, consent_url
from snapshot.queues import POLL_QUEUE
from snapshot.settings import get_settings
from snapshot.tenancy import Tenant
from snapshot.usecases import fanout, monitors, quota, tenants
from tests.support.fanout import onboard, run_queued
from tests.support.inprocess import start_job, tick_until_stored

CONTOSO = "7e1a0000-0000-4000-8000-00000000c0a1"
FABRIKAM = "7e1a0000-0000-4000-8000-00000000c0a2"
JOBS_PATH = "configurationSnapshotJobs"


async def test_onboarding_goes_through_each_status_from_what_was_observed(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.add_tenant(CONTOSO, "Contoso", consented=False)
    record, created = await tenants.register(RegisterTenantRequest(tenantId=CONTOSO, displayName="Contoso"))
    assert created and record.status == TenantStatus.PENDING_CONSENT
    assert record.error_codes == [700016] and record.detail and "AADSTS700016" in record.detail
    url = consent_url(get_settings(), CONTOSO)
    assert url == f"{multi_env['SNAPSHOT_AUTHORITY_HOST']}/{CONTOSO}/adminconsent?client_id={APP_CLIENT_ID}"

    emulator.set_consent(CONTOSO, True)  # the customer's admin consented; the UTCM permissions still missing
    emulator.for_tenant(CONTOSO).configure(permission="None")
    record = await tenants.get(CONTOSO, refresh=True)
    assert record.status == TenantStatus.MISSING_PERMISSIONS and record.detail

    emulator.for_tenant(CONTOSO).configure(permission="ReadWrite")
    assert (await tenants.get(CONTOSO, refresh=True)).status == TenantStatus.READY

    # The app registration no longer trusts this managed identity: Entra's text is kept, the tenant unreachable.
    emulator.set_federated_credential(subject="00000000-0000-0000-0000-0000000000ff")
    await clients.close_all()  # a new process: no token cached
    record = await tenants.get(CONTOSO, refresh=True)
    assert record.status == TenantStatus.UNREACHABLE and record.error_codes == [70021]
    assert record.detail and "No matching federated identity record" in record.detail


async def test_a_tenant_unknown_to_entra_is_unreachable(multi_env: dict[str, str]) -> None:
    assert await onboard(FABRIKAM, "Fabrikam") == TenantStatus.UNREACHABLE
    record = await tenants.get(FABRIKAM)
    assert record.error_codes == [90002]


async def test_each_tenants_graph_calls_carry_that_tenants_token_only(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    for tenant_id, name in ((CONTOSO, "Contoso"), (FABRIKAM, "Fabrikam")):
        emulator.add_tenant(tenant_id, name)
        assert await onboard(tenant_id, name) == TenantStatus.READY
    emulator.clear_requests()
    started: dict[str, str] = {}
    for number, tenant_id in enumerate((CONTOSO, FABRIKAM, CONTOSO, FABRIKAM)):
        with tenancy.scoped(Tenant(tenant_id, home=False)):
            started[await start_job(f"job {number} of {tenant_id[-4:]}")] = tenant_id
    with tenancy.scoped(tenancy.home_tenant(get_settings())):
        started[await start_job("job of home")] = "home"

    for tenant_id in (CONTOSO, FABRIKAM):
        held = {job["id"] for job in emulator.for_tenant(tenant_id).jobs()}
        assert held == {job for job, owner in started.items() if owner == tenant_id}
    assert {job["id"] for job in emulator.jobs()} == {job for job, owner in started.items() if owner == "home"}

    graph_calls = [r for r in emulator.requests() if "/v1.0/" in r["path"]]
    assert graph_calls and all(r["authorized"] for r in graph_calls)
    creates = [r for r in graph_calls if r["method"] == "POST"]
    assert sorted(r["tenant"] for r in creates) == sorted(
        [CONTOSO, CONTOSO, FABRIKAM, FABRIKAM, emulator.tenants()[0]["tenantId"]]
    )
    # one token request per tenant for both jobs: each tenant's credential caches its own token
    token_requests = [r["path"] for r in emulator.requests() if r["path"].endswith("/oauth2/v2.0/token")]
    assert token_requests == []  # onboarding fetched them; nothing was fetched again


async def test_a_throttled_tenant_does_not_hold_back_the_others_on_the_same_tick(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    await (await clients.queues().client(POLL_QUEUE, create=True)).clear_messages()
    jobs: dict[str, str] = {}
    for tenant_id, name in ((CONTOSO, "Contoso"), (FABRIKAM, "Fabrikam")):
        emulator.add_tenant(tenant_id, name)
        emulator.for_tenant(tenant_id).configure(jobStartSeconds=0, jobDurationSeconds=0)  # its own config
        assert await onboard(tenant_id, name) == TenantStatus.READY
        with tenancy.scoped(Tenant(tenant_id, home=False)):
            jobs[tenant_id] = await start_job(f"tick of {name}")
    emulator.for_tenant(CONTOSO).add_fault(method="GET", path=JOBS_PATH, status=429, retryAfter=1, times=100)

    tick = await fanout.enqueue("poll")
    assert sorted(tick.queued) == sorted([CONTOSO, FABRIKAM, tenancy.home_tenant(get_settings()).id])
    assert await run_queued() == {"poll": 3, "content": 1}  # Fabrikam's content, by its own message

    def stored(tenant_id: str) -> bool:
        return any(j["id"] == jobs[tenant_id] for j in emulator.for_tenant(tenant_id).jobs())

    assert stored(FABRIKAM) and stored(CONTOSO)
    with tenancy.scoped(Tenant(FABRIKAM, home=False)):
        fabrikam = await clients.store().jobs.get(jobs[FABRIKAM])
    with tenancy.scoped(Tenant(CONTOSO, home=False)):
        contoso = await clients.store().jobs.get(jobs[CONTOSO])
    assert fabrikam is not None and fabrikam.content_state.value == "stored"
    assert contoso is not None and contoso.content_state.value != "stored"
    throttled = await tenants.get(CONTOSO)
    assert throttled.status == TenantStatus.READY and throttled.last_error and "throttled" in throttled.last_error

    emulator.clear_faults()
    await fanout.enqueue("poll")
    await run_queued()
    with tenancy.scoped(Tenant(CONTOSO, home=False)):
        contoso = await clients.store().jobs.get(jobs[CONTOSO])
    assert contoso is not None and contoso.content_state.value == "stored"
    assert (await tenants.get(CONTOSO)).last_error is None


async def test_monitors_and_budgets_are_counted_per_tenant(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    """A monitor made in one tenant is that tenant's only: Graph's 30-monitor and 800-a-day budgets are counted
    from each tenant's own monitor list, and the monthly quota from each tenant's own ledger."""

    emulator.add_tenant(CONTOSO, "Contoso")
    emulator.for_tenant(CONTOSO).configure(jobStartSeconds=0, jobDurationSeconds=0)
    assert await onboard(CONTOSO, "Contoso") == TenantStatus.READY
    contoso = Tenant(CONTOSO, home=False)
    with tenancy.scoped(contoso):
        job_id = await start_job("Contoso baseline")
        await tick_until_stored()
        body = {"displayName": "Contoso users", "resourceTypes": ["microsoft.entra.user"]}
        await monitors.create_monitor(job_id, parse_body(MonitorRequest, body, get_settings().callback_hosts))
        contoso_budget = await monitors.budget()
        contoso_quota = await quota.quota_status()
    home_budget = await monitors.budget()
    home_quota = await quota.quota_status()
    assert (contoso_budget["monitorCount"], home_budget["monitorCount"]) == (1, 0)
    assert contoso_budget["used"] > 0 and home_budget["used"] == 0
    assert len(emulator.for_tenant(CONTOSO).monitoring()["monitors"]) == 1
    assert emulator.monitoring()["monitors"] == []
    assert contoso_quota.used > 0 and home_quota.used == 0
