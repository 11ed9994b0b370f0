"""Faults injected through the emulator and Azurite, and concurrent ticks, in-process.

After every fault the tables are compared with the emulator's truth: every Graph job once in the jobs table
(record row and listing row), every served resource stored once, each job counted once in the quota.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools import services
from devtools.emulator_client import EmulatorControl
from snapshot import clients, http_api
from snapshot import settings as settings_module
from snapshot.models import ContentState
from snapshot.store.resources import ResourceTable
from snapshot.usecases import idempotency, ingest, poll, quota, reads
from tests.support import LOG_DIR
from tests.support.inprocess import (
    USER,
    all_rows,
    assert_tables_match_graph,
    request,
    start_job,
    tick_until_stored,
)

TYPES = ["microsoft.entra.conditionalAccessPolicy", "microsoft.teams.meetingPolicy"]


async def test_a_429_storm_during_a_tick_loses_nothing_and_a_later_tick_completes(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={USER: 250})
    for n in range(3):
        await start_job(f"Storm job {n:02d}")
    emulator.create_job(displayName="Storm adopted job", resources=TYPES)
    # The list is throttled twice (the SDK's retry handler waits Retry-After and gets through), then the
    # downloads are throttled longer than the retry handler waits: the tick must stop, not lose anything.
    emulator.add_fault(method="GET", path="configurationSnapshotJobs", status=429, retryAfter=1, times=2)
    emulator.add_fault(method="GET", path="configurationSnapshots(", status=429, retryAfter=1, times=6)
    first = await poll.poll()
    assert first.throttled and first.seen == 4 and first.adopted == 1
    await assert_tables_match_graph(emulator, require_stored=False)

    reports = await tick_until_stored()
    assert reports[-1].throttled is False
    total = await assert_tables_match_graph(emulator)
    assert total == 3 * 250 + 6
    assert (await quota.quota_status()).used == total
    faulted = [r for r in emulator.requests() if r["fault"] == "respond"]
    assert len(faulted) == 8  # every injected 429 was met: the storm really happened


async def test_a_throttled_list_ends_the_tick_and_changes_nothing(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    await start_job("Listed late job")
    emulator.add_fault(method="GET", path="configurationSnapshotJobs", status=429, retryAfter=1, times=4)
    store = clients.store()
    before = await all_rows(store, store.settings.tables.jobs)
    report = await poll.poll()
    assert report.throttled and report.downloaded == 0
    after = await all_rows(store, store.settings.tables.jobs)
    assert [r["RowKey"] for r in after] == [r["RowKey"] for r in before]
    await tick_until_stored()
    await assert_tables_match_graph(emulator)


@pytest.fixture
def own_azurite(app_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[services.Service]:
    """An Azurite of this test's own, persisting to disk so that a restart keeps the data."""
    port = services.free_port()
    location = tmp_path / "azurite"
    location.mkdir()
    service_ = services.azurite(port, location=location, log_path=LOG_DIR / "azurite-restart.log").start()
    monkeypatch.setenv("AzureWebJobsStorage", services.azurite_connection_string(port))
    settings_module.get_settings.cache_clear()
    yield service_
    service_.stop()
    settings_module.get_settings.cache_clear()


def graceful_stop(azurite: services.Service) -> None:
    """SIGINT: Azurite's own shutdown, which saves its database (SIGTERM would lose the last 5 s of writes)."""
    assert azurite.process is not None
    os.kill(azurite.process.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        azurite.process.wait(30)
    azurite.stop()


async def test_azurite_restarted_half_way_through_an_ingestion(
    own_azurite: services.Service, emulator: EmulatorControl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={USER: 3000})
    job_id = await start_job("Restarted storage job")
    store = clients.store()
    submitted = {"n": 0}
    submit = ResourceTable._submit

    async def counted(self: ResourceTable, table: Any, batch: list[Any]) -> int:
        submitted["n"] += 1  # observed only: every transaction still goes to the real Azurite
        return await submit(self, table, batch)

    monkeypatch.setattr(ResourceTable, "_submit", counted)
    tick = asyncio.create_task(poll.poll())
    # 30 transactions of 100 resources: cut after ~6 of them
    deadline = time.monotonic() + 60
    while submitted["n"] < 6 and not tick.done() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    assert not tick.done(), "the ingestion ended before Azurite could be stopped"
    await asyncio.to_thread(graceful_stop, own_azurite)
    await asyncio.to_thread(own_azurite.start)
    first = await asyncio.wait_for(tick, 120)
    record = await reads.get_job(job_id)
    assert first.downloaded + first.failures == 1
    half = len(await all_rows(store, store.settings.tables.resources))
    if first.failures:
        assert 0 < half < 3000, half  # really cut half-way
    assert record.content_state in (ContentState.PENDING, ContentState.STORED)

    await tick_until_stored()
    await assert_tables_match_graph(emulator)
    rows = await all_rows(store, store.settings.tables.resources)
    assert len(rows) == 3000 and len({(r["PartitionKey"], r["RowKey"]) for r in rows}) == 3000
    again = await ingest.ingest(clients.graph(), store, await reads.get_job(job_id))
    assert again.resource_count == 3000
    assert len(await all_rows(store, store.settings.tables.resources)) == 3000
    assert (await quota.quota_status()).used == 3000


async def test_a_lost_create_that_graph_cannot_confirm_is_settled_by_the_retry(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "IDEMPOTENCY_STALE_SECONDS", 1.0)
    monkeypatch.setattr(idempotency, "IDEMPOTENCY_WAIT_SECONDS", 0.5)
    emulator.add_fault(method="POST", path="createSnapshot", action="drop")
    # the lookup by name after the lost answer fails too (more 503s than the SDK retries): nobody knows
    emulator.add_fault(method="GET", path="filter=", status=503, retryAfter=0, times=4)  # the lookup by name only
    body = json.dumps({"displayName": "Unconfirmed create", "resources": TYPES}).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": "unconfirmed-1"}
    answers = []
    for _attempt in range(5):  # Logic Apps: retry a 5xx after Retry-After, same key
        response = await http_api.start_snapshot(request("POST", "snapshots", body=body, headers=headers))
        answers.append(response.status_code)
        if response.status_code < 500:
            break
        await asyncio.sleep(1.1)
    assert answers[0] == 503 and answers[-1] == 202, answers
    jobs = emulator.jobs()
    assert len(jobs) == 1 and emulator.counts()["create"] == 1
    assert json.loads(response.get_body())["id"] == jobs[0]["id"]
    again = await http_api.start_snapshot(request("POST", "snapshots", body=body, headers=headers))
    assert again.status_code == 202 and json.loads(again.get_body())["id"] == jobs[0]["id"]
    await tick_until_stored()
    await assert_tables_match_graph(emulator)


async def test_two_ticks_at_once_in_process(app_env: dict[str, str], emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={USER: 300})
    for n in range(2):
        await start_job(f"Concurrent tick {n:02d}")
    for n in range(2):
        emulator.create_job(displayName=f"Adopted twice {n:02d}", resources=[USER])
    reports = await asyncio.gather(poll.poll(), poll.poll())
    # Each tick counts the jobs it found unknown: both read the table before either recorded one (a new job is
    # recorded with its content). One insert wins, the other tick re-reads; the rows are checked below.
    assert [r.adopted for r in reports] == [2, 2], reports
    assert all(r.failures == 0 for r in reports), reports
    await tick_until_stored()
    total = await assert_tables_match_graph(emulator)
    assert total == 4 * 300
    assert (await quota.quota_status()).used == total
