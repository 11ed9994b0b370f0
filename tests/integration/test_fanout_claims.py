"""The fan-out's edges, on Azurite's real queues and tables with the emulator: a run clears its own claim only;
messages that cannot run are dropped, not retried into the poison queue; the poison trigger leaves removed
tenants and probes' statuses alone; a purge waits for work claimed before the removal; contents go by their own
message, once; a Graph client in use is not closed under its poll; single mode sends leftover tenants nothing."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from devtools.emulator_client import EmulatorControl
from snapshot import clients, errors, http_api, tenancy
from snapshot.onboarding import RegisterTenantRequest, TenantRecord, TenantStatus
from snapshot.queues import POLL_QUEUE, WorkMessage, parse_message
from snapshot.store.tables import ConcurrencyConflict
from snapshot.store.tenants import TenantTable
from snapshot.tenancy import Tenant
from snapshot.usecases import fanout, tenants
from tests.support.fanout import onboard, run_queued
from tests.support.inprocess import request, start_job

CONTOSO = "7e1a0000-0000-4000-8000-00000000d0a1"
LEFTOVER = "7e1a0000-0000-4000-8000-00000000d0a2"


async def waiting_messages() -> list[WorkMessage]:
    """The poll queue's messages, read and deleted (the test is their only consumer)."""
    client = await clients.queues().client(POLL_QUEUE, create=True)
    found = []
    async for message in client.receive_messages(messages_per_page=32, visibility_timeout=30):
        found.append(parse_message(message.content))
        await client.delete_message(message)
    return found


async def empty_queue() -> None:
    await (await clients.queues().client(POLL_QUEUE, create=True)).clear_messages()


async def test_a_run_clears_the_claim_it_was_sent_with_and_never_a_newer_one(multi_env: dict[str, str]) -> None:
    await empty_queue()
    home = await tenants.home_record()
    await fanout.enqueue("poll")
    [sent] = await waiting_messages()
    claimed = await clients.store().tenants.get(home.tenant_id)
    assert claimed is not None and sent.claimed == claimed.poll_queued is not None

    newer = datetime.now(UTC) + timedelta(seconds=1)  # the claim lapsed meanwhile and a later tick took it again
    await clients.store().tenants.apply(home.tenant_id, {"poll_queued": newer})
    await fanout.run(sent.body())  # the late run of the old message
    kept = await clients.store().tenants.get(home.tenant_id)
    assert kept is not None and kept.poll_queued == newer

    await fanout.run(sent.model_copy(update={"claimed": newer}).body())  # the newer message's own run
    cleared = await clients.store().tenants.get(home.tenant_id)
    assert cleared is not None and cleared.poll_queued is None


async def test_a_message_that_cannot_run_is_logged_and_dropped(
    multi_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="snapshot.usecases.fanout")
    for body in ("not json", '{"v": 1, "kind": "poll", "tenantId": "not-a-guid"}', '{"kind": "launch"}',
                 '{"v": 1, "kind": "content", "tenantId": "home"}'):  # fmt: skip
        await fanout.run(body)  # returns: the host deletes it instead of retrying it into the poison queue
    dropped = [r.getMessage() for r in caplog.records if "queue message dropped" in r.getMessage()]
    assert len(dropped) == 4
    assert ("tenantId" in dropped[1] and "jobId" in dropped[3]) or "body" in dropped[3]

    await fanout.run(WorkMessage(kind="poll", tenantId=CONTOSO).body())  # never registered
    assert any(CONTOSO in r.getMessage() for r in caplog.records)


