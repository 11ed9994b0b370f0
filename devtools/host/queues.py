"""Queue triggers on Azurite's real queue service, as the Functions host runs them (host.json
`extensions.queues`, documented at learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue).

- Each queue function has a listener: it receives up to `batchSize` messages with a 10-minute lease (the
  host's), renewed every half lease while a run goes on (as the host does, so a long run is not delivered
  again under itself), runs them at once, deletes each that succeeded, and makes a failed one visible again after
  `visibilityTimeout`; one that failed `maxDequeueCount` times is moved to `<queue>-poison`.
- An empty poll waits longer each time, from 100 ms up to `maxPollingInterval`.
- `drain` runs what is visible now to the end (the admin endpoint `POST /admin/queues/{queue}/drain`), so
  tests and tools can process a queue deterministically; `--no-queue-polling` leaves draining to it alone.
Not modelled: `newBatchThreshold` (a batch is fetched when the previous one is done).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from azure.functions.queue import QueueMessage

from devtools.host.errors import HostError
from devtools.host.indexing import FunctionInfo
from devtools.host.invoke import FunctionFailed, invoke
from devtools.host.settings import read_host_json

log = logging.getLogger("devtools.host")
LEASE_SECONDS = 600
POISON_SUFFIX = "-poison"
FIRST_BACKOFF = 0.1


class Lease:
    """A received message's lease, renewed every half lease while its run goes on; `message` holds the newest
    pop receipt. `stop` lets a renewal in flight finish (cancelling it could lose the receipt it got)."""

    def __init__(self, queue: Any, message: Any, seconds: float) -> None:
        self.queue = queue
        self.message = message
        self.seconds = seconds
        self._stopped = asyncio.Event()
        self._task = asyncio.ensure_future(self._keep())

    async def _keep(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self.seconds / 2)
            if self._stopped.is_set():
                return
            try:
                self.message = await self.queue.update_message(self.message, visibility_timeout=int(self.seconds))
            except Exception:  # the host logs and carries on: the run goes on, the message may be delivered again
                log.exception("lease of message %s not renewed", self.message.id)
                return

    async def stop(self) -> None:
        self._stopped.set()
        await self._task


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 60.0
    base64: bool = True


def _seconds(value: Any, where: str) -> float:
    """host.json durations are `hh:mm:ss` (with optional fractions)."""
    match = re.fullmatch(r"(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)", str(value))
    if not match:
        raise HostError(f"host.json: {where} must be a hh:mm:ss duration")
    hours, minutes, seconds = match.groups()
    return timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds)).total_seconds()


def read_queue_options(host_json: Path) -> QueueOptions:
    queues = (read_host_json(host_json).get("extensions") or {}).get("queues") or {}
    defaults = QueueOptions()
    encoding = str(queues.get("messageEncoding", "base64")).lower()
    if encoding not in ("base64", "none"):
        raise HostError("host.json: extensions.queues.messageEncoding must be base64 or none")
    batch = int(queues.get("batchSize", defaults.batch_size))
    if not 1 <= batch <= 32:
        raise HostError("host.json: extensions.queues.batchSize must be 1 to 32")
    return QueueOptions(
        batch_size=batch,
        max_dequeue_count=int(queues.get("maxDequeueCount", defaults.max_dequeue_count)),
        visibility_timeout=_seconds(queues.get("visibilityTimeout", "00:00:00"), "extensions.queues.visibilityTimeout"),
        max_polling_interval=_seconds(
            queues.get("maxPollingInterval", "00:01:00"), "extensions.queues.maxPollingInterval"
        ),
        base64=encoding == "base64",
    )


def queue_service(connection: str, settings: Mapping[str, str]) -> Any:
    """The queue service of a trigger's `connection` setting: a connection string (local: Azurite)."""
    from azure.storage.queue.aio import QueueServiceClient

    value = settings.get(connection)
    if not value:
        raise HostError(f"queue trigger connection {connection!r}: app setting {connection} is not set")
    if value.strip().lower() == "usedevelopmentstorage=true":
        value = (
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
            "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
        )
    if "queueendpoint=" not in value.lower():
        raise HostError(f"queue trigger connection {connection!r}: the connection string has no QueueEndpoint")
    return QueueServiceClient.from_connection_string(value, connection_timeout=5, read_timeout=30)


class QueueListener:
    """One queue function's listener on its queue."""

    def __init__(self, fn: FunctionInfo, service: Any, options: QueueOptions) -> None:
        assert fn.queue_name is not None
        self.fn = fn
        self.service = service
        self.options = options
        self.queue = service.get_queue_client(fn.queue_name)
        self.poison = service.get_queue_client(fn.queue_name + POISON_SUFFIX)
        self.processed = self.failed = self.poisoned = 0

    async def close(self) -> None:
        for client in (self.queue, self.poison):
            await client.close()
        await self.service.close()

    async def ensure_queues(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        for client in (self.queue, self.poison):
            with contextlib.suppress(ResourceExistsError):
                await client.create_queue()

    async def run_batch(self) -> int:
        """Receive one batch and run it; the count received."""
        batch = [
            message
            async for message in self.queue.receive_messages(
                messages_per_page=self.options.batch_size,
                max_messages=self.options.batch_size,
                visibility_timeout=LEASE_SECONDS,
            )
        ]
        await asyncio.gather(*(self._one(message) for message in batch))
        return len(batch)

    async def _one(self, message: Any) -> None:
        content = message.content
        body = base64.b64decode(content) if self.options.base64 else str(content).encode("utf-8")
        trigger = QueueMessage(  # the worker's own class, with the dequeue count and times
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            pop_receipt=message.pop_receipt,
            insertion_time=message.inserted_on,
            expiration_time=message.expires_on,
            time_next_visible=message.next_visible_on,
        )
        lease = Lease(self.queue, message, LEASE_SECONDS)
        try:
            await invoke(self.fn, trigger)
        except FunctionFailed:
            self.failed += 1
            await lease.stop()
            if message.dequeue_count >= self.options.max_dequeue_count:
                await self.poison.send_message(content)
                await self.queue.delete_message(lease.message)
                self.poisoned += 1
                log.warning("message %s moved to %s%s", message.id, self.fn.queue_name, POISON_SUFFIX)
            else:
                await self.queue.update_message(lease.message, visibility_timeout=int(self.options.visibility_timeout))
            return
        finally:
            await lease.stop()  # idempotent: also when the run was cancelled
        await self.queue.delete_message(lease.message)
        self.processed += 1

    async def listen(self) -> None:
        """Poll until cancelled, waiting longer after each empty poll (up to maxPollingInterval)."""
        await self.ensure_queues()
        wait = FIRST_BACKOFF
        while True:
            try:
                received = await self.run_batch()
            except Exception:  # a storage hiccup: log, back off, go on (as the host does)
                log.exception("queue %s: receive failed", self.fn.queue_name)
                received = 0
            wait = FIRST_BACKOFF if received else min(wait * 2, self.options.max_polling_interval)
            if not received:
                await asyncio.sleep(wait)

    async def drain(self) -> dict[str, int]:
        """Run every message visible now (and those its runs make visible at once) until none is left."""
        await self.ensure_queues()
        before = (self.processed, self.failed, self.poisoned)
        while await self.run_batch():
            pass
        return {
            "processed": self.processed - before[0],
            "failed": self.failed - before[1],
            "poisoned": self.poisoned - before[2],
        }
