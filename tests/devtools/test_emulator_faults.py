"""Injected faults, latency and the request log (devtools/emulator/faults.py, requestlog.py).

The emulator runs as a subprocess (tests/conftest.py `emulator_service`); the `emulator` fixture resets it.
"""

from __future__ import annotations

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ManagedIdentityCredential
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from devtools.emulator_client import EmulatorControl
from tests.devtools.emulator_graph import CA, GRAPH_SCOPE, Graph, fast, odata_error


async def test_a_429_with_retry_after_is_retried_by_the_sdk(graph: Graph, emulator: EmulatorControl) -> None:
    await graph.create("Retried list job", [CA])
    emulator.add_fault(method="GET", path="configurationSnapshotJobs", status=429, retryAfter=1)
    page = await graph.page()
    assert len(page.value or []) == 1
    listed = [r for r in emulator.requests() if r["op"] == "list"]
    assert [(r["status"], r["fault"]) for r in listed] == [(429, "respond"), (200, None)]


async def test_a_respond_fault_does_no_work(graph: Graph, emulator: EmulatorControl) -> None:
    emulator.add_fault(method="POST", path="createSnapshot", status=503, retryAfter=1)
    answer = await graph.raw(
        "POST",
        "/admin/configurationManagement/configurationSnapshots/createSnapshot",
        json={"displayName": "Not created job", "resources": [CA]},
    )
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert answer.json()["error"]["code"] == "ServiceUnavailable"
    assert emulator.jobs() == []
    assert emulator.counts()["create"] == 1


async def test_a_dropped_create_creates_the_job_but_loses_the_response(graph: Graph, emulator: EmulatorControl) -> None:
    emulator.add_fault(method="POST", path="createSnapshot", action="drop")
    with pytest.raises(httpx.TransportError):
        await graph.create("Lost response job", [CA])
    assert [j["displayName"] for j in emulator.jobs()] == ["Lost response job"]
    assert emulator.counts()["create"] == 1
    with pytest.raises(ODataError) as exc:  # the fault was used up: a resend meets the taken name
        await graph.create("Lost response job", [CA])
    assert odata_error(exc)[0] == 409


async def test_a_reset_does_no_work(graph: Graph, emulator: EmulatorControl) -> None:
    emulator.add_fault(method="*", path="createSnapshot", action="reset", times=1)
    with pytest.raises(httpx.TransportError):
        await graph.create("Reset connection job", [CA])
    assert emulator.jobs() == []
    await graph.create("Reset connection job", [CA])
    assert len(emulator.jobs()) == 1


async def test_delay_faults_and_latency_slow_requests_down(graph: Graph, emulator: EmulatorControl) -> None:
    await graph.page()  # the token is fetched outside the timed calls
    emulator.add_fault(method="GET", path="configurationSnapshotJobs", action="delay", delayMs=400)
    await graph.page()
    emulator.configure(latencyMs=300)
    await graph.page()
    listed = [r for r in emulator.requests() if r["op"] == "list"]
    # What the emulator waited before answering, as its log records it (no wall-clock assertion).
    assert [(r.get("fault"), r.get("waitedMs")) for r in listed[-2:]] == [("delay", 400.0), (None, 300.0)]


async def test_token_endpoint_faults_fail_the_credential(graph_env: dict[str, str], emulator: EmulatorControl) -> None:
    emulator.add_fault(method="GET", path="/msi/token", status=500, times=10)
    credential = ManagedIdentityCredential()
    try:
        with pytest.raises(ClientAuthenticationError):
            await credential.get_token(GRAPH_SCOPE)
    finally:
        await credential.close()
    assert emulator.counts()["token"] >= 1
    assert all(r["status"] == 500 for r in emulator.requests() if r["op"] == "token")


async def test_faults_can_be_listed_and_cleared(graph: Graph, emulator: EmulatorControl) -> None:
    emulator.add_fault(method="GET", path="configurationSnapshotJobs", status=500, times=5)
    emulator.clear_faults()
    await graph.page()
    assert [r["status"] for r in emulator.requests() if r["op"] == "list"] == [200]


async def test_requests_are_counted_by_operation(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    job = await graph.finished((await graph.create("Counted requests", [CA])).id)
    assert job.resource_location
    await graph.download(job.resource_location)
    await graph.page()
    await graph.delete(job.id)
    counts = emulator.counts()
    assert counts["create"] == 1 and counts["list"] == 1 and counts["delete"] == 1 and counts["download"] == 1
    assert counts["token"] == 1 and counts["get"] >= 1
    entry = next(r for r in emulator.requests() if r["op"] == "create")
    assert set(entry) >= {"method", "path", "query", "status", "authorized", "hadAuthorization", "prefer", "host", "op"}
    assert entry["method"] == "POST" and entry["status"] == 200 and entry["host"].startswith("127.0.0.1:")
    emulator.clear_requests()
    assert emulator.requests() == [] and set(emulator.counts().values()) == {0}


async def test_content_faults_redirect_spoil_or_cut_the_download(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    job = await graph.finished((await graph.create("Spoilt content job", [CA])).id)
    assert job.resource_location
    whole = (await graph.raw("GET", job.resource_location)).content
    emulator.add_fault(method="GET", path="configurationSnapshots(", action="redirect", location="https://x.test/a")
    emulator.add_fault(method="GET", path="configurationSnapshots(", action="notJson")
    emulator.add_fault(method="GET", path="configurationSnapshots(", action="truncate")
    redirected = await graph.raw("GET", job.resource_location)
    assert (redirected.status_code, redirected.headers["Location"]) == (302, "https://x.test/a")
    not_json = await graph.raw("GET", job.resource_location)
    assert not_json.status_code == 200 and not_json.headers["Content-Type"].startswith("text/html")
    cut = await graph.raw("GET", job.resource_location)
    assert cut.status_code == 200 and cut.content == whole[: len(whole) // 2]
    assert (await graph.raw("GET", job.resource_location)).content == whole  # the faults were used up


async def test_a_status_value_graph_may_add_and_error_details_as_objects(
    graph: Graph, emulator: EmulatorControl
) -> None:
    fast(emulator)
    job = await graph.finished((await graph.create("Future status job", [CA])).id)
    details = [{"resourceType": CA, "message": "boom"}, None, "plain"]
    emulator.update_job(job.id or "", statusText="archivedSomehow", errorDetails=details)
    answer = await graph.raw("GET", f"/admin/configurationManagement/configurationSnapshotJobs/{job.id}",
                             params={"$select": "status,errorDetails,resourceLocation"})  # fmt: skip
    body = answer.json()
    assert body["status"] == "archivedSomehow" and body["errorDetails"] == details
    assert body["resourceLocation"]  # the content stays