async def test_a_dropped_message_of_a_removed_tenant_clears_its_claim(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    await empty_queue()
    emulator.add_tenant(CONTOSO, "Contoso")
    assert await onboard(CONTOSO, "Contoso") == TenantStatus.READY
    await fanout.enqueue("poll")
    [sent] = [m for m in await waiting_messages() if m.tenantId == CONTOSO]
    await tenants.remove(CONTOSO, purge=False)
    await fanout.run(sent.body())
    removed = await clients.store().tenants.get(CONTOSO)
    assert removed is not None and removed.status == TenantStatus.REMOVED and removed.poll_queued is None


async def test_a_poisoned_message_leaves_a_removed_tenant_removed_and_a_probed_one_its_status(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.add_tenant(CONTOSO, "Contoso", consented=False)
    assert await onboard(CONTOSO, "Contoso") == TenantStatus.PENDING_CONSENT
    await clients.store().tenants.apply(CONTOSO, {"last_error": "StorageUnavailable: Table Storage did not answer"})
    await fanout.poisoned(WorkMessage(kind="probe", tenantId=CONTOSO).body())
    probed = await tenants.get(CONTOSO)
    assert (
        probed.status == TenantStatus.PENDING_CONSENT
        and probed.last_error
        and "StorageUnavailable" in probed.last_error
    )

    await tenants.remove(CONTOSO, purge=False)
    await fanout.poisoned(WorkMessage(kind="poll", tenantId=CONTOSO).body())
    assert (await clients.store().tenants.get(CONTOSO)).status == TenantStatus.REMOVED  # type: ignore[union-attr]
    assert CONTOSO not in (await fanout.enqueue("poll")).queued


async def test_a_purge_waits_for_a_message_claimed_before_the_removal(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    await empty_queue()
    emulator.add_tenant(CONTOSO, "Contoso")
    emulator.for_tenant(CONTOSO).configure(jobStartSeconds=0, jobDurationSeconds=0)
    assert await onboard(CONTOSO, "Contoso") == TenantStatus.READY
    with tenancy.scoped(Tenant(CONTOSO, home=False)):
        await start_job("before removal")
    await fanout.enqueue("poll")  # Contoso's poll message is claimed and waits
    with pytest.raises(errors.TenantWorkInFlight) as refused:
        await tenants.remove(CONTOSO, purge=True)
    assert refused.value.status == 409 and refused.value.retry_after > 0 and "claimed" in refused.value.detail
    assert (await clients.store().tenants.get(CONTOSO)).status == TenantStatus.REMOVED  # type: ignore[union-attr]

    ran = await run_queued()  # the removed tenant's message is dropped, its claim cleared
    assert ran["poll"] >= 1 and ran["content"] == 0
    assert await tenants.remove(CONTOSO, purge=True) > 0
    assert await clients.store().tenants.get(CONTOSO) is None
    assert await tenants.remove(CONTOSO, purge=True) == 0  # run again: nothing left, no error


async def test_each_content_goes_by_its_own_message_once_and_again_only_if_not_stored(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    await empty_queue()
    job_id = await start_job("content by its own message")
    home = (await tenants.home_record()).tenant_id
    poll = WorkMessage(kind="poll", tenantId=home).body()
    await fanout.run(poll)
    await fanout.run(poll)  # a second poll while the content message waits: not sent again
    [content] = [m for m in await waiting_messages() if m.kind == "content"]
    job = await clients.store().jobs.get(job_id)
    assert content.jobId == job_id and job is not None and job.content_queued == content.claimed
    assert job.content_state.value == "pending"

    emulator.add_fault(method="GET", path="configurationSnapshots(", status=429, retryAfter=1, times=100)
    await fanout.run(content.body())  # throttled: not stored, the claim cleared so the next poll sends it again
    job = await clients.store().jobs.get(job_id)
    assert job is not None and job.content_state.value == "pending" and job.content_queued is None
    assert "throttled" in ((await tenants.home_record()).last_error or "")

    emulator.clear_faults()
    await fanout.run(poll)
    assert (await run_queued())["content"] == 1
    job = await clients.store().jobs.get(job_id)
    assert job is not None and job.content_state.value == "stored" and job.content_queued is None


async def test_a_graph_client_in_use_is_not_closed_when_newer_tenants_push_it_out(
    multi_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clients, "GRAPH_CLIENTS_KEPT", 2)  # the home tenant's (never closed) and one more
    await clients.close_all()
    emulator.add_tenant(CONTOSO, "Contoso")
    held = Tenant(CONTOSO, home=False)
    others = [Tenant(f"7e1a0000-0000-4000-8000-00000000e0{n:02d}", home=False) for n in range(3)]
    with clients.working_in(held):
        in_use = clients.graph()
        pushed = [clients.graph_of(tenant) for tenant in others]
        await asyncio.sleep(0.05)  # evicted clients close on the loop
        assert not in_use.http.is_closed and clients.graph_of(held) is in_use
        assert pushed[0].http.is_closed  # not held: closed once pushed out
        assert await in_use.list_jobs() == []  # still works under its poll
    for n in (0xFE, 0xFF):  # two tenants newer than it: now it is the least recently used, and free
        clients.graph_of(Tenant(f"7e1a0000-0000-4000-8000-00000000e0{n:02x}", home=False))
    await asyncio.sleep(0.05)
    assert in_use.http.is_closed and clients.graph_of(held) is not in_use


async def test_single_mode_sends_a_tenant_left_from_a_multi_deployment_nothing(
    app_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    await empty_queue()
    await clients.store().tenants.insert(
        TenantRecord(tenant_id=LEFTOVER, display_name="left", status=TenantStatus.READY)
    )
    tick = await fanout.enqueue("poll")
    assert tick.unreachable == [LEFTOVER] and LEFTOVER not in tick.queued
    assert [m.tenantId for m in await waiting_messages()] == [(await tenants.home_record()).tenant_id]
    caplog.set_level(logging.ERROR, logger="snapshot.usecases.fanout")
    await fanout.run(WorkMessage(kind="poll", tenantId=LEFTOVER).body())  # one sent before the switch: dropped
    assert any("home tenant only" in r.getMessage() for r in caplog.records)


async def test_a_home_row_from_before_the_home_id_was_set_is_not_polled_twice(multi_env: dict[str, str]) -> None:
    await clients.store().tenants.insert(
        TenantRecord(tenant_id="home", display_name="Home tenant", home=True, status=TenantStatus.READY)
    )
    listed = [r.tenant_id for r in await tenants.list_all()]
    home = tenancy.home_tenant(clients.get_settings()).id
    assert listed == [home]
    assert (await fanout.enqueue("poll")).queued == [home]
    await empty_queue()


async def test_a_tenant_row_that_keeps_changing_answers_503_problem_json_naming_it(
    multi_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five lost races in a row cannot be made on demand on Azurite, so the guarded update alone is replaced by one
    that answers as Table Storage does when the ETag no longer matches; the rest (HTTP handler, reads) is real."""
    emulator.add_tenant(CONTOSO, "Contoso")
    assert await onboard(CONTOSO, "Contoso") == TenantStatus.READY

    async def always_changed(self: TenantTable, record: TenantRecord) -> TenantRecord:
        raise ConcurrencyConflict(record.tenant_id)

    monkeypatch.setattr(TenantTable, "update", always_changed)
    response = await http_api.delete_tenant(request("DELETE", "tenants/{tenantId}", {"tenantId": CONTOSO}))
    problem = json.loads(response.get_body())
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert response.mimetype == "application/problem+json" and CONTOSO in problem["detail"]
    assert problem["title"] == "A row kept changing under this request"


async def test_a_probe_running_while_its_tenant_is_removed_leaves_it_removed(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.add_tenant(CONTOSO, "Contoso", consented=False)
    assert await onboard(CONTOSO, "Contoso") == TenantStatus.PENDING_CONSENT
    emulator.for_tenant(CONTOSO).add_fault(
        method="POST", path="/oauth2/v2.0/token", action="delay", delayMs=800, times=1
    )
    await clients.close_all()  # no token kept: the probe asks Entra, slowly
    probe = asyncio.ensure_future(fanout.run(WorkMessage(kind="probe", tenantId=CONTOSO).body()))
    await asyncio.sleep(0.3)  # the probe has passed its start and waits for Entra
    await tenants.remove(CONTOSO, purge=False)
    await probe
    assert (await clients.store().tenants.get(CONTOSO)).status == TenantStatus.REMOVED  # type: ignore[union-attr]
    again, created = await tenants.register(RegisterTenantRequest(tenantId=CONTOSO, displayName="Contoso again"))
    assert not created and again.status == TenantStatus.PENDING_CONSENT  # registering takes it back, probed


async def test_a_content_run_neither_clears_nor_sets_its_tenants_status(
    multi_env: dict[str, str], emulator: EmulatorControl
) -> None:
    await empty_queue()
    job_id = await start_job("content while failing")
    home = (await tenants.home_record()).tenant_id
    await fanout.run(WorkMessage(kind="poll", tenantId=home).body())
    [content] = [m for m in await waiting_messages() if m.kind == "content"]
    await clients.store().tenants.apply(
        home, {"status": TenantStatus.FAILING, "last_error": "GraphPermissionDenied: x"}
    )

    emulator.add_fault(method="GET", path="configurationSnapshots(", status=500, times=100)
    await fanout.run(content.body())  # the download fails: recorded on the job (ingest's backoff) and the tenant
    failing = await tenants.home_record()
    assert failing.status == TenantStatus.FAILING and failing.last_error and job_id in failing.last_error
    job = await clients.store().jobs.get(job_id)
    assert job is not None and job.content_state.value == "error" and job.content_queued is None

    await fanout.poisoned(content.body())  # a content message that kept failing: the tenant keeps its status
    assert (await tenants.home_record()).status == TenantStatus.FAILING


async def test_a_poisoned_content_message_marks_its_job_not_its_tenant(multi_env: dict[str, str]) -> None:
    await empty_queue()
    job_id = await start_job("content that times out")
    home = (await tenants.home_record()).tenant_id
    await fanout.run(WorkMessage(kind="poll", tenantId=home).body())
    [content] = [m for m in await waiting_messages() if m.kind == "content"]
    await clients.store().tenants.apply(home, {"last_error": "content of job x: TimeoutError: see the function log"})
    await fanout.poisoned(content.body())
    tenant = await tenants.home_record()
    assert tenant.status == TenantStatus.READY and "TimeoutError" in (tenant.last_error or "")
    job = await clients.store().jobs.get(job_id)
    assert job is not None and job.content_state.value == "error" and "TimeoutError" in (job.content_error or "")
    assert job.content_queued is None and job.content_retry_at is not None  # tried again after the backoff


async def test_a_purge_waits_for_a_content_message_too(multi_env: dict[str, str], emulator: EmulatorControl) -> None:
    await empty_queue()
    emulator.add_tenant(CONTOSO, "Contoso")
    emulator.for_tenant(CONTOSO).configure(jobStartSeconds=0, jobDurationSeconds=0)
    assert await onboard(CONTOSO, "Contoso") == TenantStatus.READY
    with tenancy.scoped(Tenant(CONTOSO, home=False)):
        await start_job("content waits")
    await fanout.run(WorkMessage(kind="poll", tenantId=CONTOSO).body())  # the poll's claim cleared, content sent
    await tenants.remove(CONTOSO, purge=False)
    with pytest.raises(errors.TenantWorkInFlight):
        await tenants.remove(CONTOSO, purge=True)
    assert (await run_queued())["content"] == 1  # dropped (removed), its job's claim cleared
    assert await tenants.remove(CONTOSO, purge=True) > 0


async def test_a_message_sent_before_claims_were_carried_still_clears_the_claim(multi_env: dict[str, str]) -> None:
    await empty_queue()
    home = (await tenants.home_record()).tenant_id
    await fanout.enqueue("poll")
    await waiting_messages()
    await fanout.run(json.dumps({"v": 1, "kind": "poll", "tenantId": home}))  # no `claimed`
    assert (await tenants.home_record()).poll_queued is None


async def test_a_tenants_token_outlives_its_closed_graph_client_and_stays_its_own(
    multi_env: dict[str, str], emulator: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clients, "GRAPH_CLIENTS_KEPT", 1)  # the home tenant's only: every other one is closed after use
    await clients.close_all()
    ids = (CONTOSO, LEFTOVER)
    for tenant_id in ids:
        emulator.add_tenant(tenant_id, tenant_id[-4:])
        assert await onboard(tenant_id, tenant_id[-4:]) == TenantStatus.READY  # fetches each tenant's token
    emulator.clear_requests()
    for _ in range(2):
        for tenant_id in ids:
            with clients.working_in(Tenant(tenant_id, home=False)):
                assert await clients.graph().list_jobs() == []
    requests = emulator.requests()
    assert [r["path"] for r in requests if r["path"].endswith("/oauth2/v2.0/token")] == []
    lists = [r for r in requests if "/v1.0/" in r["path"]]
    assert len(lists) == 4 and all(r["authorized"] for r in lists)
    assert sorted(r["tenant"] for r in lists) == sorted([*ids, *ids])  # each call carried its own tenant's token
