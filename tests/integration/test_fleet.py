"""The fleet at a glance (issue 23), on Azurite and the emulator through the queue path: snapshots land in three
customer tenants, one of them then failing; a standard is named; GET /api/fleet answers each tenant's status,
changes, deviations per workload and error from the stored summaries, with a constant number of Table reads."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from devtools.emulator_client import EmulatorControl
from snapshot import clients, errors, http_fleet, tenancy
from snapshot.fleet import StandardRequest
from snapshot.onboarding import TenantStatus
from snapshot.queues import WorkMessage
from snapshot.tenancy import Tenant
from snapshot.usecases import delete, fanout, fleet
from tests.support.fanout import onboard, run_queued
from tests.support.fleet import FABRIKAM, NORTHWIND, POLICY_TYPE, TAILSPIN, TYPES, tenant_config
from tests.support.inprocess import request, start_job

NAMES = {NORTHWIND: "Northwind", FABRIKAM: "Fabrikam", TAILSPIN: "Tailspin"}


async def snapshot_through_queue(tenant_id: str, name: str) -> str:
    """Start a snapshot in the tenant, then run the poll tick's messages (and those they send) as the trigger does."""
    job_id, _ = await snapshot_and_messages(tenant_id, name)
    return job_id


async def snapshot_and_messages(tenant_id: str, name: str) -> tuple[str, Counter[str]]:
    with tenancy.scoped(Tenant(tenant_id, home=False)):
        job_id = await start_job(name, TYPES)
    await fanout.enqueue("poll")
    ran = await run_queued()
    assert ran["content"] >= 1, ran
    return job_id, ran


async def three_tenants(emulator: EmulatorControl) -> dict[str, str]:
    jobs = {}
    for tenant_id, name in NAMES.items():
        emulator.add_tenant(tenant_id, name)
        assert await onboard(tenant_id, name) == TenantStatus.READY
        tenant_config(emulator, tenant_id, name, "disabled" if tenant_id == FABRIKAM else "enabled")
        jobs[tenant_id] = await snapshot_through_queue(tenant_id, f"fleet {name}")
    return jobs


async def fleet_json(**params: str) -> dict[str, Any]:
    response = await http_fleet.get_fleet(request("GET", "fleet", params=params))
    body: dict[str, Any] = json.loads(response.get_body())
    assert response.status_code == 200, body
    return body


def by_tenant(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["tenantId"]: row for row in body["value"]}


async def make_failing(emulator: EmulatorControl, tenant_id: str) -> None:
    """The tenant's job list fails (its poll records Graph's text on the tenant's row), and its message then lands
    in the poison queue: the poison trigger's use case is called with its body, as the host does after
    maxDequeueCount failed runs (a run failing that often cannot be arranged without the host's retries)."""
    emulator.for_tenant(tenant_id).add_fault(method="GET", path="configurationSnapshotJobs", status=500, times=100)
    body = WorkMessage(kind="poll", tenantId=tenant_id).body()
    await fanout.run(body)
    await fanout.poisoned(body)


