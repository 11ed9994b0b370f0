"""Graph's 12-job cap decided from the count, and whose jobs may be deleted (SNAPSHOT_PRUNE_SCOPE).

In-process against Azurite and the emulator (real msgraph-sdk, real managed-identity credential). The
emulator's answer at the cap is configurable because Graph publishes none; the cap tests run under
each of 400, 403, 409 and 429 and must end the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest

from devtools.emulator_client import EmulatorControl
from snapshot import clients, errors, http_api
from snapshot.models import ContentState, StartSnapshotRequest
from snapshot.usecases import poll, reads
from snapshot.usecases.start import start_snapshot
from tests.support import use_setting

TYPES = ["microsoft.entra.conditionalAccessPolicy"]
CAP_ANSWERS = [400, 403, 409, 429]


async def start(name: str) -> str:
    return (await start_snapshot(StartSnapshotRequest(displayName=name, resources=TYPES))).record.id


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def other_tools_jobs(emulator: EmulatorControl, count: int, status: str = "succeeded", days_old: int = 2) -> list[str]:
    """Jobs another tool made, oldest first."""
    base = datetime.now(UTC) - timedelta(days=days_old)
    return [
        emulator.create_job(displayName=f"Other tool job {n:02d}", resources=TYPES, status=status,
                            createdDateTime=iso(base + timedelta(minutes=n)))["id"]
        for n in range(count)
    ]  # fmt: skip


async def own_stored_jobs(count: int) -> list[str]:
    ids = [await start(f"App made job {n:02d}") for n in range(count)]
    await poll.poll()
    for job_id in ids:
        assert (await reads.get_job(job_id)).content_state == ContentState.STORED
    return ids


async def when_the_create_arrives(emulator: EmulatorControl) -> None:
    """Wait until the emulator has the create request (it holds it for the fault's delay)."""
    for _ in range(400):
        if any(r["op"] == "create" for r in emulator.requests()):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the create never reached the emulator")


async def test_a_13th_start_frees_the_oldest_job_this_app_made_never_an_adopted_one(
    app_env: dict[str, str], emulator: EmulatorControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="snapshot.usecases.graph_jobs")
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    adopted = other_tools_jobs(emulator, 10)  # older than the app's own, and stored once adopted
    own = await own_stored_jobs(2)
    emulator.clear_requests()
    new_id = await start("The thirteenth job")
    assert {job["id"] for job in emulator.jobs()} == set(adopted) | {own[1], new_id}
    assert (await reads.get_job(own[0])).graph_deleted is True
    assert emulator.counts()["list"] == 1 and emulator.counts()["create"] == 1  # counted first: no refused create
    assert emulator.counts()["delete"] == 1
    [deletion] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("deleted job")]
    assert own[0] in deletion and "source api" in deletion and "to make room under Graph's 12-job cap" in deletion


