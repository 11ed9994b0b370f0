"""poll_snapshots: reconcile with one Graph list call, adopt, download, store, and survive failures.

In-process tests call snapshot.poll.poll() (the timer's only call); the end-to-end ones run the timer
through the local host's admin endpoint. Azurite and the emulator are real throughout.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

import pytest

from devtools.emulator_client import EmulatorControl
from snapshot import clients, errors
from snapshot.models import ContentState, JobRecord, JobStatus, StartSnapshotRequest
from snapshot.store import resources as resources_table
from snapshot.store.jobs import JobTable
from snapshot.store.resources import ResourceTable
from snapshot.usecases import ingest, poll, reads
from snapshot.usecases.start import start_snapshot
from tests.support import stored_resources, use_setting

TYPES = ["microsoft.entra.conditionalAccessPolicy", "microsoft.teams.meetingPolicy"]


async def start(name: str, resources: list[str] = TYPES) -> str:
    result = await start_snapshot(StartSnapshotRequest(displayName=name, resources=resources))
    return result.record.id


def snapshot_id(emulator: EmulatorControl, job_id: str) -> str:
    job = next(j for j in emulator.jobs() if j["id"] == job_id)
    return job["resourceLocation"].split("('")[1].split("')")[0]


async def table_rows(job_id: str) -> dict[str, dict[str, Any]]:
    return {e["RowKey"]: dict(e) async for e in clients.store().resources.scan(job_id)}


def canonical(resources: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in resources)


async def test_a_tick_with_twelve_pending_jobs_makes_one_graph_call(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(jobDurationSeconds=600)
    for n in range(12):
        await start(f"Pending job {n:02d}")
    emulator.clear_requests()
    report = await poll.poll()
    counts = emulator.counts()
    assert counts["list"] == 1
    assert counts["get"] == counts["download"] == counts["create"] == 0
    assert report.graph_calls == 1 and report.seen == 12


async def test_list_pages_are_followed(app_env: dict[str, str], emulator: EmulatorControl) -> None:
    emulator.configure(jobDurationSeconds=600, pageSize=5)
    for n in range(12):
        emulator.create_job(displayName=f"Paged job {n:02d}", resources=["microsoft.entra.user"])
    report = await poll.poll()
    assert report.adopted == 12
    assert emulator.counts()["list"] == 3
    assert all(r["prefer"] == "include-unknown-enum-members" for r in emulator.requests() if r["op"] == "list")


async def test_a_job_created_by_another_tool_is_adopted_and_followed(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job = emulator.create_job(displayName="Made by another tool", resources=["microsoft.entra.user"])
    report = await poll.poll()
    assert report.adopted == 1
    record = await reads.get_job(job["id"])
    assert record.source == "adopted"
    assert record.content_state == ContentState.STORED  # finished, so stored in the same tick
    assert record.resource_count == 3


async def test_finished_content_is_stored_exactly(app_env: dict[str, str], emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job_id = await start("Stored content job")
    report = await poll.poll()
    assert report.downloaded == 1
    record = await reads.get_job(job_id)
    served = emulator.snapshot_content(snapshot_id(emulator, job_id))
    assert record.content_state == ContentState.STORED
    assert record.resource_count == len(served["resources"])
    expected_counts: dict[str, int] = {}
    for resource in served["resources"]:
        expected_counts[resource["resourceType"]] = expected_counts.get(resource["resourceType"], 0) + 1
    assert record.resource_type_counts == expected_counts
    assert canonical(await stored_resources(clients.store(), job_id)) == canonical(served["resources"])
    assert record.content_metadata is not None and record.content_metadata["id"] == served["id"]
    download = next(r for r in emulator.requests() if r["op"] == "download")
    assert download["authorized"] is True


async def test_a_200_kib_value_and_5000_resources_round_trip(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(
        jobStartSeconds=0,
        jobDurationSeconds=0,
        resourceCounts={"microsoft.entra.user": 5000, "microsoft.exchange.transportrule": 2},
        propertyBytes={"microsoft.exchange.transportrule": 200 * 1024},
    )
    job_id = await start("Large content job", ["microsoft.entra.user", "microsoft.exchange.transportRule"])
    await poll.poll()
    record = await reads.get_job(job_id)
    served = emulator.snapshot_content(snapshot_id(emulator, job_id))
    assert record.resource_count == 5002
    assert canonical(await stored_resources(clients.store(), job_id)) == canonical(served["resources"])


async def test_partial_success_stores_content_and_keeps_errors(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(
        jobStartSeconds=0, jobDurationSeconds=0, failingTypes={"microsoft.teams.meetingpolicy": "Access Denied."}
    )
    job_id = await start("Partial content job")
    await poll.poll()
    record = await reads.get_job(job_id)
    assert record.status == JobStatus.PARTIALLY_SUCCESSFUL
    assert record.content_state == ContentState.STORED
    assert set(record.resource_type_counts) == {"microsoft.entra.conditionalaccesspolicy"}
    assert len(record.error_details) == 1 and "microsoft.teams.meetingpolicy" in record.error_details[0]


async def test_a_failed_job_keeps_its_error_details(app_env: dict[str, str], emulator: EmulatorControl) -> None:
    emulator.configure(
        jobStartSeconds=0,
        jobDurationSeconds=0,
        failingTypes={
            "microsoft.entra.conditionalaccesspolicy": "Forbidden",
            "microsoft.teams.meetingpolicy": "Forbidden",
        },
    )
    job_id = await start("Failed content job")
    await poll.poll()
    record = await reads.get_job(job_id)
    assert record.status == JobStatus.FAILED
    assert record.content_state == ContentState.UNAVAILABLE
    assert len(record.error_details) == 2
    assert emulator.counts()["download"] == 0


async def test_an_ingestion_killed_half_way_is_repaired_by_the_next_tick(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={"microsoft.entra.user": 450})
    job_id = await start("Half way job", ["microsoft.entra.user"])
    original = ResourceTable._submit
    ranks: dict[str, int] = {}

    async def failing_submit(self: ResourceTable, table: Any, batch: list[Any]) -> int:
        # Injected: the third resource transaction is written, then storage fails, on every attempt (a crash
        # half-way). Transactions run concurrently: the first RowKey tells which one this is.
        rank = ranks.setdefault(batch[0][1]["RowKey"], len(ranks) + 1)
        written = await original(self, table, batch)
        if rank == 3:
            raise errors.StorageUnavailable("injected failure")
        return written

    monkeypatch.setattr(ResourceTable, "_submit", failing_submit)
    first = await poll.poll()
    monkeypatch.undo()
    assert first.failures == 1 and first.downloaded == 0
    assert (await reads.get_job(job_id)).content_state == ContentState.PENDING
    half = await table_rows(job_id)
    assert len(half) >= 100  # some rows written, the job not marked stored

    second = await poll.poll()
    assert second.downloaded == 1
    rows = await table_rows(job_id)
    again = await ingest.ingest(clients.graph(), clients.store(), await reads.get_job(job_id))
    assert await table_rows(job_id) == rows  # a third run changes nothing
    assert len(rows) == 450 and again.resource_count == 450
    assert (await reads.get_job(job_id)).resource_type_counts == {"microsoft.entra.user": 450}


async def test_content_on_another_host_gets_no_token(app_env: dict[str, str], emulator: EmulatorControl) -> None:
    port = emulator.graph_base_url.split(":")[2].split("/")[0]
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceLocationBase=f"http://localhost:{port}/v1.0")
    job_id = await start("Foreign host job")
    report = await poll.poll()
    record = await reads.get_job(job_id)
    assert record.content_state == ContentState.ERROR
    assert record.content_error is not None and "no token was sent" in record.content_error
    assert report.failures == 1
    assert emulator.counts()["download"] == 0
    assert not any(r["hadAuthorization"] for r in emulator.requests() if r["host"].startswith("localhost"))


async def test_a_job_gone_from_graph_before_storage_is_expired(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(jobDurationSeconds=600)
    job_id = await start("Expiring job one")
    emulator.expire_job(job_id)
    report = await poll.poll()
    assert report.expired == 1
    record = await reads.get_job(job_id)
    assert record.status == JobStatus.EXPIRED and record.content_state == ContentState.UNAVAILABLE
    emulator.clear_requests()
    await poll.poll()
    assert emulator.counts()["get"] == 0  # settled: not looked up again


async def test_a_stored_job_gone_from_graph_is_kept(app_env: dict[str, str], emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job_id = await start("Kept after deletion")
    await poll.poll()
    emulator.expire_job(job_id)
    await poll.poll()
    record = await reads.get_job(job_id)
    assert record.status == JobStatus.SUCCEEDED and record.content_state == ContentState.STORED
    assert record.graph_deleted is True
    assert len(await table_rows(job_id)) == record.resource_count


async def test_a_throttled_tick_leaves_the_work_for_the_next(
    app_env: dict[str, str], emulator: EmulatorControl, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job_id = await start("Throttled tick job")
    emulator.add_fault(method="GET", path="configurationSnapshotJobs", status=429, retryAfter=200, times=10)
    caplog.set_level(logging.INFO, logger="snapshot.usecases.poll")
    report = await poll.poll()
    assert report.throttled and report.downloaded == 0
    assert (await reads.get_job(job_id)).content_state == ContentState.PENDING
    tick_line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("poll tick"))
    fields = json.loads(tick_line.removeprefix("poll tick "))
    assert set(fields) >= {"seen", "changed", "adopted", "downloaded", "resources_stored", "graph_calls", "duration_ms"}
    emulator.clear_faults()
    assert (await poll.poll()).downloaded == 1


async def test_content_over_the_size_bound_is_refused_not_stored(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_setting(monkeypatch, "SNAPSHOT_MAX_CONTENT_BYTES", "4096")
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={"microsoft.entra.user": 200})
    job_id = await start("Too large content", ["microsoft.entra.user"])
    report = await poll.poll()
    record = await reads.get_job(job_id)
    assert report.failures == 1
    assert record.content_state == ContentState.ERROR
    assert record.content_error is not None and "SNAPSHOT_MAX_CONTENT_BYTES" in record.content_error
    assert await table_rows(job_id) == {}


# --- one jobs-table write per job and tick: Graph's news is saved with the content, or without it --------------


def count_job_writes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Jobs-table writes (each an entity-group transaction: the record and its listing row), by job id."""
    writes: Counter[str] = Counter()
    original = JobTable._transact

    async def counting(self: JobTable, record: JobRecord, operations: list[Any]) -> JobRecord:
        writes[record.id] += 1
        return await original(self, record, operations)

    monkeypatch.setattr(JobTable, "_transact", counting)
    return writes


