"""diff_snapshots over real HTTP: two emulator snapshots with known tenant changes between them."""

from __future__ import annotations

import copy

import httpx

from devtools.emulator_client import EmulatorControl
from tests.support import run_function

CA = "microsoft.entra.conditionalAccessPolicy"
LIFECYCLE = "microsoft.entra.groupLifecyclePolicy"


def take(api: httpx.Client, name: str) -> str:
    response = api.post("/api/snapshots", json={"displayName": name, "resources": [CA, LIFECYCLE]})
    assert response.status_code == 202, response.text
    run_function(api, "poll_snapshots")
    return str(response.json()["id"])


def test_diff_reports_exactly_the_tenant_changes(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    policies = emulator.tenant_resources(CA)
    changed, removed = copy.deepcopy(policies[0]), policies[1]
    key = next(k for k, v in changed["properties"].items() if isinstance(v, str) and "@" not in k and k != "Ensure")
    old_value = changed["properties"][key]
    changed["properties"][key] = "Changed by the test"
    placeholder = copy.deepcopy(policies[2])
    placeholder["properties"]["SessionControls"] = {"SignInFrequency": 4}
    emulator.change_tenant(set=[placeholder])
    before = take(api, "Before the change")

    placeholder["properties"]["SessionControls"] = "System.Collections.Hashtable"
    added = {
        "resourceType": CA.lower(),
        "displayName": "AADConditionalAccessPolicy-Added by test",
        "properties": {"State": "enabled"},
    }
    emulator.change_tenant(
        set=[changed, added, placeholder], remove=[{"resourceType": CA, "displayName": removed["displayName"]}]
    )
    after = take(api, "After the change")

    diff = api.get(f"/api/snapshots/{after}/diff", params={"against": before})
    assert diff.status_code == 200, diff.text
    body = diff.json()
    assert [r["displayName"] for r in body["added"]] == [added["displayName"]]
    assert [r["displayName"] for r in body["removed"]] == [removed["displayName"]]
    assert [r["displayName"] for r in body["changed"]] == [changed["displayName"]]
    assert body["changed"][0]["changes"] == [
        {"path": key, "kind": "changed", "old": old_value, "new": "Changed by the test"}
    ]
    assert [r["displayName"] for r in body["notComparable"]] == [placeholder["displayName"]]
    assert body["notComparable"][0]["notComparable"][0]["path"] == "SessionControls"
    summary = body["summary"]
    assert (summary["added"], summary["removed"], summary["changed"]) == (1, 1, 1)
    assert summary["byResourceType"][LIFECYCLE.lower()]["unchanged"] == 3
    assert summary["byResourceType"][CA.lower()]["changed"] == 1

    only = api.get(f"/api/snapshots/{after}/diff", params={"against": before, "resourceType": LIFECYCLE})
    assert only.json()["summary"]["changed"] == 0 and only.json()["added"] == []


def test_diff_needs_two_stored_snapshots(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    stored = take(api, "Stored for diffing")
    emulator.configure(jobDurationSeconds=600)
    running = api.post("/api/snapshots", json={"displayName": "Still running now", "resources": [CA]}).json()["id"]
    assert api.get(f"/api/snapshots/{stored}/diff", params={"against": running}).status_code == 409
    assert api.get(f"/api/snapshots/{stored}/diff").status_code == 400
    assert api.get(f"/api/snapshots/{stored}/diff", params={"against": "unknown-id"}).status_code == 404