async def test_the_fleet_summary_after_snapshots_land_in_three_tenants_one_failing(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    jobs = await three_tenants(emulator)
    before = by_tenant(await fleet_json())
    assert before[FABRIKAM]["deviations"]["total"] is None and before[FABRIKAM]["lastSnapshot"]["id"] == jobs[FABRIKAM]

    standard, queued = await fleet.set_standard(StandardRequest(tenantId=NORTHWIND))
    assert standard.snapshot_id == jobs[NORTHWIND] and standard.follows_latest and queued == 4  # home + 3
    assert (await run_queued())["fleet"] == 4

    emulator.for_tenant(FABRIKAM).change_tenant(
        set=[{"resourceType": "microsoft.exchange.acceptedDomain", "displayName": "EXOAcceptedDomain-extra",
              "properties": {"Identity": "extra.fabrikam.com", "DomainType": "Authoritative", "Ensure": "Present"}}]
    )  # fmt: skip
    second = await snapshot_through_queue(FABRIKAM, "fleet Fabrikam 2")
    emulator.clear_faults()
    await make_failing(emulator, TAILSPIN)

    body = await fleet_json()
    rows = by_tenant(body)
    fabrikam, northwind, tailspin = rows[FABRIKAM], rows[NORTHWIND], rows[TAILSPIN]
    assert fabrikam["lastSnapshot"]["id"] == second
    assert fabrikam["changes"] == {"against": jobs[FABRIKAM], "added": 1, "removed": 0, "changed": 0, "total": 1}
    # the policy's State (entra) and the extra accepted domain (exchange) differ from the standard
    assert fabrikam["deviations"]["byWorkload"] == {"entra": 1, "exchange": 1} and fabrikam["deviations"]["current"]
    assert northwind["deviations"]["total"] == 0 and northwind["changes"] is None and northwind["group"] == "quiet"
    assert tailspin["status"] == "failing" and tailspin["group"] == "attention"
    assert isinstance(tailspin["lastError"], str) and tailspin["lastError"]  # the failed run's error, kept
    assert tailspin["deviations"]["total"] == 0
    assert fabrikam["group"] == "attention" and fabrikam["quota"]["used"] > 0
    assert fabrikam["jobSlots"] == {"used": 2, "limit": 12}
    assert body["groups"] == {"attention": 2, "changed": 0, "quiet": 2} and body["count"] == 4
    assert [row["tenantId"] for row in body["value"]][:1] == [FABRIKAM]  # most deviations first
    assert fabrikam["lastSnapshot"]["reportUrl"].endswith(
        f"/tenants/{FABRIKAM}/snapshots/{second}/report?against=previous"
    )


async def test_a_page_of_the_fleet_costs_the_same_table_reads_whatever_the_tenants(
    multi_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    await three_tenants(emulator)
    sent: Counter[str] = Counter()
    monkeypatch.setitem(clients.STORE_CLIENT_OPTIONS, "raw_request_hook", lambda _: sent.update(["n"]))
    await clients.close_all()
    await fleet_json()  # the tables' clients made, the home row there
    sent.clear()
    first = await fleet_json(top="2", orderBy="age")
    assert sent["n"] == 4  # the home row, the registry, the summaries, the standard: no read per tenant
    assert len(first["value"]) == 2 and first["nextLink"] and first["continuationToken"] == "2"
    second = await fleet_json(top="2", orderBy="age", continuationToken="2")
    assert len(second["value"]) == 2 and second["nextLink"] is None
    listed = [row["tenantId"] for row in first["value"] + second["value"]]
    assert sorted(listed) == sorted([*NAMES, tenancy.home_tenant(clients.store().settings).id])
    assert first["value"][0]["lastSnapshot"] is None  # the home tenant has none: the oldest comes first


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"top": "0"}, "top"),
        ({"top": "101"}, "top"),
        ({"orderBy": "size"}, "orderBy"),
        ({"continuationToken": "x"}, "continuationToken"),
    ],
)
async def test_a_bad_fleet_query_names_its_parameter(
    multi_env: dict[str, str], params: dict[str, str], field: str
) -> None:
    response = await http_fleet.get_fleet(request("GET", "fleet", params=params))
    problem = json.loads(response.get_body())
    assert response.status_code == 400 and [e["field"] for e in problem["errors"]] == [field]


