"""Monitors over real HTTP: built from a stored snapshot, limits checked from Graph's state, drift history kept.

The emulator plays Graph: its control API runs a monitoring slot against a tenant the test changes, and ages
fixed drifts out the way Graph does after 30 days.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx

from devtools.emulator_client import EmulatorControl
from tests.support import run_function, take_snapshot

CA = "microsoft.entra.conditionalAccessPolicy"
AUTH = "microsoft.entra.authenticationMethodPolicy"
LIFECYCLE = "microsoft.entra.groupLifecyclePolicy"
PLACEHOLDER = "System.Collections.Hashtable"
CA_PREFIX = "AADConditionalAccessPolicy-"


def graph_creates(emulator: EmulatorControl) -> int:
    return sum(
        1
        for r in emulator.requests()
        if r["method"] == "POST" and r["path"].rstrip("/").endswith("/configurationMonitors")
    )


def entry(name: str) -> dict[str, Any]:
    """A baseline entry of a monitor another tool made."""
    return {"displayName": name, "resourceType": CA.lower(), "properties": {"DisplayName": name, "Ensure": "Present"}}


def create(api: httpx.Client, snapshot_id: str, **body: Any) -> httpx.Response:
    return api.post(f"/api/snapshots/{snapshot_id}/monitor", json=body)


def test_a_monitor_gets_exactly_the_documented_baseline(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={AUTH.lower(): 1})
    snapshot = take_snapshot(api, "Baseline source", [CA, AUTH, LIFECYCLE])
    stored = api.get(f"/api/snapshots/{snapshot}/content").json()["resources"]

    response = create(api, snapshot, displayName="Watch everything", description="all of it")
    assert response.status_code == 201, response.text
    assert response.headers["Location"].endswith(f"/api/monitors/{response.json()['id']}")
    view = api.get(response.headers["Location"])
    assert view.status_code == 200, view.text
    assert view.json()["createdByApp"] is True and view.json()["snapshotId"] == snapshot
    assert view.json()["baseline"]["entries"] == len(stored) == 7

    baseline = emulator.monitoring()["monitors"][0]["baseline"]
    entries = {e["displayName"]: e for e in baseline["resources"]}
    assert len(entries) == len(stored)
    for resource in stored:
        entry = entries[resource["displayName"]]
        assert entry["resourceType"] == resource["resourceType"]
        raw = resource["properties"]
        if resource["resourceType"] == CA.lower():  # GUID id dropped, every other property kept as is
            assert entry["properties"] == {k: v for k, v in raw.items() if k != "Id"}
        elif resource["resourceType"] == AUTH.lower():  # id, placeholders and annotations dropped
            dropped = {
                "Id",
                "RegistrationEnforcement",
                "SystemCredentialPreferences",
                "ReconfirmationInDays@odata.type",
            }
            assert {"IsSingleInstance", "Ensure"} <= entry["properties"].keys()
            assert entry["properties"] == {k: v for k, v in raw.items() if k not in dropped}
        else:
            assert entry["properties"] == {k: v for k, v in raw.items() if "@" not in k}
        assert PLACEHOLDER not in str(entry["properties"])

    only_state = create(api, snapshot, displayName="Watch CA state", resourceTypes=[CA], properties={CA: ["State"]})
    assert only_state.status_code == 201, only_state.text
    narrow = emulator.monitoring()["monitors"][1]["baseline"]["resources"]
    assert len(narrow) == 3
    assert all(set(e["properties"]) == {"DisplayName", "State", "Ensure"} for e in narrow)

    invalid = create(api, snapshot, displayName="bad_name", resourceTypes=["microsoft.nope.thing"])
    assert invalid.status_code == 400
    assert {e["field"] for e in invalid.json()["errors"]} == {"displayName", "resourceTypes"}


def test_limits_are_checked_from_graph_state_before_any_create(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    snapshot = take_snapshot(api, "Limits source", [CA])
    small = {"displayName": "x", "resources": [entry("One")]}
    others = [emulator.add_monitor(f"Other tool {i:02d}", small) for i in range(30)]
    emulator.clear_requests()

    refused = create(api, snapshot, displayName="Thirty first")
    assert refused.status_code == 409, refused.text
    assert refused.json()["limits"] == {"monitors": 30, "limit": 30}
    assert graph_creates(emulator) == 0

    listed = api.get("/api/monitors").json()
    assert listed["budget"]["monitorCount"] == 30 and listed["budget"]["used"] == 120
    assert not any(m["createdByApp"] for m in listed["value"])
    for other in others[:2]:
        assert api.delete(f"/api/monitors/{other['id']}").status_code == 204  # asked for by id

    big = {"displayName": "x", "resources": [entry(f"E{i}") for i in range(170)]}
    emulator.add_monitor("Big baseline", big)  # 29 monitors using (28 + 170) x 4 = 792 of 800 a day
    over = create(api, snapshot, displayName="Over budget")  # 3 policies x 4 = 12 more
    assert over.status_code == 422, over.text
    assert over.json()["limits"] == {"used": 792, "requested": 12, "limit": 800}
    assert graph_creates(emulator) == 0
    assert len(emulator.monitoring()["monitors"]) == 29
    fits = create(api, snapshot, displayName="Fits the budget", resourceNames=[f"{CA_PREFIX}Require MFA"])
    assert fits.status_code == 201, fits.text
    assert graph_creates(emulator) == 1


def drifts(api: httpx.Client, **params: str) -> list[dict[str, Any]]:
    response = api.get("/api/drifts", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["value"])


def test_drift_history_outlives_graph(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    snapshot = take_snapshot(api, "Drift source", [CA])
    monitor = create(api, snapshot, displayName="Watch policies", resourceTypes=[CA]).json()
    policy = emulator.tenant_resources(CA)[0]
    old_state = policy["properties"]["State"]
    new_state = "disabled" if old_state != "disabled" else "enabled"
    changed = copy.deepcopy(policy)
    changed["properties"]["State"] = new_state

    emulator.change_tenant(set=[changed])
    emulator.run_monitors()
    run_function(api, "poll_drifts")
    active = drifts(api, status="active")
    assert len(active) == 1
    drift = active[0]
    assert drift["monitorId"] == monitor["id"] and drift["resolution"] is None
    assert drift["driftedProperties"] == [
        {"propertyName": "State", "currentValue": new_state, "desiredValue": old_state}
    ]
    assert drift["resourceInstanceIdentifier"] == {"DisplayName": policy["properties"]["DisplayName"]}
    runs = api.get(f"/api/monitors/{monitor['id']}/runs").json()["value"]
    assert [(r["runStatus"], r["driftsCount"]) for r in runs] == [("successful", 1)]

    emulator.run_monitors(fail=True)  # a failed run's 0 drifts means "unknown", never "clean"
    run_function(api, "poll_drifts")
    runs = api.get(f"/api/monitors/{monitor['id']}/runs").json()["value"]
    assert (runs[0]["runStatus"], runs[0]["driftsCount"], runs[0]["graphDriftsCount"]) == ("failed", None, 0)
    assert [d["id"] for d in drifts(api, status="active")] == [drift["id"]]

    emulator.change_tenant(set=[policy])  # fixed in the tenant
    emulator.run_monitors()
    run_function(api, "poll_drifts")
    fixed = drifts(api, status="fixed")
    assert [(d["id"], d["resolution"], d["graphStatus"]) for d in fixed] == [(drift["id"], "fixed", "fixed")]
    assert drifts(api, status="active") == []

    assert emulator.age_fixed_drifts() == 1  # Graph forgets it; the app does not
    run_function(api, "poll_drifts")
    assert [(d["id"], d["resolution"]) for d in drifts(api, status="all")] == [(drift["id"], "fixed")]

    emulator.change_tenant(set=[changed])  # drifts again, then the change is approved
    emulator.run_monitors()
    newer = take_snapshot(api, "Approved change", [CA])
    rebaselined = api.post(f"/api/monitors/{monitor['id']}/baseline", json={"snapshotId": newer})
    assert rebaselined.status_code == 200, rebaselined.text
    assert rebaselined.json()["snapshotId"] == newer
    assert [d for d in emulator.monitoring()["drifts"] if d["monitorId"] == monitor["id"]] == []
    kept = drifts(api, status="all", monitorId=monitor["id"], resourceType=CA)
    assert len(kept) == 2 and drift["id"] in {d["id"] for d in kept}
    emulator.run_monitors()
    run_function(api, "poll_drifts")
    assert drifts(api, status="active") == []
    assert {d["resolution"] for d in drifts(api, status="all")} == {"fixed", "vanished"}
    assert len(api.get(f"/api/monitors/{monitor['id']}/runs").json()["value"]) == 5


def test_a_create_whose_answer_is_lost_is_found_in_graph_not_repeated(
    api: httpx.Client, emulator: EmulatorControl
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    snapshot = take_snapshot(api, "Lost answer source", [CA])
    emulator.add_fault(method="POST", path="configurationMonitors", action="drop")
    response = create(api, snapshot, displayName="Answer lost")
    assert response.status_code == 201, response.text
    assert graph_creates(emulator) == 1
    [monitor] = emulator.monitoring()["monitors"]
    assert response.json()["id"] == monitor["id"]
    assert api.get(f"/api/monitors/{monitor['id']}").json()["createdByApp"] is True
