"""What Graph really sends, read as it is: bad downloads, unknown statuses, errorDetails of any shape,
types beyond the catalogue, skipUnsupported, per-type outcomes and the job slots on /quota.

In-process against Azurite and the emulator (real msgraph-sdk over HTTP, real managed-identity credential).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from devtools.emulator_client import EmulatorControl
from snapshot import clients, errors, http_api
from snapshot.models import CONTENT_ATTEMPTS_MAX, ContentState, Lifecycle, StartSnapshotRequest
from snapshot.usecases import poll, reads
from snapshot.usecases.start import start_snapshot
from snapshot.views import job_view
from tests.support.inprocess import served_content

CA = "microsoft.entra.conditionalAccessPolicy"
TEAMS = "microsoft.teams.meetingPolicy"
USER = "microsoft.entra.user"


async def start(name: str, resources: list[str], **body: Any) -> str:
    request = StartSnapshotRequest(displayName=name, resources=resources, **body)
    return (await start_snapshot(request)).record.id


def content_path(emulator: EmulatorControl, job_id: str) -> str:
    job = next(j for j in emulator.jobs() if j["id"] == job_id)
    return "configurationSnapshots('" + job["resourceLocation"].split("('")[1]


async def make_due(job_id: str) -> None:
    """Move a failed download's next try into the past (instead of waiting for the backoff)."""
    record = await reads.get_job(job_id)
    await clients.store().jobs.apply(record, {"content_retry_at": datetime.now(UTC) - timedelta(seconds=1)})


BAD_DOWNLOADS = {
    "redirect": {"action": "redirect"},
    "status 500": {"action": "respond", "status": 500},
    "not JSON": {"action": "notJson"},
    "truncated": {"action": "truncate"},
    "JSON, not a baseline": {"action": "respond", "status": 200},  # Graph's error envelope, answered 200
}


