"""Snapshot content from the emulator (devtools/emulator/content.py): where it lives, its shape, the tenant it reflects.

The emulator runs as a subprocess (tests/conftest.py `emulator_service`); the `emulator` fixture resets it.
"""

from __future__ import annotations

import json
import re

import httpx

from devtools.emulator import content as emulator_content
from devtools.emulator_client import EmulatorControl
from tests.devtools.emulator_graph import CA, TEAMS, Graph, fast, snapshot_id_of


async def test_content_is_on_another_id_behind_the_bearer_token(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    job = await graph.finished((await graph.create("Content download", [CA, TEAMS], "Two types")).id)
    assert job.resource_location
    # under /beta/ on the Graph host, as observed in real tenants, though the job was read on v1.0
    assert job.resource_location.startswith(emulator.base_url + "/beta/admin/configurationManagement/")
    snapshot_id = snapshot_id_of(job.resource_location)
    assert snapshot_id != job.id

    async with httpx.AsyncClient() as http:
        anonymous = await http.get(job.resource_location)
    assert anonymous.status_code == 401

    data = await graph.download(job.resource_location)
    content = json.loads(data)
    assert content == emulator.snapshot_content(snapshot_id)
    assert set(content) == {"@odata.context", "id", "displayName", "description", "parameters", "resources"}
    assert content["id"] == snapshot_id and content["displayName"] == "Content download"
    assert content["description"] == "Two types" and content["parameters"] == []
    assert len(content["resources"]) == 6
    by_path = await graph.raw("GET", f"/admin/configurationManagement/configurationSnapshots/{snapshot_id}")
    assert by_path.json() == content
    downloads = [r for r in emulator.requests() if r["op"] == "download"]
    assert [(r["authorized"], r["status"]) for r in downloads] == [(False, 401), (True, 200), (True, 200)]


async def test_the_resource_location_base_can_name_another_host(graph: Graph, emulator: EmulatorControl) -> None:
    other = emulator.graph_base_url.replace("127.0.0.1", "localhost")
    fast(emulator, resourceLocationBase=other)
    job = await graph.finished((await graph.create("Other host content", [CA])).id)
    assert job.resource_location and job.resource_location.startswith(other + "/admin/")


async def test_content_is_realistic(graph: Graph, emulator: EmulatorControl) -> None:
    types = [
        CA, "microsoft.exchange.transportRule", "microsoft.entra.groupLifecyclePolicy",
        "microsoft.entra.authenticationMethodPolicy", "microsoft.entra.namedLocationPolicy", TEAMS,
        "microsoft.intune.deviceCategory",
    ]  # fmt: skip
    fast(emulator, resourceCounts={"microsoft.entra.namedlocationpolicy": 4})
    job = await graph.finished((await graph.create("Realistic content", types)).id)
    assert job.resource_location
    resources = json.loads(await graph.download(job.resource_location))["resources"]
    assert {r["resourceType"] for r in resources} == {t.lower() for t in types}
    names = [r["displayName"] for r in resources]
    assert "AADConditionalAccessPolicy-Require MFA" in names
    assert "EXOTransportRule-Deny Sending Outbound by Default" in names
    assert "AADGroupLifecyclePolicy" in names and "AADAuthenticationMethodPolicy" in names
    assert any(n.startswith("TeamsMeetingPolicy-") for n in names)
    assert any(n.startswith("IntuneDeviceCategory-") for n in names)
    joined = "".join(names)
    for hostile in ("'", "#", "/", "\\", "?", "%", "é", "ü", "日本"):
        assert hostile in joined, hostile
    assert all(r["properties"]["Ensure"] == "Present" for r in resources)
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*(@odata\.type)?", key) for r in resources for key in r["properties"])
    lifecycle = next(r for r in resources if r["displayName"] == "AADGroupLifecyclePolicy")["properties"]
    assert lifecycle["GroupLifetimeInDays@odata.type"] == "#Int64"
    assert isinstance(lifecycle["GroupLifetimeInDays"], int)
    methods = next(r for r in resources if r["displayName"] == "AADAuthenticationMethodPolicy")["properties"]
    assert methods["RegistrationEnforcement"] == "System.Collections.Hashtable"
    ca_props = [r["properties"] for r in resources if r["resourceType"] == "microsoft.entra.conditionalaccesspolicy"]
    assert any(p["DeviceFilterRule"] == "" for p in ca_props) and any(p["ExcludeUsers"] == [] for p in ca_props)
    assert any(isinstance(p["SessionControls"], dict) for p in ca_props)
    ranges = [r["properties"]["IpRanges"] for r in resources if r["resourceType"].endswith("namedlocationpolicy")]
    assert len(ranges) == 4 and {type(v) for v in ranges} == {str, list}


async def test_content_is_deterministic_and_captured_when_the_job_finishes(
    graph: Graph, emulator: EmulatorControl
) -> None:
    fast(emulator)
    first = await graph.finished((await graph.create("Determinism one", [CA, TEAMS])).id)
    second = await graph.finished((await graph.create("Determinism two", [CA, TEAMS])).id)
    assert first.resource_location and second.resource_location
    one = json.loads(await graph.download(first.resource_location))
    two = json.loads(await graph.download(second.resource_location))
    assert one["resources"] == two["resources"]
    assert one["resources"] == [
        *emulator_content.generate_resources(CA, 3),
        *emulator_content.generate_resources(TEAMS, 3),
    ]
    emulator.change_tenant(remove=[{"resourceType": CA, "displayName": one["resources"][0]["displayName"]}])
    assert json.loads(await graph.download(first.resource_location)) == one  # captured, not live


async def test_tenant_changes_show_in_later_snapshots(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    before = await graph.finished((await graph.create("Tenant before", [CA])).id)
    assert before.resource_location
    old = json.loads(await graph.download(before.resource_location))["resources"]
    replaced, removed = old[0]["displayName"], old[1]["displayName"]
    emulator.change_tenant(
        set=[
            {"resourceType": CA, "displayName": replaced, "properties": {"State": "disabled", "Ensure": "Present"}},
            {
                "resourceType": CA,
                "displayName": "AADConditionalAccessPolicy-New one",
                "properties": {"Ensure": "Present"},
            },
        ],
        remove=[{"resourceType": CA, "displayName": removed}],
    )
    after = await graph.finished((await graph.create("Tenant after", [CA])).id)
    assert after.resource_location
    new = json.loads(await graph.download(after.resource_location))["resources"]
    assert [r["displayName"] for r in new] == [replaced, old[2]["displayName"], "AADConditionalAccessPolicy-New one"]
    assert new[0] == {
        "displayName": replaced,
        "resourceType": "microsoft.entra.conditionalaccesspolicy",
        "properties": {"State": "disabled", "Ensure": "Present"},
    }
    assert new[1] == old[2]
    assert emulator.tenant_resources(CA) == new


async def test_resource_counts_and_large_values(graph: Graph, emulator: EmulatorControl) -> None:
    fast(
        emulator,
        defaultResourceCount=1,
        resourceCounts={"microsoft.entra.user": 250},
        propertyBytes={"microsoft.exchange.transportrule": 200 * 1024},
    )
    job = await graph.create("Counts and sizes", ["microsoft.entra.user", "microsoft.exchange.transportRule", TEAMS])
    done = await graph.finished(job.id)
    assert done.resource_location
    resources = json.loads(await graph.download(done.resource_location))["resources"]
    counts: dict[str, int] = {}
    for resource in resources:
        counts[resource["resourceType"]] = counts.get(resource["resourceType"], 0) + 1
    assert counts == {
        "microsoft.entra.user": 250,
        "microsoft.exchange.transportrule": 1,
        "microsoft.teams.meetingpolicy": 1,
    }
    assert len({r["displayName"] for r in resources}) == len(resources)
    rule = next(r for r in resources if r["resourceType"] == "microsoft.exchange.transportrule")
    big = [v for v in rule["properties"].values() if isinstance(v, str) and len(v) > 64 * 1024]
    assert len(big) == 1 and 200 * 1024 - 16 <= len(big[0].encode()) <= 200 * 1024 + 16


def test_twenty_thousand_resources_have_unique_names() -> None:
    resources = emulator_content.generate_resources("microsoft.entra.user", 20_000)
    assert len(resources) == 20_000 and len({r["displayName"] for r in resources}) == 20_000
