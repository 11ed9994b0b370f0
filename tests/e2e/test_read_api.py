"""The read API over real HTTP (local host, Azurite, emulator), as Logic Apps and operators use it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from devtools.emulator_client import EmulatorControl
from tests.support import run_function

TYPES = ["microsoft.entra.conditionalAccessPolicy", "microsoft.teams.meetingPolicy"]


def start(api: httpx.Client, name: str, resources: list[str] = TYPES) -> httpx.Response:
    response = api.post("/api/snapshots", json={"displayName": name, "resources": resources})
    assert response.status_code == 202, response.text
    return response


def follow_like_logic_apps(api: httpx.Client, response: httpx.Response, max_polls: int = 20) -> httpx.Response:
    """Logic Apps' HTTP action: follow Location, waiting Retry-After, until an answer other than 202."""
    polls = 0
    while response.status_code == 202:
        polls += 1
        assert polls <= max_polls, "the job never left 202"
        location, wait = response.headers["Location"], int(response.headers["Retry-After"])
        time.sleep(wait)
        run_function(api, "poll_snapshots")  # the timer, between two polls of the workflow
        response = api.get(location)
    return response


def snapshot_content(emulator: EmulatorControl, job_id: str) -> dict[str, Any]:
    job = next(j for j in emulator.jobs() if j["id"] == job_id)
    return emulator.snapshot_content(job["resourceLocation"].split("('")[1].split("')")[0])


def canonical(resources: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in resources)


def test_logic_apps_flow_for_a_succeeded_job(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=1)
    final = follow_like_logic_apps(api, start(api, "Logic Apps success"))
    assert final.status_code == 200
    job = final.json()
    assert job["status"] == "succeeded" and job["contentState"] == "stored"
    assert job["resourceCount"] == 6
    assert job["resourceTypeCounts"] == {
        "microsoft.entra.conditionalaccesspolicy": 3,
        "microsoft.teams.meetingpolicy": 3,
    }
    assert job["links"]["content"].endswith(f"/api/snapshots/{job['id']}/content")


def test_logic_apps_flow_for_a_partially_successful_job(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(
        jobStartSeconds=0, jobDurationSeconds=1, failingTypes={"microsoft.teams.meetingpolicy": "Access Denied."}
    )
    final = follow_like_logic_apps(api, start(api, "Logic Apps partial"))
    assert final.status_code == 200
    job = final.json()
    assert job["status"] == "partiallySuccessful"
    assert job["errors"][0]["resourceType"] == "microsoft.teams.meetingpolicy"
    assert "Access Denied." in job["errors"][0]["message"]
    assert job["resourceTypeCounts"] == {"microsoft.entra.conditionalaccesspolicy": 3}


def test_logic_apps_flow_for_a_failed_job(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=1, failingTypes={t.lower(): "Forbidden" for t in TYPES})
    final = follow_like_logic_apps(api, start(api, "Logic Apps failure"))
    assert final.status_code == 424
    job = final.json()
    assert job["status"] == "failed" and len(job["errorDetails"]) == 2


def test_list_is_newest_first_filtered_and_paged_exactly_once(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=600)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(7):
        created = (base + timedelta(hours=n)).isoformat().replace("+00:00", "Z")
        status = "failed" if n % 3 == 0 else None
        emulator.create_job(
            displayName=f"Listed job {n:02d}",
            resources=["microsoft.entra.user"],
            createdDateTime=created,
            status=status,
        )
    run_function(api, "poll_snapshots")
    names: list[str] = []
    url: str | None = "/api/snapshots?top=3"
    pages = 0
    while url:
        page = api.get(url)
        assert page.status_code == 200, page.text
        body = page.json()
        names += [job["displayName"] for job in body["value"]]
        url = body["nextLink"]
        pages += 1
    assert names == [f"Listed job {n:02d}" for n in reversed(range(7))]
    assert pages == 3
    failed = api.get("/api/snapshots", params={"status": "failed"}).json()["value"]
    assert [job["displayName"] for job in failed] == ["Listed job 06", "Listed job 03", "Listed job 00"]


def test_list_rejects_bad_parameters(api: httpx.Client) -> None:
    for params, field in (
        ({"top": "0"}, "top"),
        ({"top": "1001"}, "top"),
        ({"top": "ten"}, "top"),
        ({"status": "done"}, "status"),
        ({"continuationToken": "not-a-token!"}, "continuationToken"),
    ):
        response = api.get("/api/snapshots", params=params)
        assert response.status_code == 400, params
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["field"] == field


def test_resources_and_content_rebuild_what_graph_served(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={"microsoft.entra.user": 25})
    job_id = start(api, "Read back content", ["microsoft.entra.user", "microsoft.entra.groupLifecyclePolicy"]).json()[
        "id"
    ]
    assert api.get(f"/api/snapshots/{job_id}/content").status_code == 409  # not stored yet
    run_function(api, "poll_snapshots")
    served = snapshot_content(emulator, job_id)

    content = api.get(f"/api/snapshots/{job_id}/content")
    assert content.status_code == 200 and content.headers["content-type"].startswith("application/json")
    rebuilt = content.json()
    assert {k: v for k, v in rebuilt.items() if k != "resources"} == {
        k: v for k, v in served.items() if k != "resources"
    }
    assert canonical(rebuilt["resources"]) == canonical(served["resources"])

    seen: list[dict[str, Any]] = []
    url: str | None = f"/api/snapshots/{job_id}/resources?top=10"
    while url:
        body = api.get(url).json()
        seen += body["value"]
        url = body["nextLink"]
    assert canonical(seen) == canonical(served["resources"])  # every row exactly once, annotations restored

    only = api.get(
        f"/api/snapshots/{job_id}/resources", params={"resourceType": "MICROSOFT.ENTRA.GROUPLIFECYCLEPOLICY"}
    )
    types = {r["resourceType"] for r in only.json()["value"]}
    assert types == {"microsoft.entra.grouplifecyclepolicy"}


def test_delete_frees_the_graph_slot_and_the_rows(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job_id = start(api, "Deleted entirely").json()["id"]
    run_function(api, "poll_snapshots")
    assert api.delete(f"/api/snapshots/{job_id}").status_code == 204
    assert emulator.jobs() == []
    assert api.get(f"/api/snapshots/{job_id}").status_code == 404
    assert api.get(f"/api/snapshots/{job_id}/resources").status_code == 404
    assert api.delete(f"/api/snapshots/{job_id}").status_code == 404


def test_delete_keeping_content_deletes_only_the_graph_job(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job_id = start(api, "Deleted from Graph").json()["id"]
    run_function(api, "poll_snapshots")
    emulator.expire_job(job_id)  # Graph already dropped it: its 404 is fine
    assert api.delete(f"/api/snapshots/{job_id}", params={"keepContent": "true"}).status_code == 204
    job = api.get(f"/api/snapshots/{job_id}")
    assert job.status_code == 200 and job.json()["graphDeleted"] is True
    assert api.get(f"/api/snapshots/{job_id}/content").status_code == 200
    assert api.delete(f"/api/snapshots/{job_id}", params={"keepContent": "maybe"}).status_code == 400


def test_resource_type_catalogue_grouped_by_workload(api: httpx.Client) -> None:
    body = api.get("/api/resource-types").json()
    counts = {w["name"]: w["count"] for w in body["workloads"]}
    assert counts == {"entra": 39, "exchange": 68, "intune": 70, "securityAndCompliance": 28, "teams": 58}
    assert body["count"] == 263
    entra = next(w for w in body["workloads"] if w["name"] == "entra")
    assert "microsoft.entra.conditionalAccessPolicy" in entra["resourceTypes"]
