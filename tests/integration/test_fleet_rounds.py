"""A fleet round (issue 23) on Azurite and the emulator through the queue path: POST starts one snapshot per
working tenant by queue messages, GET answers 202 until each is stored, failed or timed out, then 200 with the
outcome per tenant; a round message delivered twice starts one job."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from devtools.emulator_client import EmulatorControl
from snapshot import clients, http_fleet
from snapshot.fleet import StandardRequest
from snapshot.onboarding import TenantStatus
from snapshot.queues import POLL_QUEUE, WorkMessage
from snapshot.rounds import Round
from snapshot.store.fleet import ROUND_PARTITION, member_partition
from snapshot.usecases import fanout, fleet
from tests.support.fanout import onboard, run_queued
from tests.support.fleet import FABRIKAM, NORTHWIND, POLICY_TYPE
from tests.support.inprocess import request

JSON = {"Content-Type": "application/json"}


def answer(response: func.HttpResponse) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(response.get_body())
    return body


async def start(body: dict[str, Any], key: str | None = None) -> func.HttpResponse:
    headers = {**JSON, "Idempotency-Key": key} if key else JSON
    req = request("POST", "fleet/rounds", params={"code": "k3y"}, body=json.dumps(body).encode(), headers=headers)
    return await http_fleet.start_fleet_round(req)


async def poll_round(round_id: str) -> func.HttpResponse:
    return await http_fleet.get_fleet_round(request("GET", "fleet/rounds/{id}", {"id": round_id}))


def outcomes(body: dict[str, Any]) -> dict[str, str]:
    return {tenant["tenantId"]: tenant["outcome"] for tenant in body["tenants"]}


async def test_a_round_answers_202_until_every_tenant_is_stored_or_timed_out_then_200(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    for tenant_id, name in ((NORTHWIND, "Northwind"), (FABRIKAM, "Fabrikam")):
        emulator.add_tenant(tenant_id, name)
        assert await onboard(tenant_id, name) == TenantStatus.READY
    emulator.for_tenant(NORTHWIND).configure(jobStartSeconds=0, jobDurationSeconds=0)
    emulator.for_tenant(FABRIKAM).configure(jobStartSeconds=0, jobDurationSeconds=3600)  # never done in this test

    started = await start({"resourceTypes": [POLICY_TYPE], "timeoutMinutes": 60})
    body = answer(started)
    assert started.status_code == 202, body
    round_id = body["id"]
    assert started.headers["Location"].endswith(f"/api/fleet/rounds/{round_id}?code=k3y")
    assert started.headers["Retry-After"].isdigit() and "k3y" not in json.dumps(body)  # no key in the body
    home = next(t["tenantId"] for t in body["tenants"] if t["tenantId"] not in (NORTHWIND, FABRIKAM))
    assert body["counts"]["queued"] == 3 and body["status"] == "running"

    assert (await run_queued())["round"] == 3
    running = await poll_round(round_id)
    assert running.status_code == 202 and set(outcomes(answer(running)).values()) == {"started"}

    again = WorkMessage(kind="round", tenantId=NORTHWIND, roundId=round_id).body()
    await fanout.run(again)  # delivered twice: its member already started, so no second job
    assert len(emulator.for_tenant(NORTHWIND).jobs()) == 1

    await fanout.enqueue("poll")
    ran = await run_queued()
    assert ran["content"] == 2, ran  # home and Northwind finished; Fabrikam still running
    midway = await poll_round(round_id)
    assert midway.status_code == 202
    assert outcomes(answer(midway)) == {home: "stored", NORTHWIND: "stored", FABRIKAM: "started"}

    # The deadline is moved to now instead of waiting an hour: the round's own row, rewritten in Azurite.
    table = clients.store().fleet
    row = await table.get_record(Round, ROUND_PARTITION, round_id)
    assert row is not None
    passed = row.model_copy(update={"deadline": datetime.now(UTC) - timedelta(seconds=1)})
    await table.upsert_records(ROUND_PARTITION, {round_id: passed})

    done = await poll_round(round_id)
    final = answer(done)
    assert done.status_code == 200 and "Location" not in done.headers and final["status"] == "completed"
    assert outcomes(final) == {home: "stored", NORTHWIND: "stored", FABRIKAM: "timedOut"}
    fabrikam = next(t for t in final["tenants"] if t["tenantId"] == FABRIKAM)
    assert fabrikam["jobId"] and "was not stored by the round's deadline" in fabrikam["detail"]
    assert final["counts"] == {"queued": 0, "started": 0, "stored": 2, "failed": 0, "timedOut": 1}


async def test_a_decided_round_reads_no_job_again(
    multi_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    round_id = answer(await start({"resourceTypes": [POLICY_TYPE]}))["id"]
    await run_queued()
    await fanout.enqueue("poll")
    await run_queued()
    assert (await poll_round(round_id)).status_code == 200
    sent: Counter[str] = Counter()
    monkeypatch.setitem(clients.STORE_CLIENT_OPTIONS, "raw_request_hook", lambda _: sent.update(["n"]))
    await clients.close_all()
    assert (await poll_round(round_id)).status_code == 200  # the table's client made again
    sent.clear()
    assert (await poll_round(round_id)).status_code == 200
    assert sent["n"] == 4  # the round, its members, the standard, the summaries: no job read, every outcome kept


async def test_a_round_names_what_it_cannot_use(multi_env: dict[str, str]) -> None:
    for body, field in (({"timeoutMinutes": 1, "resourceTypes": [POLICY_TYPE]}, "timeoutMinutes"),
                        ({}, "resourceTypes"), ({"resourceTypes": ["microsoft.nope"]}, "resourceTypes")):  # fmt: skip
        response = await start(body)
        problem = answer(response)
        assert response.status_code == 400 and field in [e["field"] for e in problem["errors"]], problem
    assert (await poll_round("no-such-round")).status_code == 404
    client = await clients.queues().client(POLL_QUEUE, create=True)
    assert [m async for m in client.receive_messages(max_messages=1)] == []  # nothing was queued


async def test_a_retried_start_with_the_same_key_returns_the_same_round(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    first = answer(await start({"resourceTypes": [POLICY_TYPE]}, key="weekly-run-42"))
    await run_queued()
    again = answer(await start({"resourceTypes": [POLICY_TYPE]}, key="weekly-run-42"))
    assert again["id"] == first["id"] and outcomes(again) == {t: "started" for t in outcomes(first)}
    assert (await run_queued())["round"] == 0  # no second message, no second job
    other = answer(await start({"resourceTypes": [POLICY_TYPE]}, key="weekly-run-43"))
    assert other["id"] != first["id"]


async def test_a_round_waits_for_its_tenants_summaries_and_a_retried_start_writes_a_member_that_was_lost(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.add_tenant(NORTHWIND, "Northwind")
    assert await onboard(NORTHWIND, "Northwind") == TenantStatus.READY
    emulator.for_tenant(NORTHWIND).configure(jobStartSeconds=0, jobDurationSeconds=0)
    first = answer(await start({"resourceTypes": [POLICY_TYPE]}, key="weekly-run-7"))
    # the first request stopped after its round's row and one member: the other member row is lost
    table = clients.store().fleet
    await table.delete_record(member_partition(first["id"]), NORTHWIND)
    await run_queued()
    retried = await start({"resourceTypes": [POLICY_TYPE]}, key="weekly-run-7")
    assert retried.status_code == 202 and NORTHWIND in outcomes(answer(retried))
    assert (await run_queued())["round"] >= 1
    await fanout.enqueue("poll")
    await run_queued()
    assert (await poll_round(first["id"])).status_code == 200
    # a standard set now: the stored tenants' summaries are not counted against it yet, so the round waits
    await fleet.set_standard(StandardRequest(tenantId=NORTHWIND))
    waiting = await poll_round(first["id"])
    assert waiting.status_code == 202 and answer(waiting)["summariesPending"] == 2
    assert (await run_queued())["fleet"] == 2
    done = await poll_round(first["id"])
    assert done.status_code == 200 and answer(done)["summariesPending"] == 0
