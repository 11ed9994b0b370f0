"""Helpers of the tests on the fan-out: onboard a tenant, run the poll queue's messages as the trigger would."""

from __future__ import annotations

from collections import Counter

from snapshot import clients
from snapshot.onboarding import RegisterTenantRequest, TenantStatus
from snapshot.queues import POLL_QUEUE, parse_message
from snapshot.usecases import fanout, tenants


async def onboard(tenant_id: str, name: str) -> TenantStatus:
    record, _ = await tenants.register(RegisterTenantRequest(tenantId=tenant_id, displayName=name))
    return record.status


async def run_queued() -> Counter[str]:
    """Run every waiting poll message as the queue trigger would, and the messages those runs send (a poll's
    content messages), until the queue is empty; the kinds run, counted (the test is the queue's only consumer)."""
    client = await clients.queues().client(POLL_QUEUE, create=True)
    ran: Counter[str] = Counter()
    while True:
        batch = [m async for m in client.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=60)]
        if not batch:
            return ran
        for message in batch:
            await fanout.run(message.content)
            await client.delete_message(message)
            ran[parse_message(message.content).kind] += 1
