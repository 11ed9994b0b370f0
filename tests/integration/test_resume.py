"""Resumable ingestion, in-process against Azurite and the emulator.

A content of 2,000 resources is written in 200 transactions (the transaction size is lowered to 10 entities
so that 200 transactions stay quick on Azurite). The fault is injected at the SDK boundary: Azurite cannot be
made to reset one chosen connection, so `TableClient.submit_transaction` raises azure-core's
ServiceResponseError (what a connection reset by the peer raises) for the chosen transaction; every other
call goes to the real Azurite. Transactions are counted at that same boundary (attempts included).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from azure.core.exceptions import ServiceResponseError
from azure.data.tables.aio import TableClient

from devtools.emulator_client import EmulatorControl
from snapshot import clients
from snapshot.models import ContentState
from snapshot.store import resources
from snapshot.usecases import poll, quota, reads
from tests.support.inprocess import USER, assert_tables_match_graph, start_job

ENTITIES = 2_000
PER_TRANSACTION = 10
TRANSACTIONS = ENTITIES // PER_TRANSACTION
FAULT_AT = 150


@dataclass
class Faults:
    """Counts the resource transactions sent; fails the FAULT_AT-th one `times` times with `error`."""

    table: str
    times: int = 0
    error: type[BaseException] = ServiceResponseError
    sent: int = 0
    failed: int = 0
    order: dict[str, int] = field(default_factory=dict)  # first RowKey of a transaction -> its rank

    def check(self, client: TableClient, operations: list[Any]) -> None:
        if client.table_name != self.table:
            return
        self.sent += 1
        rank = self.order.setdefault(operations[0][1]["RowKey"], len(self.order) + 1)
        if rank == FAULT_AT and self.failed < self.times:
            self.failed += 1
            raise self.error("Connection reset by peer (injected)")


@pytest.fixture
def faults(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    monkeypatch.setattr(resources, "TRANSACTION_MAX_ENTITIES", PER_TRANSACTION)
    found = Faults(clients.store().settings.tables.resources)
    original = TableClient.submit_transaction

    async def submit(self: TableClient, operations: Any, **kwargs: Any) -> Any:
        operations = list(operations)
        found.check(self, operations)
        return await original(self, operations, **kwargs)

    monkeypatch.setattr(TableClient, "submit_transaction", submit)
    yield found


async def ready_job(emulator: EmulatorControl) -> str:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={USER: ENTITIES})
    return await start_job("Resumed job")


async def test_a_transient_failure_of_one_transaction_is_retried_and_the_tick_succeeds(
    faults: Faults, emulator: EmulatorControl
) -> None:
    job_id = await ready_job(emulator)
    faults.times = 1
    report = await poll.poll()
    assert report.failures == 0 and report.downloaded == 1
    assert faults.failed == 1 and faults.sent == TRANSACTIONS + 1  # the failed one sent once more
    assert (await reads.get_job(job_id)).content_state == ContentState.STORED
    assert await assert_tables_match_graph(emulator) == ENTITIES


async def test_a_tick_that_fails_at_the_150th_of_200_transactions_is_finished_by_the_next(
    faults: Faults, emulator: EmulatorControl
) -> None:
    job_id = await ready_job(emulator)
    faults.times = resources.TRANSACTION_ATTEMPTS  # every attempt of the 150th fails: the tick ends early
    first = await poll.poll()
    assert first.failures == 1 and first.downloaded == 0
    assert faults.failed == resources.TRANSACTION_ATTEMPTS
    assert (await reads.get_job(job_id)).content_state != ContentState.STORED
    marker = (await reads.get_job(job_id)).content_progress
    # Batches 1..146 had committed when the 150th was sent (at most 4 in flight); none from the 150th on.
    assert marker is not None and marker >= (FAULT_AT - resources.TRANSACTIONS_IN_FLIGHT) * PER_TRANSACTION
    assert marker <= (FAULT_AT - 1) * PER_TRANSACTION

    faults.sent = 0
    second = await poll.poll()
    assert second.failures == 0 and second.downloaded == 1
    assert faults.sent == math.ceil((ENTITIES - marker) / PER_TRANSACTION)
    assert faults.sent <= TRANSACTIONS - FAULT_AT + 1 + resources.TRANSACTIONS_IN_FLIGHT
    record = await reads.get_job(job_id)
    assert record.content_progress is None and record.resource_count == ENTITIES
    assert record.resource_type_counts == {USER: ENTITIES}
    assert await assert_tables_match_graph(emulator) == ENTITIES
    assert (await quota.quota_status()).used == ENTITIES  # its ledger row was written twice, counted once


async def test_a_tick_cancelled_half_way_resumes_from_the_last_checkpoint(
    faults: Faults, emulator: EmulatorControl
) -> None:
    job_id = await ready_job(emulator)
    faults.times, faults.error = 1, asyncio.CancelledError  # what a host does to a function past its timeout
    with pytest.raises(asyncio.CancelledError):
        await poll.poll()
    marker = (await reads.get_job(job_id)).content_progress
    assert marker is not None and marker >= resources.CHECKPOINT_TRANSACTIONS * PER_TRANSACTION

    faults.sent = 0
    second = await poll.poll()
    assert second.downloaded == 1
    assert faults.sent == math.ceil((ENTITIES - marker) / PER_TRANSACTION)
    assert faults.sent <= TRANSACTIONS - FAULT_AT + 1 + resources.CHECKPOINT_TRANSACTIONS
    assert await assert_tables_match_graph(emulator) == ENTITIES
