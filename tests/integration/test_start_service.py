"""start_snapshot in-process, for what cannot be provoked over HTTP: a table write that fails after Graph
created the job, a pending key left by a request that died, and the correlation log line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from devtools.emulator_client import EmulatorControl
from snapshot import clients, http_api
from snapshot.models import parse_start_request
from snapshot.store.idempotency import partition_of
from snapshot.usecases import idempotency, poll, reads, start
from tests.support.inprocess import fail_job_inserts

BODY: dict[str, Any] = {"displayName": "Service level job", "resources": ["microsoft.entra.user"]}


def request(body: dict, headers: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest(
        method="POST",
        url="https://app.example/api/snapshots?code=k",
        headers={"Content-Type": "application/json", **(headers or {})},
        params={"code": "k"},
        body=json.dumps(body).encode(),
    )


async def test_a_failed_table_write_after_create_says_the_job_will_appear_and_the_poller_adopts_it(
    app_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_job_inserts(monkeypatch)
    response = await http_api.start_snapshot(request(BODY))
    monkeypatch.undo()
    assert response.status_code == 503
    problem = json.loads(response.get_body())
    created = emulator.jobs()[0]["id"]
    assert created in problem["detail"] and "will appear" in problem["detail"]

    report = await poll.poll()
    assert report.adopted == 1
    assert (await reads.get_job(created)).source == "adopted"


async def test_a_stale_pending_key_is_taken_over_and_the_job_it_created_adopted(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    parsed = parse_start_request(BODY)
    store = clients.store()
    claim = await store.keys.claim("died-key", parsed.fingerprint())
    assert claim.owned
    # The owner died after Graph created the job: make its key look old.
    job = emulator.create_job(displayName=BODY["displayName"], resources=BODY["resources"])
    table = await store.tables.get(store.settings.tables.idempotency)
    entity = await table.get_entity(partition_of("died-key"), "")
    entity["CreatedDateTime"] = datetime.now(UTC) - timedelta(seconds=idempotency.IDEMPOTENCY_STALE_SECONDS + 5)
    await table.update_entity(entity)

    result = await start.start_snapshot(parsed, "died-key")
    assert result.record.id == job["id"]
    assert emulator.counts()["create"] == 0


async def test_the_log_carries_job_id_and_logic_apps_correlation(
    app_env: dict[str, str], emulator: EmulatorControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="snapshot.http_api")
    headers = {"x-ms-workflow-run-id": "08586611142736787787412824395CU21", "x-ms-client-tracking-id": "track-1"}
    response = await http_api.start_snapshot(request(BODY, headers))
    assert response.status_code == 202
    job_id = json.loads(response.get_body())["id"]
    line = next(r.getMessage() for r in caplog.records if job_id in r.getMessage())
    assert "08586611142736787787412824395CU21" in line and "track-1" in line
    assert "Bearer" not in caplog.text


async def test_the_graph_token_comes_from_the_managed_identity_endpoint(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    # In-process, with a fresh credential: the long-running test host has its token cached already.
    response = await http_api.start_snapshot(request(BODY))
    assert response.status_code == 202
    requests = emulator.requests()
    tokens = [r for r in requests if r["op"] == "token"]
    assert [r["query"]["resource"] for r in tokens] == ["https://graph.microsoft.com"]
    assert tokens[0]["query"]["api-version"] == "2019-08-01"
    assert next(r for r in requests if r["op"] == "create")["authorized"] is True
