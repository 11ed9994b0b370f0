"""The fleet routes over real HTTP (local host serving the HTTP and queue triggers, Azurite, emulator), each
answer checked against the OpenAPI document: a round followed like the Logic Apps HTTP action follows it, the
standard set, the fleet's page and report, and bad input named."""

from __future__ import annotations

import httpx

from devtools.emulator_client import EmulatorControl
from snapshot.openapi import document
from snapshot.openapi.fleet_routes import FLEET_ROUTES
from tests.e2e.test_openapi import Contract, base_url, follow

TYPES = ["microsoft.entra.conditionalAccessPolicy"]


def drain_poll_queue(api: httpx.Client) -> int:
    """Run the poll queue's messages to the end, as the host's listener would (its drain endpoint)."""
    drained = api.post("/admin/queues/snapshot-poll/drain")
    assert drained.status_code == 200 and drained.json()["failed"] == 0, drained.text
    return int(drained.json()["processed"])


def test_a_round_the_standard_and_the_fleet_page_over_http(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=1)
    contract = Contract(document(base_url(api)))
    check = contract.check

    assert check(api.put("/api/fleet/standard", json={"tenantId": "home"})).status_code == 404  # nothing stored
    assert check(api.get("/api/fleet/standard")).status_code == 404
    assert check(api.post("/api/fleet/rounds", json={})).status_code == 400  # no standard: types required

    started = check(api.post("/api/fleet/rounds", json={"resourceTypes": TYPES}))
    assert started.status_code == 202, started.text
    done = follow(api, contract, started)
    assert done.status_code == 200, done.text
    assert [t["outcome"] for t in done.json()["tenants"]] == ["stored"]
    assert check(api.get(f"/api/fleet/rounds/{started.json()['id']}")).status_code == 200

    standard = check(api.put("/api/fleet/standard", json={"tenantId": "home", "resourceTypes": TYPES}))
    assert standard.status_code == 200, standard.text
    assert (
        standard.json()["summariesQueued"] == 1 and standard.json()["snapshotId"] == done.json()["tenants"][0]["jobId"]
    )
    assert check(api.get("/api/fleet/standard")).json()["revision"] == 1

    assert drain_poll_queue(api) == 1  # the summary's message
    page = check(api.get("/api/fleet")).json()
    row = page["value"][0]
    assert row["deviations"] == {"current": True, "total": 0, "byWorkload": {"entra": 0}, "error": None}
    assert page["groups"] == {"attention": 0, "changed": 0, "quiet": 1}
    report = check(api.get("/api/fleet/report"))
    assert report.status_code == 200 and report.headers["X-Fleet-Quiet"] == "1" and "<script" not in report.text

    for status, response in [
        (400, api.get("/api/fleet", params={"top": "0"})),
        (400, api.get("/api/fleet", params={"orderBy": "size"})),
        (400, api.put("/api/fleet/standard", json={"tenantId": "home", "resourceTypes": ["nope"]})),
        (415, api.put("/api/fleet/standard", content=b"x", headers={"content-type": "text/plain"})),
        (400, api.post("/api/fleet/rounds", json={"timeoutMinutes": 1})),
        (404, api.get("/api/fleet/rounds/no-such-round")),
    ]:
        assert check(response).status_code == status, response.text
    assert {op for op, _ in contract.seen} == {route.function for route in FLEET_ROUTES}
