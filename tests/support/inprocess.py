"""Helpers for in-process tests of the app against Azurite and the emulator: start, tick, compare with Graph."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from urllib.parse import quote

import azure.functions as func
import pytest

from devtools.emulator_client import EmulatorControl
from snapshot import clients, errors
from snapshot.models import ContentState, StartSnapshotRequest
from snapshot.store import Store
from snapshot.store.jobs import JobTable
from snapshot.usecases import poll, reads
from snapshot.usecases.start import start_snapshot
from snapshot.usecases.tick_report import TickReport
from tests.support import stored_resources

USER = "microsoft.entra.user"


async def start_job(name: str, resources: list[str] | None = None) -> str:
    """Start a snapshot through the use case (no HTTP); the job's id."""
    request = StartSnapshotRequest(displayName=name, resources=resources or [USER])
    return (await start_snapshot(request)).record.id


def canonical(resources: list[dict[str, Any]]) -> list[str]:
    """Resources as sorted JSON strings, to compare two sets of resources whatever their order."""
    return sorted(json.dumps(r, sort_keys=True) for r in resources)


def served_content(emulator: EmulatorControl, job_id: str) -> dict[str, Any]:
    job = next(j for j in emulator.jobs() if j["id"] == job_id)
    return emulator.snapshot_content(job["resourceLocation"].split("('")[1].split("')")[0])


async def all_rows(store: Store, table_name: str) -> list[dict[str, Any]]:
    table = await store.tables.get(table_name)
    return [dict(e) async for e in table.list_entities()]


async def assert_tables_match_graph(emulator: EmulatorControl, require_stored: bool = True) -> int:
    """Every emulator job exactly once (record + one listing row); stored jobs hold exactly the served content.

    Returns the number of resources stored for the emulator's jobs.
    """
    store = clients.store()
    graph_jobs = {j["id"]: j for j in emulator.jobs()}
    rows = await all_rows(store, store.settings.tables.jobs)
    records = [r for r in rows if not r["RowKey"].startswith("~")]
    listings = Counter(r["JobId"] for r in rows if r["RowKey"].startswith("~"))
    assert sorted(r["RowKey"] for r in records) == sorted(graph_jobs), "jobs table and Graph disagree"
    assert listings == Counter(list(graph_jobs)), f"listing rows are not one per job: {listings}"
    partitions = Counter(r["PartitionKey"] for r in await all_rows(store, store.settings.tables.resources))
    assert set(partitions) <= set(graph_jobs), "resource rows of a job Graph never had"
    total = 0
    for job_id, job in graph_jobs.items():
        record = await reads.get_job(job_id)
        if job["status"] not in ("succeeded", "partiallySuccessful"):
            assert partitions.get(job_id, 0) == 0
            continue
        if record.content_state != ContentState.STORED:
            assert not require_stored, f"job {job_id} not stored"
            continue
        served = served_content(emulator, job_id)["resources"]
        stored = await stored_resources(store, job_id)
        assert len(stored) == len(served) == record.resource_count
        assert canonical(stored) == canonical(served)
        total += len(served)
    return total


async def tick_until_stored(max_ticks: int = 6) -> list[TickReport]:
    reports = []
    for _ in range(max_ticks):
        reports.append(await poll.poll())
        records = await clients.store().jobs.all()
        if not any(r.awaiting_content for r in records):
            return reports
    raise AssertionError(f"content still pending after {max_ticks} ticks: {reports}")


def request(
    method: str,
    route: str,
    route_params: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> func.HttpRequest:
    """The func.HttpRequest the host builds: the URL as sent (percent-encoded), route params decoded."""
    path = route.format(**{k: quote(v, safe="") for k, v in (route_params or {}).items()})
    return func.HttpRequest(
        method,
        f"http://127.0.0.1:7071/api/{path}",
        headers=headers or {},
        params=params or {},
        route_params=route_params or {},
        body=body,
    )


def fail_job_inserts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every job insert fail with StorageUnavailable until `monkeypatch.undo()`.

    Simulated: Table Storage failing exactly between Graph's answer and the write cannot be arranged with
    a real Azurite, so this one write is made to fail.
    """

    async def storage_down(self: JobTable, record: object) -> object:
        raise errors.StorageUnavailable("injected")

    monkeypatch.setattr(JobTable, "insert", storage_down)