async def test_at_the_cap_with_only_adopted_jobs_the_start_is_a_409_naming_the_visible_jobs(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    adopted = other_tools_jobs(emulator, 12)
    await poll.poll()
    assert {(await reads.get_job(i)).content_state for i in adopted} == {ContentState.STORED}
    request = func.HttpRequest(
        method="POST", url="http://h/api/snapshots", headers={"Content-Type": "application/json"},
        body=json.dumps({"displayName": "The thirteenth job", "resources": TYPES}).encode(),
    )  # fmt: skip
    response = await http_api.start_snapshot(request)
    assert response.status_code == 409
    problem = json.loads(response.get_body())
    assert sorted(job["id"] for job in problem["visibleJobs"]) == sorted(adopted)
    assert "SNAPSHOT_PRUNE_SCOPE=own" in problem["detail"] and "DELETE /api/snapshots/" in problem["detail"]
    assert emulator.counts()["delete"] == 0 and emulator.counts()["create"] == 0


async def test_with_prune_scope_stored_an_adopted_stored_job_makes_room(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_setting(monkeypatch, "SNAPSHOT_PRUNE_SCOPE", "stored")
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    running = other_tools_jobs(emulator, 1, status="running", days_old=3)  # oldest, but its content is not stored
    adopted = other_tools_jobs(emulator, 11)
    await poll.poll()
    await start("The thirteenth job")
    visible = {job["id"] for job in emulator.jobs()}
    assert running[0] in visible and adopted[0] not in visible and set(adopted[1:]) <= visible
    assert (await reads.get_job(adopted[0])).graph_deleted is True
    assert emulator.counts()["delete"] == 1


async def test_pruning_switched_off_deletes_nothing(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_setting(monkeypatch, "SNAPSHOT_PRUNE_STORED_JOBS", "false")
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    other_tools_jobs(emulator, 10)
    await own_stored_jobs(2)
    with pytest.raises(errors.JobSlotsFull):
        await start("The thirteenth job")
    assert emulator.counts()["delete"] == 0


async def test_retention_frees_only_the_apps_own_jobs_unless_the_scope_is_stored(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    [adopted] = other_tools_jobs(emulator, 1, days_old=8)
    [own] = await own_stored_jobs(1)
    store = clients.store()
    record = await reads.get_job(own)
    await store.jobs.apply(record, {"created": datetime.now(UTC) - timedelta(days=8)})  # as if started 8 days ago
    report = await poll.poll()
    assert report.pruned == 1 and [job["id"] for job in emulator.jobs()] == [adopted]
    assert (await reads.get_job(adopted)).graph_deleted is False

    use_setting(monkeypatch, "SNAPSHOT_PRUNE_SCOPE", "stored")
    report = await poll.poll()
    assert report.pruned == 1 and emulator.jobs() == []
    assert (await reads.get_job(adopted)).graph_deleted is True


@pytest.mark.parametrize("cap_status", CAP_ANSWERS)
async def test_a_create_refused_at_the_cap_is_explained_from_the_count_whatever_graph_answered(
    app_env: dict[str, str], emulator: EmulatorControl, cap_status: int
) -> None:
    """Another tool takes the 12th slot between the app's count and its create."""
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, capStatus=cap_status,
                       capBody={"error": {"code": "SomethingNew", "message": "a text the app has never seen"}})  # fmt: skip
    other_tools_jobs(emulator, 11)
    emulator.add_fault(method="POST", path="createSnapshot", action="delay", delayMs=1500)
    task = asyncio.create_task(start("The twelfth job"))
    await when_the_create_arrives(emulator)
    twelfth = emulator.create_job(displayName="Another tools twelfth", resources=TYPES)["id"]
    with pytest.raises(errors.JobSlotsFull) as caught:
        await task
    assert caught.value.status == 409 and twelfth in {job_id for job_id, _ in caught.value.visible_jobs}
    assert emulator.counts()["create"] == 1 and emulator.counts()["list"] == 2  # counted before and after
    assert emulator.counts()["delete"] == 0


@pytest.mark.parametrize("cap_status", CAP_ANSWERS)
async def test_a_create_refused_at_the_cap_makes_room_and_creates_once_more(
    app_env: dict[str, str], emulator: EmulatorControl, cap_status: int
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, capStatus=cap_status)
    other_tools_jobs(emulator, 10)
    [own] = await own_stored_jobs(1)
    emulator.clear_requests()
    emulator.add_fault(method="POST", path="createSnapshot", action="delay", delayMs=1500)
    task = asyncio.create_task(start("The twelfth job"))
    await when_the_create_arrives(emulator)
    emulator.create_job(displayName="Another tools twelfth", resources=TYPES)
    new_id = await task
    assert new_id in {job["id"] for job in emulator.jobs()} and len(emulator.jobs()) == 12
    assert (await reads.get_job(own)).graph_deleted is True
    assert emulator.counts()["create"] == 2 and emulator.counts()["delete"] == 1


async def test_a_refused_create_below_the_cap_shows_graphs_answer_unread(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.add_fault(method="POST", path="createSnapshot", status=409)
    with pytest.raises(errors.GraphError) as caught:
        await start("Refused for no known reason")
    assert not isinstance(caught.value, errors.Conflict)
    assert caught.value.status == 502 and "409" in caught.value.detail
    assert emulator.counts()["list"] == 2 and emulator.counts()["delete"] == 0


async def test_a_taken_name_is_a_conflict_decided_from_the_list(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    existing = emulator.create_job(displayName="Taken name job", resources=TYPES)["id"]
    with pytest.raises(errors.Conflict) as caught:
        await start("Taken name job")
    assert caught.value.existing_job_id == existing
    assert emulator.counts()["create"] == 0
