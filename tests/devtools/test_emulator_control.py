"""The emulator's `/_emulator/*` control API (devtools/emulator/control.py) and its command line.

The emulator runs as a subprocess (tests/conftest.py `emulator_service`); the `emulator` fixture resets it.
"""

from __future__ import annotations

import json

import httpx
import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.snapshot_job_status import SnapshotJobStatus

from devtools import services
from devtools.emulator_client import EmulatorControl
from snapshot.graph import JOB_FIELDS
from tests.devtools.emulator_graph import CA, Graph, fast, odata_error, snapshot_id_of


async def test_jobs_created_directly_follow_the_same_rules(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    running = emulator.create_job(displayName="Another tool job", resources=[CA], status="running")
    assert running["status"] == "running" and running["createdBy"]["user"]["displayName"]
    assert (await graph.get(running["id"])).status == SnapshotJobStatus.Running  # pinned: no progress
    done = emulator.update_job(running["id"], status="succeeded")
    assert done["status"] == "succeeded" and done["completedDateTime"] != "0001-01-01T00:00:00Z"
    content = emulator.snapshot_content(snapshot_id_of(done["resourceLocation"]))
    assert len(content["resources"]) == 3

    old = emulator.create_job(
        displayName="Old job 1",
        resources=[CA],
        description="from last week",
        createdDateTime="2026-01-02T03:04:05.1234567Z",
    )
    fetched = await graph.get(old["id"], select=JOB_FIELDS)
    assert fetched.status == SnapshotJobStatus.Succeeded  # long past its duration
    assert fetched.created_date_time is not None and fetched.created_date_time.year == 2026
    assert fetched.description == "from last week"

    failed = emulator.create_job(displayName="Broken job", resources=[CA], status="failed", errorDetails=["boom"])
    assert failed["resourceLocation"] == "" and failed["errorDetails"] == ["boom"]

    emulator.configure(jobStartSeconds=60)
    pending = emulator.create_job(displayName="Pending job", resources=[CA])
    assert pending["status"] == "notStarted"
    completed = emulator.complete_job(pending["id"])
    assert completed["status"] == "succeeded" and completed["resourceLocation"]
    assert len(emulator.jobs()) == 4


async def test_an_expired_job_and_its_content_are_gone(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    job = await graph.finished((await graph.create("Expiring job one", [CA])).id)
    assert job.id and job.resource_location
    emulator.expire_job(job.id)
    with pytest.raises(ODataError) as exc:
        await graph.get(job.id)
    assert odata_error(exc)[0] == 404
    with pytest.raises(ODataError) as exc:
        await graph.download(job.resource_location)
    assert odata_error(exc)[0] == 404
    assert emulator.jobs() == []


async def test_config_merges_validates_and_resets(emulator: EmulatorControl) -> None:
    emulator.configure(pageSize=5000, failingTypes={"Microsoft.Teams.MeetingPolicy": "x"})
    config = emulator.config()
    assert config["pageSize"] == config["maxPageSize"] == 999 and config["failingTypes"] == {
        "microsoft.teams.meetingpolicy": "x"
    }
    assert config["jobStartSeconds"] == 0.2 and config["permission"] == "ReadWrite"
    with pytest.raises(RuntimeError):
        emulator.configure(notAKey=1)
    with pytest.raises(RuntimeError):
        emulator.configure(permission="Everything")
    emulator.reset()
    config = emulator.config()
    assert (config["pageSize"], config["maxPageSize"], config["failingTypes"]) == (100, 999, {})


def test_the_command_line_announces_where_it_listens() -> None:
    port = services.free_port()
    service = services.emulator(port, log_path=services.ROOT / ".local" / "test-logs" / "emulator-cli.log").start()
    try:
        assert EmulatorControl(f"http://127.0.0.1:{port}").config()["defaultResourceCount"] == 3
    finally:
        service.stop()
    assert service.log_path is not None
    assert f"emulator listening on http://127.0.0.1:{port}" in service.log_path.read_text()


def test_the_control_api_lists_its_routes_one_line_each(emulator: EmulatorControl) -> None:
    answer = httpx.get(f"{emulator.base_url}/_emulator/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    lines = answer.text.strip().splitlines()
    routes = emulator.routes()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == len(routes) + 2  # one route per line
    assert [json.loads(line.rstrip(",")) for line in lines[1:-1]] == routes
    assert {(r["method"], r["path"]) for r in routes} == {
        ("GET", "/_emulator/"), ("POST", "/_emulator/reset"), ("GET", "/_emulator/config"),
        ("POST", "/_emulator/config"), ("GET", "/_emulator/faults"), ("POST", "/_emulator/faults"),
        ("DELETE", "/_emulator/faults"), ("GET", "/_emulator/requests"), ("DELETE", "/_emulator/requests"),
        ("GET", "/_emulator/tenant"), ("POST", "/_emulator/tenant"), ("GET", "/_emulator/jobs"),
        ("POST", "/_emulator/jobs"), ("PATCH", "/_emulator/jobs/{job_id}"),
        ("POST", "/_emulator/jobs/{job_id}/complete"), ("POST", "/_emulator/jobs/{job_id}/expire"),
        ("GET", "/_emulator/snapshots/{snapshot_id}"), ("GET", "/_emulator/monitors"),
        ("POST", "/_emulator/monitors"), ("POST", "/_emulator/monitors/limits"), ("POST", "/_emulator/monitors/run"),
        ("POST", "/_emulator/monitors/age"), ("GET", "/_emulator/tenants"), ("POST", "/_emulator/tenants"),
        ("PATCH", "/_emulator/tenants/{tenant_id}"), ("GET", "/_emulator/app"), ("POST", "/_emulator/app"),
    }  # fmt: skip
    assert all(r["description"] and "\n" not in r["description"] for r in routes)
    reset = next(r for r in routes if r["path"] == "/_emulator/reset")
    assert "request log" in reset["description"]
    unknown = httpx.get(f"{emulator.base_url}/_emulator/nothing-here")
    assert unknown.status_code == 404 and unknown.json() == {"error": "no control route GET /_emulator/nothing-here"}
