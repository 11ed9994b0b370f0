"""Beyond Graph's limits: the monthly quota (the 12-job cap and the 7-day retention: test_job_slots.py).

In-process against Azurite and the emulator (real msgraph-sdk, real managed-identity credential).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import azure.functions as func
import pytest

from devtools.emulator_client import EmulatorControl
from snapshot import errors, http_api
from snapshot.models import ContentState, StartSnapshotRequest
from snapshot.store.quota_ledger import QuotaLedger
from snapshot.usecases import poll, quota, reads
from snapshot.usecases.start import start_snapshot
from tests.support import use_setting

TYPES = ["microsoft.entra.conditionalAccessPolicy", "microsoft.teams.meetingPolicy"]


async def start(name: str) -> str:
    return (await start_snapshot(StartSnapshotRequest(displayName=name, resources=TYPES))).record.id


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_quota_exhaustion_answers_429_saying_when_the_month_resets_without_a_days_long_retry_after(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_setting(monkeypatch, "SNAPSHOT_MONTHLY_RESOURCE_QUOTA", "5")
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    await start("Uses the whole quota")
    await poll.poll()  # stores 6 resources: over the limit of 5

    view = await http_api.get_quota(func.HttpRequest(method="GET", url="http://h/api/quota", body=b""))
    body = json.loads(view.get_body())
    assert (body["used"], body["limit"], body["remaining"]) == (6, 5, 0)
    assert body["month"] == quota.month_of(datetime.now(UTC))

    request = func.HttpRequest(
        method="POST",
        url="http://h/api/snapshots",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"displayName": "One too many", "resources": TYPES}).encode(),
    )
    response = await http_api.start_snapshot(request)
    assert response.status_code == 429
    problem = json.loads(response.get_body())
    resets = quota.next_month_start(datetime.now(UTC))
    assert resets.isoformat().replace("+00:00", "Z") in problem["detail"]
    assert problem["resetsAt"] == resets.isoformat().replace("+00:00", "Z")
    # No Retry-After: a Logic App honouring it would hold the run until the month resets.
    assert "Retry-After" not in response.headers
    assert emulator.counts()["create"] == 1


async def test_two_pollers_storing_at_once_count_each_resource_once(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={"microsoft.entra.user": 300})
    job = (
        await start_snapshot(StartSnapshotRequest(displayName="Raced job", resources=["microsoft.entra.user"]))
    ).record
    await asyncio.gather(poll.poll(), poll.poll())
    stored = await reads.get_job(job.id)
    assert stored.content_state == ContentState.STORED and stored.resource_count == 300
    assert (await quota.quota_status()).used == 300


async def test_a_ledger_row_not_written_leaves_the_job_unstored_and_the_next_tick_repairs_it(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger row is written beside the resources and before the job is marked stored. Its one failure is
    injected at the ledger's own method (Azurite cannot be made to refuse one chosen request)."""
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={"microsoft.entra.user": 250})
    job = (
        await start_snapshot(StartSnapshotRequest(displayName="Ledger fails", resources=["microsoft.entra.user"]))
    ).record
    original = QuotaLedger.record
    calls: list[int] = []

    async def record_once_failing(self: QuotaLedger, month: str, job_id: str, resources: int) -> None:
        calls.append(resources)
        if len(calls) == 1:
            raise errors.StorageUnavailable("the ledger row was not written (injected)")
        await original(self, month, job_id, resources)

    monkeypatch.setattr(QuotaLedger, "record", record_once_failing)
    first = await poll.poll()
    assert (first.failures, first.downloaded) == (1, 0)
    assert (await reads.get_job(job.id)).content_state != ContentState.STORED
    assert (await quota.quota_status()).used == 0

    second = await poll.poll()
    assert (second.failures, second.downloaded) == (0, 1)
    stored = await reads.get_job(job.id)
    assert stored.content_state == ContentState.STORED and stored.resource_count == 250
    assert calls == [250, 250]
    assert (await quota.quota_status()).used == 250


def test_month_arithmetic() -> None:
    assert quota.month_of(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "2026-12"
    assert quota.next_month_start(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert quota.next_month_start(datetime(2026, 2, 1, tzinfo=UTC)) == datetime(2026, 3, 1, tzinfo=UTC)
