"""Many tenants: one poll tick fanned out over N emulated tenants (default 1,000; BENCH_TENANTS), in-process on
Azurite (tables and queues) and the emulator, tenancy=multi with azure-identity's real credentials.

- enqueue: the tick's `fanout.enqueue` (list the tenants, claim each row, send one message each) against a
  bare loop sending the same number of messages to the same Azurite with the same concurrency (ratio);
- processing: the tick's messages run as one instance runs them (batchSize + newBatchThreshold at once)
  against the same queue's ceiling, receiving and deleting as many messages that do nothing (ratio), and
  against the same runs called directly, with the same concurrency and no queue (ratio: what the queue path
  costs over the work itself);
- Graph list calls per tenant (exactly one), token requests and Table requests per tenant;
- the slowest tenant's time from the tick's start to its poll's end (no tenant starves);
- the process's resident memory every quarter of the tenants' count of messages (it must not grow with the tenants done).

Two ticks: the first stores each tenant's jobs (cold: tokens fetched, contents downloaded), the second is the
steady state (nothing new in Graph). Figures go in bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter
from typing import Any

from bench.stack import USER, Stack, multi_tenant_app, stack, verdict

TENANTS = int(os.environ.get("BENCH_TENANTS", "1000"))
JOBS_PER_TENANT = 2
BATCH_SIZE, NEW_BATCH_THRESHOLD = 8, 4  # host.json's extensions.queues
AT_ONCE = BATCH_SIZE + NEW_BATCH_THRESHOLD  # what one instance runs at once
BARE_QUEUE = "bench-bare"


def tenant_ids(count: int) -> list[str]:
    return [str(uuid.UUID(int=(0x7E1B << 112) + n)) for n in range(1, count + 1)]


def prepare_emulator(st: Stack, ids: list[str]) -> None:
    control = st.control
    control.reset()
    for number, tenant_id in enumerate(ids):
        control.add_tenant(tenant_id, f"Bench tenant {number}")
        scoped = control.for_tenant(tenant_id)
        scoped.configure(jobStartSeconds=0, jobDurationSeconds=0)
        for job in range(JOBS_PER_TENANT):
            scoped.create_job(displayName=f"Bench job {job}", resources=[USER], status="succeeded")


async def register(ids: list[str]) -> None:
    from snapshot import clients
    from snapshot.onboarding import TenantRecord, TenantStatus

    table = clients.store().tenants
    gate = asyncio.Semaphore(32)

    async def one(tenant_id: str) -> None:
        async with gate:
            await table.insert(
                TenantRecord(tenant_id=tenant_id, display_name=tenant_id[-4:], status=TenantStatus.READY)
            )

    await asyncio.gather(*(one(t) for t in ids))


async def bare_send(count: int) -> float:
    from snapshot import clients
    from snapshot.queues import WorkMessage

    queues = clients.queues()
    await (await queues.client(BARE_QUEUE, create=True)).clear_messages()
    messages = [WorkMessage(kind="poll", tenantId=t) for t in tenant_ids(count)]
    started = time.perf_counter()
    await queues.send(BARE_QUEUE, messages)
    return time.perf_counter() - started


async def drain(queue: str, work: Any, samples: list[int] | None = None, total: int = 0) -> tuple[float, list[float]]:
    """Receive, run and delete every message as one instance's queue listener does (host.json): a batch of
    BATCH_SIZE received, the next one when the runs in flight drop to NEW_BATCH_THRESHOLD, so at most AT_ONCE
    run at a time; (seconds, each message's end since start)."""
    from snapshot import clients

    client = await clients.queues().client(queue, create=True)
    started = time.perf_counter()
    ends: list[float] = []

    async def one(message: Any) -> None:
        await work(message.content)
        await client.delete_message(message)
        ends.append(time.perf_counter() - started)
        if samples is not None and total and len(ends) % max(1, total // 4) == 0:
            samples.append(resident_kib())

    running: set[asyncio.Task[None]] = set()
    while True:
        if len(running) <= NEW_BATCH_THRESHOLD:
            batch = [
                m
                async for m in client.receive_messages(
                    messages_per_page=BATCH_SIZE, max_messages=BATCH_SIZE, visibility_timeout=300
                )
            ]
            running |= {asyncio.ensure_future(one(m)) for m in batch}
            if not batch and not running:
                break
            if batch:
                continue
        done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    return time.perf_counter() - started, ends


async def direct(count: int) -> float:
    """A steady tick's messages received first (untimed), then run AT_ONCE at a time with no queue in between:
    the same work as the queue path without its receives and deletes; the seconds the runs took."""
    from snapshot import clients
    from snapshot.queues import POLL_QUEUE
    from snapshot.usecases import fanout

    report = await fanout.enqueue("poll")
    assert len(report.queued) == count, report
    client = await clients.queues().client(POLL_QUEUE)
    bodies: list[str] = []
    while len(bodies) < count:
        batch = [m async for m in client.receive_messages(messages_per_page=32, max_messages=32)]
        bodies += [m.content for m in batch]
        await asyncio.gather(*(client.delete_message(m) for m in batch))
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(body: str) -> None:
        async with gate:
            await fanout.run(body)

    started = time.perf_counter()
    await asyncio.gather(*(one(body) for body in bodies))
    return time.perf_counter() - started


def resident_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


async def nothing(_: str) -> None:
    return None


async def tick(st: Stack, ids: list[str], table_requests: Counter[str]) -> dict[str, Any]:
    from snapshot.queues import POLL_QUEUE, parse_message
    from snapshot.usecases import fanout, tenants

    control = st.control
    started = time.perf_counter()
    await tenants.list_all()  # alone, to show what the tick's read of the registry costs
    list_s = time.perf_counter() - started
    control.clear_requests()
    table_requests.clear()
    started = time.perf_counter()
    report = await fanout.enqueue("poll")
    enqueue_s = time.perf_counter() - started
    assert len(report.queued) == len(ids) + 1, report  # and the home tenant
    enqueue_tables = table_requests["n"]
    samples: list[int] = []
    kinds: Counter[str] = Counter()

    async def run(body: str) -> None:
        kinds[parse_message(body).kind] += 1
        await fanout.run(body)

    run_s, ends = await drain(POLL_QUEUE, run, samples, len(ids) + 1)
    requests = control.requests()
    lists = Counter(r["tenant"] for r in requests if r["method"] == "GET" and r["path"].endswith("SnapshotJobs"))
    tokens = sum(1 for r in requests if r["path"].endswith("/oauth2/v2.0/token"))
    return {
        "enqueue_s": enqueue_s,
        "list_s": list_s,
        "run_s": run_s,
        "messages": dict(kinds),
        "slowest_s": enqueue_s + max(ends),
        "lists_per_tenant": sorted(set(lists.values())),
        "tenants_listed": len(lists),
        "tokens_per_tenant": tokens / len(ids),
        "tables_per_tenant": (table_requests["n"] - enqueue_tables) / (len(ids) + 1),
        "enqueue_tables_per_tenant": enqueue_tables / (len(ids) + 1),
        "memory_mib": [round(s / 1024) for s in samples],
    }


async def measure(st: Stack) -> list[dict[str, Any]]:
    ids = tenant_ids(TENANTS)
    prepare_emulator(st, ids)
    rows = []
    async with multi_tenant_app(st) as table_requests:
        await register(ids)
        for name in ("cold", "steady"):
            bare_s = await bare_send(len(ids) + 1)
            ceiling_s, _ = await drain(BARE_QUEUE, nothing)
            row = await tick(st, ids, table_requests)
            rows.append({"tick": name, "bare_send_s": bare_s, "ceiling_s": ceiling_s, **row})
        rows[-1]["direct_s"] = await direct(len(ids) + 1)
    return rows


def main() -> None:
    print(f"# tenants: one poll tick over {TENANTS} tenants ({JOBS_PER_TENANT} jobs each), {AT_ONCE} messages at once")
    with stack("tenants") as st:
        rows = asyncio.run(measure(st))
    for row in rows:
        messages = TENANTS + 1
        processed = sum(row["messages"].values())
        enqueue_ratio = row["bare_send_s"] / row["enqueue_s"]
        rate, ceiling = processed / row["run_s"], messages / row["ceiling_s"]
        print(
            f"{row['tick']:>6}: enqueue {row['enqueue_s']:.2f} s vs bare {row['bare_send_s']:.2f} s "
            f"({enqueue_ratio:.2f}x, {verdict(enqueue_ratio >= 0.9)}); processed {processed} messages "
            f"{row['messages']} at {rate:.0f} msg/s vs ceiling {ceiling:.0f} msg/s ({rate / ceiling:.2f}x, "
            f"{verdict(rate / ceiling >= 0.9)}); slowest tenant polled {row['slowest_s']:.1f} s after the tick began"
        )
        if "direct_s" in row:
            ratio = row["direct_s"] / row["run_s"]
            print(
                f"        the same {messages} polls called directly (no queue, {AT_ONCE} at once) {row['direct_s']:.2f} s "
                f"vs through the queue {row['run_s']:.2f} s ({ratio:.2f}x, {verdict(ratio >= 0.9)})"
            )
        one_list = row["lists_per_tenant"] == [1] and row["tenants_listed"] == messages
        print(
            f"        Graph list calls per tenant {row['lists_per_tenant']} over {row['tenants_listed']} tenants "
            f"({verdict(one_list)}); token requests per tenant {row['tokens_per_tenant']:.2f}; Table requests per "
            f"tenant {row['tables_per_tenant']:.1f} (enqueue {row['enqueue_tables_per_tenant']:.3f}; reading the registry alone {row['list_s']:.2f} s); resident memory "
            f"every {(TENANTS + 1) // 4} messages {row['memory_mib']} MiB"
        )


if __name__ == "__main__":
    main()
