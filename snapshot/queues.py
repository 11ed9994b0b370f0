"""Storage Queues: the work queues the timers fill, one small JSON message per tenant, and the queue triggers
drain (docs/tenants.md). Azure Functions scales the queue-triggered functions out by the queues' length.

The app sends through the same storage connection the triggers listen on (QUEUE_CONNECTION, the Functions
conventions: a connection string, or `<name>__queueServiceUri` / `<name>__accountName` with the managed
identity). Messages are base64 text, the queue trigger's default `messageEncoding`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from snapshot import errors
from snapshot.settings import IDENTITY_CLIENT_OPTIONS, TABLE_CLIENT_OPTIONS, Settings, SettingsError
from snapshot.store.tables import storage_errors

QUEUE_CONNECTION = "AzureWebJobsStorage"
POLL_QUEUE = "snapshot-poll"  # a tenant's snapshot poll, a probe of a tenant not ready, a job's content, a summary
DRIFTS_QUEUE = "snapshot-drifts"  # a tenant's drift poll
POISON_SUFFIX = "-poison"  # where the Functions host moves a message that failed maxDequeueCount times
SENDS_IN_FLIGHT = 32

Kind = Literal["poll", "probe", "drifts", "content", "fleet", "round"]


class WorkMessage(BaseModel):
    """One unit of fanned-out work: what to do, for which tenant (and, for `content`, which job's content).

    `claimed` is the claim the sender wrote on the tenant's row (or, for `content`, the job's row): the run
    clears that claim only, never a newer one a later tick wrote after this message's claim lapsed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    kind: Kind
    tenantId: str
    jobId: str | None = None
    roundId: str | None = None
    claimed: datetime | None = None

    @model_validator(mode="after")
    def _content_names_its_job(self) -> WorkMessage:
        if (self.kind == "content") != bool(self.jobId):
            raise ValueError("jobId is given for kind content, and only for it")
        if (self.kind == "round") != bool(self.roundId):
            raise ValueError("roundId is given for kind round, and only for it")
        return self

    def body(self) -> str:
        return self.model_dump_json(exclude_none=True)


def parse_message(body: str) -> WorkMessage:
    """A queue message's body; ValidationFailed naming the field when it is not one this app sends."""
    try:
        return WorkMessage.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        fields = [".".join(str(p) for p in e["loc"]) or "body" for e in getattr(exc, "errors", lambda: [])()]
        raise errors.ValidationFailed(
            [errors.FieldError(field, "is missing or invalid in the queue message") for field in fields or ["body"]]
        ) from None


def _service(environ: Mapping[str, str]) -> Any:
    from azure.storage.queue.aio import QueueServiceClient

    options: dict[str, Any] = dict(TABLE_CLIENT_OPTIONS)
    name = QUEUE_CONNECTION
    if environ.get(name):
        return QueueServiceClient.from_connection_string(environ[name], **options)
    endpoint = environ.get(f"{name}__queueServiceUri") or environ.get(f"{name}__serviceUri")
    account = environ.get(f"{name}__accountName")
    if not endpoint and account and re.fullmatch(r"[a-z0-9]{3,24}", account):
        endpoint = f"https://{account}.queue.core.windows.net"
    if not endpoint:
        raise SettingsError(
            f"app setting {name} is missing: set {name}, {name}__queueServiceUri or {name}__accountName"
        )
    from azure.identity.aio import ManagedIdentityCredential

    credential = ManagedIdentityCredential(client_id=environ.get(f"{name}__clientId"), **IDENTITY_CLIENT_OPTIONS)
    return QueueServiceClient(endpoint, credential=credential, **options)


class Queues:
    """The app's queues on the storage account (one client per queue).

    Bicep creates the queues, and the app's identity holds only the roles to send, read and delete messages
    (infra/modules/rbac.bicep), not to create a queue. So a send goes first, and only Storage's documented
    `QueueNotFound` answer (a new local Azurite, a storage account made without infra/) makes the app create
    the queue and send again.
    """

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self._service = _service(os.environ if environ is None else environ)
        self._seen: set[str] = set()  # queues a send reached: later sends need not find out first
        self._gate = asyncio.Semaphore(SENDS_IN_FLIGHT)  # shared by every send of the process, however many
        self.sent = 0  # messages sent by this client (the bench and tests count them)

    async def client(self, queue: str, create: bool = False) -> Any:
        """The queue's client (`create`: make the queue first if it is missing, for local tools and tests)."""
        from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy

        # The policies are the queue client's own (the service client does not hand them down).
        client = self._service.get_queue_client(
            queue, message_encode_policy=TextBase64EncodePolicy(), message_decode_policy=TextBase64DecodePolicy()
        )
        if create:
            await self._create(client)
        return client

    @staticmethod
    async def _create(client: Any) -> None:
        with storage_errors(), contextlib.suppress(ResourceExistsError):
            await client.create_queue()

    async def send(self, queue: str, messages: list[WorkMessage]) -> None:
        """Send each message, SENDS_IN_FLIGHT at a time across the process. The first send to a queue finds out
        whether it exists; a queue one send reached is sent to at once (and checked again if it is gone)."""
        if not messages:
            return
        client = await self.client(queue)
        rest = messages
        if queue not in self._seen:
            await self._first(client, messages[0])
            self._seen.add(queue)
            rest = messages[1:]

        async def one(message: WorkMessage) -> None:
            async with self._gate:
                with storage_errors():
                    await client.send_message(message.body())

        try:
            await asyncio.gather(*(one(message) for message in rest))
        except ResourceNotFoundError:
            self._seen.discard(queue)  # deleted since: the next send finds out again (a message sent twice is harmless)
            raise
        self.sent += len(messages)

    async def _first(self, client: Any, message: WorkMessage) -> None:
        try:
            with storage_errors():
                await client.send_message(message.body())
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) != "QueueNotFound":  # set by the Storage SDK from the answer
                raise
            await self._create(client)
            with storage_errors():
                await client.send_message(message.body())

    async def close(self) -> None:
        await self._service.close()
