"""The fan-out on real queues (Azurite's queue service) and tables: one message per working tenant per tick,
none while a tenant's previous message waits, two ticks at once claim each tenant once, a message delivered
twice stores nothing twice, and a message that keeps failing marks its tenant failing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest

from devtools.emulator_client import EmulatorControl
from snapshot import clients
from snapshot.onboarding import TenantRecord, TenantStatus
from snapshot.queues import POLL_QUEUE, WorkMessage
from snapshot.usecases import fanout, tenants
from tests.support.inprocess import assert_tables_match_graph, start_job

READY = "7e1a0000-0000-4000-8000-0000000000c1"
PENDING = "7e1a0000-0000-4000-8000-0000000000c2"
GONE = "7e1a0000-0000-4000-8000-0000000000c3"


async def queued_bodies(queue: str = POLL_QUEUE) -> list[dict[str, str]]:
    """Every message waiting in the queue (read, then deleted: the test is their only consumer), without the
    claim each carries (test_a_run_clears_its_own_claim_only checks it)."""
    client = await clients.queues().client(queue, create=True)
    bodies = []
    async for message in client.receive_messages(messages_per_page=32, visibility_timeout=30):
        body = json.loads(message.content)
        body.pop("claimed", None)
        bodies.append(body)
        await client.delete_message(message)
    return bodies


async def register(tenant_id: str, status: TenantStatus, checked: datetime | None = None) -> None:
    await clients.store().tenants.insert(
        TenantRecord(tenant_id=tenant_id, display_name=tenant_id[-2:], status=status, checked=checked)
    )


async def empty_queue() -> None:
    """The queue is the session's Azurite's, shared by the tests: start from an empty one."""
    await (await clients.queues().client(POLL_QUEUE, create=True)).clear_messages()


async def test_a_tick_queues_each_working_tenant_once_and_not_again_while_it_waits(multi_env: dict[str, str]) -> None:
    await empty_queue()
    await register(READY, TenantStatus.READY)
    await register(PENDING, TenantStatus.PENDING_CONSENT, checked=datetime.now(UTC))  # checked just now: no probe
    await register(GONE, TenantStatus.REMOVED)
    home = (await tenants.home_record()).tenant_id

    first = await fanout.enqueue("poll")
    assert sorted(first.queued) == sorted([home, READY]) and first.probes == []
    assert sorted(m["tenantId"] for m in await queued_bodies()) == sorted([home, READY])

    again = await fanout.enqueue("poll")
    assert again.queued == [] and sorted(again.waiting) == sorted([home, READY])
    assert await queued_bodies() == []


async def test_two_ticks_at_once_queue_each_tenant_once(multi_env: dict[str, str]) -> None:
    await empty_queue()
    await register(READY, TenantStatus.READY)
    await tenants.home_record()
    await asyncio.gather(fanout.enqueue("poll"), fanout.enqueue("poll"))
    bodies = await queued_bodies()
    assert sorted(m["tenantId"] for m in bodies) == sorted([READY, (await tenants.home_record()).tenant_id])


async def test_a_tenant_not_ready_is_probed_instead(multi_env: dict[str, str]) -> None:
    await empty_queue()
    await register(PENDING, TenantStatus.PENDING_CONSENT)  # never checked
    report = await fanout.enqueue("poll")
    assert report.probes == [PENDING]
    assert {"kind": "probe", "tenantId": PENDING, "v": 1} in await queued_bodies()


async def test_a_message_delivered_twice_stores_each_resource_once(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    home = await tenants.home_record()
    await start_job("Fanout duplicate")
    await empty_queue()
    body = WorkMessage(kind="poll", tenantId=home.tenant_id).body()
    await asyncio.gather(fanout.run(body), fanout.run(body))  # two instances, one message
    await fanout.run(body)
    content = [m for m in await queued_bodies() if m["kind"] == "content"]
    assert len(content) == 1  # the job's content, sent once: its claim held against the other two runs
    content_body = WorkMessage.model_validate(content[0]).body()
    await asyncio.gather(fanout.run(content_body), fanout.run(content_body))  # that one delivered twice too
    await fanout.run(content_body)
    assert await assert_tables_match_graph(emulator) > 0
    assert (await tenants.home_record()).poll_queued is None


async def test_a_message_that_keeps_failing_marks_its_tenant_failing(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    home = await tenants.home_record()
    body = WorkMessage(kind="poll", tenantId=home.tenant_id).body()
    emulator.add_fault(method="GET", path="configurationSnapshotJobs", status=403, times=100)
    for _ in range(2):  # the host's attempts
        try:
            await fanout.run(body)
        except Exception:
            pass
        else:
            raise AssertionError("a poll that Graph refuses should fail")
    failed = await clients.store().tenants.get(home.tenant_id)
    assert failed is not None and failed.last_error and "GraphPermissionDenied" in failed.last_error
    await fanout.poisoned(body)  # the poison queue's trigger
    marked = await tenants.home_record()
    assert marked.status == TenantStatus.FAILING and marked.last_error == failed.last_error

    emulator.clear_faults()
    await fanout.run(body)
    recovered = await tenants.home_record()
    assert (recovered.status, recovered.last_error) == (TenantStatus.READY, None)


async def test_a_throttled_tenant_is_tried_next_tick_and_says_so(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    home = await tenants.home_record()
    body = WorkMessage(kind="poll", tenantId=home.tenant_id).body()
    emulator.add_fault(method="GET", path="configurationSnapshotJobs", status=429, retryAfter=1, times=100)
    await fanout.run(body)  # no exception: the message is done, the next tick's message tries again
    throttled = await tenants.home_record()
    assert throttled.status == TenantStatus.READY and throttled.last_error and "throttled" in throttled.last_error
    assert throttled.poll_queued is None


async def test_a_send_creates_its_queue_only_when_storage_says_it_is_missing(app_env: dict[str, str]) -> None:
    """In Azure the queues come from infra/ and the app may not create one; a fresh Azurite has none."""
    queues = clients.queues()
    name = f"fanout-new-{uuid.uuid4().hex[:8]}"
    await queues.send(name, [WorkMessage(kind="poll", tenantId=READY), WorkMessage(kind="poll", tenantId=PENDING)])
    assert sorted(m["tenantId"] for m in await queued_bodies(name)) == sorted([READY, PENDING])
    await queues.send(name, [WorkMessage(kind="probe", tenantId=READY)])  # it exists now: sent at once
    assert await queued_bodies(name) == [{"kind": "probe", "tenantId": READY, "v": 1}]
    await (await queues.client(name)).delete_queue()


async def test_a_claim_that_loses_a_race_leaves_only_that_tenant_waiting(
    multi_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims go 100 rows to a transaction; one row changed since the tick read it fails the transaction, and
    the rows are then claimed one by one, so only the changed one waits for the next tick."""
    await empty_queue()
    await register(READY, TenantStatus.READY)
    await register(GONE, TenantStatus.READY)
    stale = await tenants.list_all()
    await clients.store().tenants.apply(READY, {"display_name": "renamed meanwhile"})

    async def read_before_the_change() -> list[TenantRecord]:
        return stale

    monkeypatch.setattr(fanout.tenants, "list_all", read_before_the_change)  # the tick's read, made stale
    report = await fanout.enqueue("poll")
    home = stale[0].tenant_id
    assert report.waiting == [READY] and sorted(report.queued) == sorted([home, GONE])
    assert sorted(m["tenantId"] for m in await queued_bodies()) == sorted([home, GONE])


async def test_a_send_that_fails_releases_its_claims(
    multi_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storage's queue service failing cannot be made on Azurite on demand, so the send alone is replaced by one
    that raises what the real one raises then; the claims (real rows on Azurite) must be cleared."""
    from snapshot import errors
    from snapshot.queues import Queues

    await register(READY, TenantStatus.READY)

    async def queue_service_down(self: Queues, queue: str, messages: list[WorkMessage]) -> None:
        raise errors.StorageUnavailable("Table Storage did not answer (ServiceRequestError)", retry_after=5)

    with monkeypatch.context() as patched:
        patched.setattr(Queues, "send", queue_service_down)
        with pytest.raises(errors.StorageUnavailable):
            await fanout.enqueue("poll")
    released = await clients.store().tenants.get(READY)
    assert released is not None and released.poll_queued is None
    await empty_queue()
    assert READY in (await fanout.enqueue("poll")).queued  # the next tick sends it at once
