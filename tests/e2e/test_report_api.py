"""`against=previous` and the HTML change report over real HTTP (local host, Azurite, emulator)."""

from __future__ import annotations

import copy

import httpx

from devtools.emulator_client import EmulatorControl
from tests.support import take_snapshot
from tests.support.report_html import read

CA = "microsoft.entra.conditionalAccessPolicy"
LIFECYCLE = "microsoft.entra.groupLifecyclePolicy"


def test_previous_is_the_newest_older_stored_snapshot_with_all_the_types(
    api: httpx.Client, emulator: EmulatorControl
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    both = take_snapshot(api, "Both types first", [CA, LIFECYCLE])
    lifecycle_only = take_snapshot(api, "Lifecycle only then", [LIFECYCLE])
    ca_only = take_snapshot(api, "Conditional access only", [CA])
    lifecycle_again = take_snapshot(api, "Lifecycle only again", [LIFECYCLE])

    def previous_of(job_id: str) -> httpx.Response:
        return api.get(f"/api/snapshots/{job_id}/diff", params={"against": "previous"})

    # ca_only: lifecycle_only is newer but lacks CA, so both; only CA is compared (both's lifecycle is left out)
    diff = previous_of(ca_only).json()
    assert diff["against"] == both
    assert set(diff["summary"]["byResourceType"]) == {CA.lower()}
    assert diff["removed"] == [] and diff["summary"]["unchanged"] == len(emulator.tenant_resources(CA))
    # lifecycle_again: ca_only lacks the type; lifecycle_only is the newest older one that has it
    assert previous_of(lifecycle_again).json()["against"] == lifecycle_only
    assert previous_of(lifecycle_only).json()["against"] == both

    none = previous_of(both)
    assert none.status_code == 404
    assert none.headers["content-type"].startswith("application/problem+json")
    assert f"no stored snapshot created before {both}" in none.json()["detail"]
    assert "0 older stored snapshot(s)" in none.json()["detail"]
    report = api.get(f"/api/snapshots/{both}/report", params={"against": "previous"})
    assert report.status_code == 404 and "no stored snapshot created before" in report.json()["detail"]

    # newest older ones lack CA: the answer says which
    both_again = take_snapshot(api, "Both types again", [CA, LIFECYCLE])
    assert previous_of(both_again).json()["against"] == both
    api.delete(f"/api/snapshots/{both}")
    missing = previous_of(both_again)
    assert missing.status_code == 404
    assert f"the newest of them, {lifecycle_again}, lacks {CA.lower()}" in missing.json()["detail"]

    # a running snapshot is not stored: 409, as for an explicit id
    emulator.configure(jobDurationSeconds=600)
    running = api.post("/api/snapshots", json={"displayName": "Both still running", "resources": [CA, LIFECYCLE]})
    assert previous_of(running.json()["id"]).status_code == 409


def test_the_report_names_exactly_the_changed_properties(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    policies = emulator.tenant_resources(CA)
    before = take_snapshot(api, "Before the change", [CA, LIFECYCLE])
    changed = copy.deepcopy(policies[0])
    key = next(k for k, v in changed["properties"].items() if isinstance(v, str) and "@" not in k and k != "Ensure")
    old_value = changed["properties"][key]
    changed["properties"][key] = "Changed <b>by</b> the test"
    removed = policies[1]
    added = {
        "resourceType": CA.lower(),
        "displayName": "AADConditionalAccessPolicy-<script>x</script>",
        "properties": {},
    }
    emulator.change_tenant(set=[changed, added], remove=[{"resourceType": CA, "displayName": removed["displayName"]}])
    after = take_snapshot(api, "After the change", [CA, LIFECYCLE])

    response = api.get(f"/api/snapshots/{after}/report", params={"against": "previous"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["X-Diff-Against"] == before
    counts = [response.headers[f"X-Diff-{name}"] for name in ("Added", "Removed", "Changed", "Not-Comparable")]
    assert counts == ["1", "1", "1", "0"]
    page = read(response.text)
    changes = [row for row in page.rows if len(row) == 3 and row != ["Property", "Old", "New"]]
    assert changes == [[key, f'"{old_value}"', '"Changed <b>by</b> the test"']]
    assert [h for h in page.headings if h.startswith(CA.lower())] == [f"{CA.lower()} {changed['displayName']}"]
    assert page.items == [f"{CA.lower()} {added['displayName']}", f"{CA.lower()} {removed['displayName']}"]
    assert "Before the change" in page.text and "After the change" in page.text and before in page.text
    assert "code=" not in response.text  # the function key never goes into a page people forward

    same = api.get(f"/api/snapshots/{after}/report", params={"against": after})
    assert same.status_code == 200 and same.headers["X-Diff-Changed"] == "0"
    assert "No changes" in read(same.text).headings
    assert api.get(f"/api/snapshots/{after}/report").status_code == 400