async def test_a_standard_names_the_field_it_cannot_use(multi_env: dict[str, str], emulator: EmulatorControl) -> None:
    jobs = await three_tenants(emulator)
    cases = [
        ({"tenantId": NORTHWIND, "resourceTypes": ["microsoft.teams.meetingPolicy"]}, 404, None),
        ({"tenantId": NORTHWIND, "snapshotId": jobs[NORTHWIND], "resourceTypes": ["microsoft.teams.meetingPolicy"]},
         400, "resourceTypes"),
        ({"tenantId": NORTHWIND, "resourceTypes": ["microsoft.nope"]}, 400, "resourceTypes"),
        ({"tenantId": "7e1a0000-0000-4000-8000-0000000000ff"}, 404, None),
        ({"tenantId": NORTHWIND, "extra": 1}, 400, "extra"),
    ]  # fmt: skip
    for body, status, field in cases:
        req = request(
            "PUT", "fleet/standard", body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        response = await http_fleet.put_fleet_standard(req)
        problem = json.loads(response.get_body())
        assert response.status_code == status, (body, problem)
        if field:
            assert field in [e["field"] for e in problem["errors"]], problem
    missing = await http_fleet.get_fleet_standard(request("GET", "fleet/standard"))
    assert missing.status_code == 404


async def test_the_standard_follows_the_golden_tenants_latest_snapshot(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    jobs = await three_tenants(emulator)
    await fleet.set_standard(StandardRequest(tenantId=NORTHWIND, resourceTypes=[POLICY_TYPE]))
    stale = by_tenant(await fleet_json())[FABRIKAM]["deviations"]
    assert stale["current"] is False and stale["total"] is None  # not counted against this standard yet
    assert (await run_queued())["fleet"] == 4
    assert by_tenant(await fleet_json())[FABRIKAM]["deviations"]["byWorkload"] == {"entra": 1}
    emulator.for_tenant(NORTHWIND).change_tenant(
        set=[{"resourceType": POLICY_TYPE, "displayName": "AADConditionalAccessPolicy-Block legacy",
              "properties": {"Id": "0c0a0000-0000-4000-8000-0000000000b1", "State": "disabled", "Ensure": "Present",
                             "ExcludeGroups": ["0c0a0000-0000-4000-8000-0000000000a1"],
                             "ExcludeUsers": ["admin@northwind.onmicrosoft.com", "ops@northwind.com"],
                             "Description": f"Owned by tenant {NORTHWIND}, mail routed via northwind.mail.onmicrosoft.com",
                             "IncludeApplications": ["00000003-0000-0000-c000-000000000000"]}}]
    )  # fmt: skip
    newest, ran = await snapshot_and_messages(NORTHWIND, "fleet Northwind 2")
    standard = await fleet.get_standard()
    assert standard.snapshot_id == newest != jobs[NORTHWIND] and standard.revision == 2
    assert ran["fleet"] == 4  # the standard moved: every tenant's summary computed again
    rows = by_tenant(await fleet_json())
    assert rows[FABRIKAM]["deviations"] == {"current": True, "total": 0, "byWorkload": {"entra": 0}, "error": None}
    assert rows[TAILSPIN]["deviations"]["byWorkload"] == {"entra": 1}


async def test_deleting_a_tenants_newest_snapshot_computes_its_summary_again(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    jobs = await three_tenants(emulator)
    second = await snapshot_through_queue(FABRIKAM, "fleet Fabrikam 2")
    assert by_tenant(await fleet_json())[FABRIKAM]["lastSnapshot"]["id"] == second
    with tenancy.scoped(Tenant(FABRIKAM, home=False)):
        await delete.delete_job(second, keep_content=False)
    assert (await run_queued())["fleet"] == 1
    row = by_tenant(await fleet_json())[FABRIKAM]
    assert row["lastSnapshot"]["id"] == jobs[FABRIKAM] and row["changes"] is None


async def test_a_standard_whose_messages_were_not_sent_sends_them_from_the_golden_tenants_next_summary(
    multi_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The queue failing exactly for the standard's messages cannot be arranged with a real Azurite, so that one
    send is made to fail; everything else is real."""
    await three_tenants(emulator)
    queues = clients.queues()
    real_send = queues.send

    async def down(queue: str, messages: list[WorkMessage]) -> None:
        raise errors.StorageUnavailable("injected: the queue is down")

    monkeypatch.setattr(queues, "send", down)
    with pytest.raises(errors.StorageUnavailable):
        await fleet.set_standard(StandardRequest(tenantId=NORTHWIND))
    monkeypatch.setattr(queues, "send", real_send)
    standard = await fleet.get_standard()
    assert standard.revision == 1 and standard.refreshed_revision == 0  # set, but its messages never went
    with tenancy.scoped(Tenant(NORTHWIND, home=False)):
        await fleet.summarise()  # the golden tenant's next summary (a retried content message, its next snapshot)
    assert (await fleet.get_standard()).refreshed_revision == 1
    assert (await run_queued())["fleet"] == 4
    assert by_tenant(await fleet_json())[FABRIKAM]["deviations"]["current"] is True
