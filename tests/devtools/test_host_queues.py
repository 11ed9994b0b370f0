"""devtools.host.queues on Azurite's queue service: host.json's options, base64 bodies, retries, the poison queue."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.storage.queue.aio import QueueServiceClient

from devtools import services
from devtools.host import queues as queues_module
from devtools.host.errors import HostError
from devtools.host.indexing import FunctionInfo
from devtools.host.queues import QueueListener, QueueOptions, read_queue_options


def test_queue_options_come_from_host_json_with_its_comments(tmp_path: Path) -> None:
    host_json = tmp_path / "host.json"
    host_json.write_text(
        '{"extensions": {"queues": {\n  // why\n  "batchSize": 4, "maxDequeueCount": 2,\n'
        '  "visibilityTimeout": "00:00:01.5", "maxPollingInterval": "00:00:02", "messageEncoding": "none"}}}'
    )
    assert read_queue_options(host_json) == QueueOptions(
        batch_size=4, max_dequeue_count=2, visibility_timeout=1.5, max_polling_interval=2.0, base64=False
    )
    assert read_queue_options(services.ROOT / "host.json").max_dequeue_count == 3  # the app's own
    host_json.write_text('{"extensions": {"queues": {"batchSize": 64}}}')
    with pytest.raises(HostError, match="batchSize must be 1 to 32"):
        read_queue_options(host_json)


@pytest.fixture
async def service(azurite_queue_service: services.Service) -> AsyncIterator[QueueServiceClient]:
    connection = services.azurite_connection_string(0, azurite_queue_service.port)
    async with QueueServiceClient.from_connection_string(connection) as client:
        yield client


def listener_for(service: QueueServiceClient, seen: list[dict[str, Any]], fail_until: int) -> QueueListener:
    async def handler(msg: func.QueueMessage) -> None:
        seen.append({"body": json.loads(msg.get_body()), "dequeue_count": msg.dequeue_count})
        if msg.dequeue_count is not None and msg.dequeue_count < fail_until:
            raise RuntimeError("not yet")

    queue = f"q{uuid.uuid4().hex[:12]}"
    fn = FunctionInfo(name="handler", trigger_name="msg", user_function=handler, queue_name=queue, connection="x")
    return QueueListener(fn, service, QueueOptions(batch_size=2, max_dequeue_count=3, visibility_timeout=0))


async def send(listener: QueueListener, body: dict[str, Any]) -> None:
    await listener.ensure_queues()
    await listener.queue.send_message(base64.b64encode(json.dumps(body).encode()).decode())


async def test_a_message_is_decoded_run_and_deleted(service: QueueServiceClient) -> None:
    seen: list[dict[str, Any]] = []
    listener = listener_for(service, seen, fail_until=0)
    for n in range(3):
        await send(listener, {"n": n})
    assert await listener.drain() == {"processed": 3, "failed": 0, "poisoned": 0}
    assert sorted(s["body"]["n"] for s in seen) == [0, 1, 2]
    assert (await listener.queue.get_queue_properties()).approximate_message_count == 0


async def test_a_failed_message_is_retried_then_succeeds(service: QueueServiceClient) -> None:
    seen: list[dict[str, Any]] = []
    listener = listener_for(service, seen, fail_until=2)
    await send(listener, {"n": 1})
    assert await listener.drain() == {"processed": 1, "failed": 1, "poisoned": 0}
    assert [s["dequeue_count"] for s in seen] == [1, 2]


async def test_a_message_failing_max_dequeue_count_times_moves_to_the_poison_queue(
    service: QueueServiceClient,
) -> None:
    seen: list[dict[str, Any]] = []
    listener = listener_for(service, seen, fail_until=99)
    await send(listener, {"n": 7})
    assert await listener.drain() == {"processed": 0, "failed": 3, "poisoned": 1}
    assert [s["dequeue_count"] for s in seen] == [1, 2, 3]
    poisoned = [m async for m in listener.poison.receive_messages()]
    assert [json.loads(base64.b64decode(m.content)) for m in poisoned] == [{"n": 7}]
    assert (await listener.queue.get_queue_properties()).approximate_message_count == 0


async def test_a_long_run_keeps_its_message_hidden_by_renewing_the_lease(
    service: QueueServiceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host renews a running message's lease; without it the message would be delivered again under its run."""
    monkeypatch.setattr(queues_module, "LEASE_SECONDS", 2)
    seen_again: list[int] = []

    async def long_run(msg: func.QueueMessage) -> None:
        await asyncio.sleep(3.5)  # past the 2-second lease it was received with
        seen_again.extend([1 async for _ in listener.queue.receive_messages(visibility_timeout=1)])

    queue = f"q{uuid.uuid4().hex[:12]}"
    fn = FunctionInfo(name="long", trigger_name="msg", user_function=long_run, queue_name=queue, connection="x")
    listener = QueueListener(fn, service, QueueOptions(batch_size=1, max_dequeue_count=3, visibility_timeout=0))
    await send(listener, {"n": 1})
    assert await listener.drain() == {"processed": 1, "failed": 0, "poisoned": 0}
    assert seen_again == []
    assert (await listener.queue.get_queue_properties()).approximate_message_count == 0
