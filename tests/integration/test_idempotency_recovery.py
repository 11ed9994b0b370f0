"""An Idempotency-Key never wedges: after a delete, after an outage the first answer could not settle, and
while another request holds it, every 503 names a time after which the same retry succeeds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.emulator_client import EmulatorControl
from snapshot import clients, http_api
from snapshot.models import parse_start_request
from snapshot.store.idempotency import partition_of
from snapshot.usecases import idempotency
from tests.support.inprocess import USER, fail_job_inserts, request

BODY: dict[str, Any] = {"displayName": "Idempotent job", "resources": [USER]}
HEADERS = {"Content-Type": "application/json", "Idempotency-Key": "key-1"}


async def post(body: dict[str, Any] = BODY, headers: dict[str, str] = HEADERS) -> tuple[int, dict[str, Any], Any]:
    response = await http_api.start_snapshot(
        request("POST", "snapshots", body=json.dumps(body).encode(), headers=headers)
    )
    return response.status_code, json.loads(response.get_body()), response.headers


async def test_a_key_whose_job_was_deleted_starts_a_fresh_job(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    status, first, _ = await post()
    assert status == 202
    deleted = await http_api.delete_snapshot(
        request("DELETE", "snapshots/{id}", route_params={"id": first["id"]}, params={"keepContent": "false"})
    )
    assert deleted.status_code == 204

    status, again, _ = await post()
    assert status == 202, again
    assert again["id"] != first["id"]
    assert [job["id"] for job in emulator.jobs()] == [again["id"]]
    status, same, _ = await post()  # and the key now means the new job
    assert status == 202 and same["id"] == again["id"]
    assert emulator.counts()["create"] == 2


async def test_a_key_whose_job_is_kept_without_its_graph_job_returns_that_job(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    status, first, _ = await post()
    await http_api.delete_snapshot(
        request("DELETE", "snapshots/{id}", route_params={"id": first["id"]}, params={"keepContent": "true"})
    )
    status, again, _ = await post()
    assert status == 202 and again["id"] == first["id"] and again["graphDeleted"] is True
    assert emulator.counts()["create"] == 1


async def test_a_key_whose_job_was_created_but_not_recorded_returns_the_job_at_once(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = clients.store()
    claim = await store.keys.claim("key-1", parse_start_request(BODY).fingerprint())
    job = emulator.create_job(displayName=BODY["displayName"], resources=BODY["resources"])
    await store.keys.complete(claim, job["id"])  # the job row was never written (storage failed then)

    status, body, _ = await post()
    assert status == 202, body
    assert body["id"] == job["id"] and body["source"] == "api"
    assert (await store.jobs.get(job["id"])) is not None
    assert emulator.counts()["create"] == 0


async def test_a_failed_record_hands_the_key_back_and_the_retry_finds_the_job(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_job_inserts(monkeypatch)
    status, _, _ = await post()
    monkeypatch.undo()
    assert status == 503
    status, body, _ = await post()
    assert status == 202, body
    assert [job["id"] for job in emulator.jobs()] == [body["id"]]
    assert emulator.counts()["create"] == 1


async def test_after_an_outage_the_retry_the_503_asks_for_is_settled_at_once(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.add_fault(method="POST", path="createSnapshot", action="drop")
    # the lookup by name after the lost answer fails too (more 503s than the SDK retries): nobody knows
    emulator.add_fault(method="GET", path="filter=", status=503, retryAfter=0, times=4)  # the lookup by name only
    status, problem, headers = await post()
    assert status == 503 and "same Idempotency-Key" in problem["detail"]
    assert int(headers["Retry-After"]) >= 1

    status, body, _ = await post()  # right away: the first request holds nothing any more
    assert status == 202, body
    assert [job["id"] for job in emulator.jobs()] == [body["id"]]
    assert emulator.counts()["create"] == 1


async def test_while_another_request_holds_the_key_retry_after_is_when_it_can_be_taken_over(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "IDEMPOTENCY_WAIT_SECONDS", 0.3)
    store = clients.store()
    claim = await store.keys.claim("key-1", parse_start_request(BODY).fingerprint())
    assert claim.owned  # a request that is (or was, and died) creating the job

    status, problem, headers = await post()
    assert status == 503 and "still creating" in problem["detail"]
    wait = int(headers["Retry-After"])
    assert idempotency.IDEMPOTENCY_STALE_SECONDS - 5 <= wait <= idempotency.IDEMPOTENCY_STALE_SECONDS + 1

    # Let Retry-After pass (the key is made that much older): the retry now succeeds.
    table = await store.tables.get(store.settings.tables.idempotency)
    entity = await table.get_entity(partition_of("key-1"), "")
    entity["CreatedDateTime"] = entity["CreatedDateTime"] - timedelta(seconds=wait)
    await table.update_entity(entity)
    status, body, _ = await post()
    assert status == 202, body
    assert emulator.counts()["create"] == 1
    assert datetime.now(UTC) >= claim.created