@pytest.mark.parametrize("fault", BAD_DOWNLOADS.values(), ids=list(BAD_DOWNLOADS))
async def test_one_bad_download_marks_that_job_and_the_tick_stores_the_others(
    app_env: dict[str, str], emulator: EmulatorControl, fault: dict[str, Any]
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    bad, good = await start("Bad download job", [CA]), await start("Good download job", [CA])
    emulator.add_fault(method="GET", path=content_path(emulator, bad), times=1, **fault)
    report = await poll.poll()
    assert report.downloaded == 1 and report.failures == 1
    assert report.failed_jobs[0].startswith(f"{bad}: ")
    assert (await reads.get_job(good)).content_state == ContentState.STORED
    record = await reads.get_job(bad)
    assert record.content_state == ContentState.ERROR and record.content_error
    assert record.content_attempts == 1 and record.content_retry_at is not None
    assert record.lifecycle == Lifecycle.RUNNING  # retried later: the caller keeps waiting
    assert [row async for row in clients.store().resources.scan(bad)] == []  # checked before anything was written

    emulator.clear_requests()
    assert (await poll.poll()).downloaded == 0 and emulator.counts()["download"] == 0  # backing off
    await make_due(bad)
    assert (await poll.poll()).downloaded == 1
    stored = await reads.get_job(bad)
    assert stored.content_state == ContentState.STORED and stored.content_retry_at is None


async def test_a_download_that_keeps_failing_stops_at_the_limit(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job_id = await start("Always corrupt job", [CA])
    emulator.add_fault(method="GET", path=content_path(emulator, job_id), action="truncate", times=100)
    for _ in range(CONTENT_ATTEMPTS_MAX):
        await poll.poll()
        if (await reads.get_job(job_id)).content_retry_at:
            await make_due(job_id)
    record = await reads.get_job(job_id)
    assert record.content_attempts == CONTENT_ATTEMPTS_MAX and record.content_retry_at is None
    assert record.lifecycle == Lifecycle.NO_CONTENT and "not complete JSON" in (record.content_error or "")
    emulator.clear_requests()
    await poll.poll()
    assert emulator.counts()["download"] == 0


async def test_an_unknown_status_with_a_location_is_stored_and_shown_as_graph_sent_it(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job_id = await start("Future status job", [CA])
    emulator.complete_job(job_id)
    details = [{"resourceType": CA, "message": "an object, not a string"}, None, "plain text"]
    emulator.update_job(job_id, statusText="archivedForLater", errorDetails=details)
    report = await poll.poll()
    assert report.downloaded == 1 and report.failures == 0
    record = await reads.get_job(job_id)
    assert record.content_state == ContentState.STORED
    assert record.resource_count == len(served_content(emulator, job_id)["resources"])
    view = job_view(record, "https://app.example/api/snapshots/x")
    assert view.status == "archivedForLater"
    assert view.errorDetails == [json.dumps(details[0], sort_keys=True), "plain text"]  # nulls left out


async def test_a_type_outside_the_catalogue_reaches_graph_and_the_job_is_stored(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    newcomer = "microsoft.entra.brandNewSetting"
    result = await start_snapshot(StartSnapshotRequest(displayName="Newcomer type job", resources=[newcomer, CA]))
    [warning] = result.record.warnings
    assert newcomer in warning and "not in the documented catalogue" in warning
    await poll.poll()
    record = await reads.get_job(result.record.id)
    assert record.content_state == ContentState.STORED and record.resource_type_counts[newcomer.lower()] > 0
    assert [j["resources"] for j in emulator.jobs()] == [[newcomer, CA]]


async def test_graphs_400_decides_and_names_the_types(app_env: dict[str, str], emulator: EmulatorControl) -> None:
    emulator.configure(unsupportedTypes=[TEAMS])
    with pytest.raises(errors.GraphUnsupportedTypes) as caught:
        await start("Refused type job", [CA, TEAMS])
    assert caught.value.types == [TEAMS] and emulator.jobs() == []


async def test_skip_unsupported_retries_once_without_the_named_types(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, unsupportedTypes=[TEAMS])
    result = await start_snapshot(
        StartSnapshotRequest(displayName="Skipping job one", resources=[CA, TEAMS], skipUnsupported=True)
    )
    assert result.record.skipped_resources == [TEAMS] and result.record.resources == [CA]
    assert emulator.counts()["create"] == 2
    await poll.poll()
    view = job_view(await reads.get_job(result.record.id), "https://app.example/api/snapshots/x")
    assert view.skippedResources == [TEAMS] and view.contentState == ContentState.STORED

    emulator.configure(unsupportedTypes=[CA, TEAMS])  # nothing left to create: Graph's 400 stands
    with pytest.raises(errors.GraphUnsupportedTypes):
        await start("Skipping job two", [CA, TEAMS], skipUnsupported=True)
    assert emulator.counts()["create"] == 3


async def test_a_wildcard_expands_and_the_job_shows_the_expansion(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    result = await start_snapshot(StartSnapshotRequest(displayName="Wildcard job", resources=["microsoft.teams.*"]))
    [(wildcard, types)] = result.record.resource_expansion.items()
    assert wildcard == "microsoft.teams.*" and TEAMS in types
    assert emulator.jobs()[0]["resources"] == types
    stored = await reads.get_job(result.record.id)
    assert stored.resource_expansion == {"microsoft.teams.*": types}


async def test_a_partial_job_shows_each_types_outcome(app_env: dict[str, str], emulator: EmulatorControl) -> None:
    emulator.configure(
        jobStartSeconds=0, jobDurationSeconds=0, failingTypes={TEAMS: "Access denied"}, resourceCounts={USER: 0}
    )
    job_id = await start("Partial outcome job", [CA, TEAMS, USER])
    await poll.poll()
    record = await reads.get_job(job_id)
    assert record.status == "partiallySuccessful" and record.content_state == ContentState.STORED
    view = job_view(record, "https://app.example/api/snapshots/x")
    outcomes = {o.resourceType: (o.outcome, o.instances) for o in view.typeOutcomes}
    assert outcomes == {CA: ("stored", 3), TEAMS: ("error", 0), USER: ("missing", 0)}
    assert view.failedTypes == [TEAMS]
    assert "Access denied" in (next(o.error for o in view.typeOutcomes if o.resourceType == TEAMS) or "")


async def test_quota_shows_graphs_job_slots(app_env: dict[str, str], emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=600)
    await start("App made slot job", [CA])
    emulator.create_job(displayName="Other tool slot one", resources=[CA])
    await poll.poll()  # adopts it
    emulator.create_job(displayName="Other tool slot two", resources=[CA])  # not adopted yet
    response = await http_api.get_quota(func.HttpRequest(method="GET", url="http://h/api/quota", body=b""))
    slots = json.loads(response.get_body())["jobSlots"]
    assert slots == {"visible": 3, "limit": 12, "madeByApp": 1, "adopted": 2}
