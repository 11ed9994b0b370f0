"""start_snapshot over real HTTP: devtools.host -> the app -> msgraph-sdk -> the emulator; Azurite for tables."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx

from devtools.emulator_client import EmulatorControl

BODY: dict[str, Any] = {
    "displayName": "Weekly baseline 1",
    "description": "Entra and Teams",
    "resources": ["microsoft.entra.conditionalAccessPolicy", "microsoft.teams.meetingPolicy"],
}


def post(api: httpx.Client, body: object = BODY, key: str | None = None, **kwargs: object) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return api.post("/api/snapshots", json=body, headers=headers, **kwargs)  # type: ignore[arg-type]


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    assert "Traceback" not in response.text
    return problem


def test_accepted_with_absolute_location_keeping_the_code(api: httpx.Client, emulator: EmulatorControl) -> None:
    response = post(api, params={"code": "secret-key"})
    assert response.status_code == 202, response.text
    job = response.json()
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert parts.scheme == "http" and parts.netloc == urlsplit(str(api.base_url)).netloc
    assert parts.path == f"/api/snapshots/{job['id']}"
    assert parts.query == "code=secret-key"
    assert response.headers["Retry-After"] == "1"
    assert job["displayName"] == BODY["displayName"]
    assert job["description"] == BODY["description"]
    assert job["resources"] == BODY["resources"]
    assert job["status"] == "notStarted"
    assert job["contentState"] == "pending"
    assert job["links"]["self"] == location
    assert job["links"]["resources"].startswith(f"{parts.scheme}://{parts.netloc}{parts.path}/resources")
    assert [j["id"] for j in emulator.jobs()] == [job["id"]]
    assert emulator.counts()["create"] == 1

    status = api.get(location)
    assert status.status_code == 202
    assert status.json()["id"] == job["id"]
    assert status.headers["Location"] == location


def test_invalid_display_name_is_refused_before_graph(api: httpx.Client, emulator: EmulatorControl) -> None:
    for name in ("Weekly-baseline 1", "Weekly_baseline_1", "short"):
        problem = assert_problem(post(api, {**BODY, "displayName": name}), 400)
        assert [e["field"] for e in problem["errors"]] == ["displayName"]
    assert emulator.counts()["create"] == 0


def test_validation_errors_name_field_and_rule(api: httpx.Client, emulator: EmulatorControl) -> None:
    problem = assert_problem(post(api, {**BODY, "resources": ["microsoft.entra.conditional-AccessPolicy"]}), 400)
    assert problem["errors"][0]["field"] == "resources"
    assert "microsoft.entra.conditionalAccessPolicy" in problem["errors"][0]["message"]
    problem = assert_problem(post(api, {**BODY, "colour": "blue"}), 400)
    assert problem["errors"] == [{"field": "colour", "message": "is not a known field"}]
    problem = assert_problem(post(api, {"displayName": BODY["displayName"]}), 400)
    assert problem["errors"] == [{"field": "resources", "message": "is required"}]
    assert emulator.counts()["create"] == 0


def test_a_well_formed_name_outside_the_catalogue_is_passed_on_with_a_warning(
    api: httpx.Client, emulator: EmulatorControl
) -> None:
    response = post(api, {**BODY, "resources": ["microsoft.entra.condtionalAccessPolicy"]})
    assert response.status_code == 202
    [warning] = response.json()["warnings"]
    assert "microsoft.entra.conditionalAccessPolicy" in warning  # did you mean
    assert emulator.jobs()[0]["resources"] == ["microsoft.entra.condtionalAccessPolicy"]


def test_body_must_be_json_and_small(api: httpx.Client, emulator: EmulatorControl) -> None:
    assert_problem(api.post("/api/snapshots", content=b"displayName=x", headers={"Content-Type": "text/plain"}), 415)
    assert_problem(api.post("/api/snapshots", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    big = {**BODY, "description": "x" * (70 * 1024)}
    assert_problem(
        api.post("/api/snapshots", content=json.dumps(big), headers={"Content-Type": "application/json"}), 413
    )
    assert emulator.counts()["create"] == 0


def test_types_graph_does_not_accept_are_named(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(unsupportedTypes=["microsoft.teams.meetingpolicy"])
    problem = assert_problem(post(api), 400)
    assert problem["unsupportedResources"] == ["microsoft.teams.meetingPolicy"]
    assert "microsoft.teams.meetingPolicy" in problem["detail"]


def test_a_taken_display_name_is_a_conflict_naming_the_existing_job(
    api: httpx.Client, emulator: EmulatorControl
) -> None:
    existing = emulator.create_job(displayName=BODY["displayName"], resources=["microsoft.entra.user"])
    problem = assert_problem(post(api), 409)
    assert problem["existingJobId"] == existing["id"]
    assert BODY["displayName"] in problem["detail"]


def test_twelve_jobs_in_graph_is_a_conflict_saying_how_to_free_a_slot(
    api: httpx.Client, emulator: EmulatorControl
) -> None:
    existing = [
        emulator.create_job(displayName=f"Existing job {n:02d}", resources=["microsoft.entra.user"])["id"]
        for n in range(12)
    ]
    problem = assert_problem(post(api), 409)
    assert "12" in problem["detail"]
    assert "DELETE /api/snapshots/" in problem["detail"]
    assert sorted(job["id"] for job in problem["visibleJobs"]) == sorted(existing)
    assert emulator.counts()["create"] == 0  # decided from the count, before any create


def test_missing_graph_permission_is_a_bad_gateway_naming_it(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(permission="Read")
    problem = assert_problem(post(api), 502)
    assert "ConfigurationMonitoring.ReadWrite.All" in problem["detail"]


def test_graph_throttling_is_503_with_retry_after(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.add_fault(method="POST", path="createSnapshot", status=429, retryAfter=7)
    response = post(api)
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "7"
    assert emulator.counts()["create"] == 1  # the SDK did not resend the create
    assert emulator.jobs() == []


def test_a_503_on_create_is_not_resent_and_nothing_is_created(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.add_fault(method="POST", path="createSnapshot", status=503, times=1)
    response = post(api, key="graph-down")
    assert_problem(response, 503)
    assert "Retry-After" in response.headers
    assert emulator.counts()["create"] == 1
    assert emulator.jobs() == []
    # the key was released: the retry after Graph recovers creates the job
    assert post(api, key="graph-down").status_code == 202
    assert len(emulator.jobs()) == 1


def test_a_create_whose_response_is_lost_is_adopted_not_repeated(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.add_fault(method="POST", path="createSnapshot", action="drop")
    response = post(api, key="lost-response")
    assert response.status_code == 202, response.text
    jobs = emulator.jobs()
    assert len(jobs) == 1
    assert response.json()["id"] == jobs[0]["id"]
    assert emulator.counts()["create"] == 1
    again = post(api, key="lost-response")
    assert again.status_code == 202 and again.json()["id"] == jobs[0]["id"]
    assert emulator.counts()["create"] == 1


def test_a_request_retried_three_times_with_one_key_creates_one_job(
    api: httpx.Client, emulator: EmulatorControl
) -> None:
    ids = {post(api, key="run-0001").json()["id"] for _ in range(4)}
    assert len(ids) == 1
    assert emulator.counts()["create"] == 1
    assert len(emulator.jobs()) == 1


def test_the_same_key_with_another_body_is_a_conflict(api: httpx.Client, emulator: EmulatorControl) -> None:
    first = post(api, key="run-0002")
    assert first.status_code == 202
    problem = assert_problem(post(api, {**BODY, "displayName": "Another name 2"}, key="run-0002"), 409)
    assert "Idempotency-Key" in problem["detail"]
    assert emulator.counts()["create"] == 1


def test_twenty_concurrent_requests_with_one_key_make_one_job(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(latencyMs=300)  # widen the race window
    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(lambda _: post(api, key="burst-key"), range(20)))
    assert {r.status_code for r in responses} == {202}, [r.text for r in responses if r.status_code != 202]
    assert len({r.json()["id"] for r in responses}) == 1
    assert emulator.counts()["create"] == 1
    assert len(emulator.jobs()) == 1


def test_get_unknown_snapshot_is_404_problem(api: httpx.Client) -> None:
    assert_problem(api.get("/api/snapshots/00000000-0000-0000-0000-000000000000"), 404)