async def assert_jobs(job_ids: tuple[str, ...], status: JobStatus, content_state: ContentState) -> None:
    for job_id in job_ids:
        record = await reads.get_job(job_id)
        assert (record.status, record.content_state) == (status, content_state), job_id


async def two_finished_jobs(emulator: EmulatorControl) -> tuple[str, str]:
    """One started here (the tick brings it Graph's news: finished), one made by another tool (adopted)."""
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    started = await start("Finished and started here")
    adopted = emulator.create_job(displayName="Finished and made elsewhere", resources=["microsoft.entra.user"])
    return started, str(adopted["id"])


async def test_a_finished_job_is_written_once_in_its_tick_with_its_content(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, adopted = await two_finished_jobs(emulator)
    writes = count_job_writes(monkeypatch)
    report = await poll.poll()
    assert (report.downloaded, report.changed, report.adopted) == (2, 1, 1)
    assert writes == {started: 1, adopted: 1}  # the news and the stored content in one write
    for job_id, source in ((started, "api"), (adopted, "adopted")):
        record = await reads.get_job(job_id)
        assert (record.status, record.content_state, record.source) == (
            JobStatus.SUCCEEDED,
            ContentState.STORED,
            source,
        )


async def test_the_news_of_a_job_whose_download_is_throttled_is_saved_in_the_same_tick(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, adopted = await two_finished_jobs(emulator)
    emulator.add_fault(method="GET", path="configurationSnapshots(", status=429, retryAfter=1, times=20)
    writes = count_job_writes(monkeypatch)
    report = await poll.poll()
    assert report.throttled and report.downloaded == 0
    assert writes == {started: 1, adopted: 1}
    await assert_jobs((started, adopted), JobStatus.SUCCEEDED, ContentState.PENDING)
    assert [(await reads.get_job(job_id)).source for job_id in (started, adopted)] == ["api", "adopted"]
    emulator.clear_faults()
    assert (await poll.poll()).downloaded == 2


async def test_the_news_of_a_job_whose_content_write_fails_is_saved_in_the_same_tick(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, adopted = await two_finished_jobs(emulator)

    async def failing_submit(self: ResourceTable, table: Any, batch: list[Any]) -> int:
        raise errors.StorageUnavailable("injected failure")

    monkeypatch.setattr(ResourceTable, "_submit", failing_submit)
    monkeypatch.setattr(resources_table, "RETRY_BACKOFF_SECONDS", 0)
    writes = count_job_writes(monkeypatch)
    report = await poll.poll()
    assert report.failures == 2 and report.downloaded == 0
    assert writes == {started: 1, adopted: 1}
    await assert_jobs((started, adopted), JobStatus.SUCCEEDED, ContentState.PENDING)
    monkeypatch.undo()
    assert (await poll.poll()).downloaded == 2


async def test_the_news_is_written_even_when_the_content_step_breaks(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, adopted = await two_finished_jobs(emulator)

    async def broken(*_: Any) -> JobRecord:
        raise RuntimeError("a bug in the content step")

    monkeypatch.setattr(ingest, "ingest", broken)
    with pytest.raises(RuntimeError):
        await poll.poll()
    await assert_jobs((started, adopted), JobStatus.SUCCEEDED, ContentState.PENDING)


async def test_a_record_written_meanwhile_gets_the_news_with_the_stored_content(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start records its job after the tick read the table (its Graph create raced the tick's list): the
    content's write conflicts, and the record the start wrote gets Graph's news along with the content."""
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job = emulator.create_job(displayName="Recorded by a start meanwhile", resources=["microsoft.entra.user"])
    original = ingest.write_resources

    async def start_records_it_meanwhile(store: Any, record: JobRecord, entities: Any) -> JobRecord:
        stale = JobRecord(id=record.id, display_name=record.display_name, status=JobStatus.NOT_STARTED, source="api")
        await store.jobs.insert(stale)
        return await original(store, record, entities)

    monkeypatch.setattr(ingest, "write_resources", start_records_it_meanwhile)
    assert (await poll.poll()).downloaded == 1
    record = await reads.get_job(job["id"])
    assert (record.status, record.content_state, record.source) == (JobStatus.SUCCEEDED, ContentState.STORED, "api")
    assert record.completed is not None and record.resource_location


async def test_a_content_too_deep_to_store_is_that_job_s_error_not_the_tick_s(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python's stack ends near 1,000 levels; the content check refuses past 500 before that, so a RecursionError
    cannot be served here: it is raised in the entity step (mocked) to show the tick survives it."""
    started, adopted = await two_finished_jobs(emulator)

    def too_deep(*_: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded while encoding a JSON object")

    monkeypatch.setattr(ingest, "resource_entities", too_deep)
    report = await poll.poll()
    assert report.failures == 2 and report.downloaded == 0
    for job_id in (started, adopted):
        record = await reads.get_job(job_id)
        assert record.content_state == ContentState.ERROR and record.content_error == ingest.TOO_DEEP_TO_STORE
        assert record.status == JobStatus.SUCCEEDED
