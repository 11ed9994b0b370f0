"""The emulated Graph monitor operations (devtools/emulator/monitors.py, monitor_state.py), over HTTP with a token."""

from __future__ import annotations

import copy
from typing import Any

from devtools.emulator_client import EmulatorControl
from tests.devtools.emulator_graph import CA, Graph

ADMIN = "/admin/configurationManagement"
MONITORS = ADMIN + "/configurationMonitors"


def baseline(*names: str) -> dict[str, Any]:
    resources = [
        {"displayName": n, "resourceType": CA.lower(), "properties": {"DisplayName": n, "Ensure": "Present"}}
        for n in names
    ]
    return {"displayName": "Baseline", "description": "", "parameters": [], "resources": resources}


async def create(graph: Graph, name: str, base: dict[str, Any]) -> Any:
    return await graph.raw("POST", MONITORS, json={"displayName": name, "baseline": base, "parameters": {}})


async def test_create_201_list_get_baseline_and_select_only_fields(graph: Graph) -> None:
    created = await create(graph, "Monitor one", baseline("A", "B"))
    assert created.status_code == 201, created.text
    monitor = created.json()
    assert (monitor["status"], monitor["mode"], monitor["monitorRunFrequencyInHours"]) == ("active", "monitorOnly", 6)
    assert "createdBy" not in monitor and "parameters" not in monitor
    listed = (await graph.raw("GET", MONITORS)).json()["value"]
    assert [m["id"] for m in listed] == [monitor["id"]] and "createdBy" not in listed[0]
    selected = (await graph.raw("GET", MONITORS, params={"$select": "id,createdBy"})).json()["value"][0]
    assert set(selected) == {"id", "createdBy"}
    single = await graph.raw("GET", f"{MONITORS}/{monitor['id']}")
    assert single.json()["displayName"] == "Monitor one"
    base = (await graph.raw("GET", f"{MONITORS}/{monitor['id']}/baseline")).json()
    assert [r["displayName"] for r in base["resources"]] == ["A", "B"]
    assert (await create(graph, "bad_name", baseline("A"))).status_code == 400
    assert (await create(graph, "Empty baseline", {"resources": []})).status_code == 400


async def test_limits_answer_the_configured_error(graph: Graph, emulator: EmulatorControl) -> None:
    emulator.monitor_limits(maxMonitors=1, error={"status": 403, "code": "Forbidden", "message": "Quota exceeded"})
    assert (await create(graph, "Monitor one", baseline("A"))).status_code == 201
    second = await create(graph, "Monitor two", baseline("B"))
    assert second.status_code == 403 and second.json()["error"]["message"] == "Quota exceeded"
    emulator.monitor_limits(maxMonitors=30, dailyBudget=8)  # 2 instances x 4 runs
    assert (await create(graph, "Monitor two", baseline("B", "C"))).status_code == 403
    assert len(emulator.monitoring()["monitors"]) == 1


async def test_a_slot_run_reports_drifts_and_a_baseline_change_wipes_them(
    graph: Graph, emulator: EmulatorControl
) -> None:
    policy = emulator.tenant_resources(CA)[0]
    properties = policy["properties"]
    base = baseline()
    base["resources"] = [
        {"displayName": "P", "resourceType": CA.lower(),
         "properties": {"DisplayName": properties["DisplayName"], "State": properties["State"], "Ensure": "Present"}},
        {"displayName": "Gone", "resourceType": CA.lower(), "properties": {"DisplayName": "Not here", "Ensure": "Present"}},
    ]  # fmt: skip
    monitor = (await create(graph, "Monitor one", base)).json()
    changed = copy.deepcopy(policy)
    changed["properties"]["State"] = "changed"
    emulator.change_tenant(set=[changed])
    [result] = emulator.run_monitors()
    assert (result["runStatus"], result["driftsCount"]) == ("successful", 2)

    plain = (await graph.raw("GET", ADMIN + "/configurationDrifts")).json()["value"]
    assert "driftedProperties" not in plain[0] and "resourceInstanceIdentifier" not in plain[0]
    fields = "id,status,driftedProperties,resourceInstanceIdentifier"
    drifts = (await graph.raw("GET", ADMIN + "/configurationDrifts", params={"$select": fields})).json()["value"]
    by_key = {d["resourceInstanceIdentifier"]["DisplayName"]: d["driftedProperties"] for d in drifts}
    assert by_key == {
        properties["DisplayName"]: [{"propertyName": "State", "currentValue": "changed", "desiredValue": properties["State"]}],
        "Not here": [{"propertyName": "Ensure", "currentValue": "Absent", "desiredValue": "Present"}],
    }  # fmt: skip
    results = await graph.raw(
        "GET", ADMIN + "/configurationMonitoringResults", params={"$filter": f"monitorId eq '{monitor['id']}'"}
    )
    assert [r["id"] for r in results.json()["value"]] == [result["id"]] and "errorDetails" not in results.json()[
        "value"
    ][0]

    emulator.change_tenant(set=[policy])
    emulator.run_monitors()
    statuses = sorted(d["status"] for d in emulator.monitoring()["drifts"])
    assert statuses == ["active", "fixed"]
    assert emulator.age_fixed_drifts() == 1

    updated = await graph.raw("PATCH", f"{MONITORS}/{monitor['id']}", json={"baseline": baseline("A")})
    assert updated.status_code == 204
    state = emulator.monitoring()
    assert state["drifts"] == [] and state["results"] == []
