"""The fleet over N emulated tenants (default 1,000; BENCH_FLEET_TENANTS), in-process on Azurite (tables and
queues) and the emulator, tenancy=multi with azure-identity's real credentials, a standard set in the home tenant.

- a round end to end: POST's use case (a member row per tenant, one `round` message each), the round messages
  run as one instance runs them (bench/tenants.py's drain: batchSize + newBatchThreshold at once), the poll
  tick fanned out (each poll hands its finished job to a content message, which stores it and computes the
  tenant's summary against the standard), then the round's status until 200;
- the sum of its parts measured alone, with the same concurrency and no queue: every tenant's snapshot started
  by the use case directly, then every tenant polled inline (content stored in the poll) and summarised, then
  one status read (ratio: what the round's orchestration costs over its work);
- GET /api/fleet's use case for a page of 100, first and last page: Table requests (a constant: the registry,
  the summaries' partition and the standard, each a query of two pages at 1,000 tenants) and its time.
Figures go in bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any

from bench.stack import USER, Stack, multi_tenant_app, stack, verdict
from bench.tenants import AT_ONCE, drain, register, tenant_ids

TENANTS = int(os.environ.get("BENCH_FLEET_TENANTS", "1000"))


def prepare_emulator(st: Stack, ids: list[str]) -> None:
    control = st.control
    control.reset()
    control.configure(jobStartSeconds=0, jobDurationSeconds=0)
    for number, tenant_id in enumerate(ids):
        control.add_tenant(tenant_id, f"Fleet tenant {number}")
        control.for_tenant(tenant_id).configure(jobStartSeconds=0, jobDurationSeconds=0)


async def set_standard() -> None:
    from snapshot.fleet import StandardRequest
    from snapshot.models import StartSnapshotRequest
    from snapshot.usecases import fleet, poll, start

    golden = await start.start_snapshot(StartSnapshotRequest(displayName="Fleet golden", resources=[USER]))
    await poll.poll()  # stored inline, in the home tenant
    await fleet.set_standard(StandardRequest(tenantId="home", snapshotId=golden.record.id))


async def run_all(work: Any) -> None:
    from snapshot.queues import POLL_QUEUE

    await drain(POLL_QUEUE, work)


async def in_each(ids: list[str], work: Any) -> float:
    """`work()` in the home tenant and in each of `ids`' tenants, AT_ONCE at a time; the seconds it took."""
    from snapshot import clients

    tenants = [clients.tenant_named("home"), *(clients.tenant_named(t) for t in ids)]
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(tenant: Any) -> None:
        async with gate:
            with clients.working_in(tenant):
                await work()

    begun = time.perf_counter()
    await asyncio.gather(*(one(t) for t in tenants))
    return time.perf_counter() - begun


async def round_end_to_end() -> tuple[str, dict[str, float]]:
    from snapshot.rounds import RoundRequest
    from snapshot.usecases import fanout, rounds

    phases: dict[str, float] = {}
    started = time.perf_counter()
    round_, members = await rounds.start_round(RoundRequest(resourceTypes=[USER]))
    phases["start"] = time.perf_counter() - started
    await run_all(fanout.run)  # the round's messages
    phases["members"] = time.perf_counter() - started - phases["start"]
    await fanout.enqueue("poll")
    await run_all(fanout.run)  # polls, then each tenant's content message (stored, summarised)
    polls_end = time.perf_counter() - started
    phases["polls"] = polls_end - phases["start"] - phases["members"]
    _, members = await rounds.status(round_.id)
    outcomes = Counter(m.state.value for m in members)
    assert outcomes == {"stored": len(members)}, outcomes
    phases["status"] = time.perf_counter() - started - polls_end
    phases["total"] = time.perf_counter() - started
    return round_.id, phases


async def parts_alone(ids: list[str], round_id: str) -> dict[str, float]:
    from snapshot.models import StartSnapshotRequest
    from snapshot.usecases import fleet, poll, rounds, start

    request = StartSnapshotRequest(displayName="Fleet direct start", resources=[USER])
    starts = await in_each(ids, lambda: start.start_snapshot(request))

    async def poll_and_summarise() -> None:
        await poll.poll()
        await fleet.summarise()

    polls = await in_each(ids, poll_and_summarise)
    begun = time.perf_counter()
    await rounds.status(round_id)
    return {"start": starts, "polls": polls, "status": time.perf_counter() - begun}


async def fleet_pages(table_requests: Counter[str]) -> list[dict[str, Any]]:
    from snapshot.usecases import fleet

    pages = []
    for token in (None, str((TENANTS // 100) * 100)):
        table_requests.clear()
        begun = time.perf_counter()
        page = await fleet.page("deviations", "100", token)
        pages.append({"token": token, "rows": len(page.rows), "tables": table_requests["n"],
                      "ms": (time.perf_counter() - begun) * 1000, "count": page.count})  # fmt: skip
    return pages


async def measure(st: Stack) -> dict[str, Any]:
    from snapshot import clients
    from snapshot.usecases import fanout, fleet

    ids = tenant_ids(TENANTS)
    prepare_emulator(st, ids)
    async with multi_tenant_app(st) as table_requests:
        await register(ids)
        await set_standard()
        await run_all(fanout.run)  # the standard's fleet messages, before the round (not part of it)
        await in_each(ids, lambda: clients.graph().list_jobs())  # each token fetched before either measurement
        round_id, e2e = await round_end_to_end()
        summarised = sum(1 for row in (await fleet.fleet_rows())[0] if row.deviations is not None)
        pages = await fleet_pages(table_requests)
        alone = await parts_alone(ids, round_id)
    return {"e2e": e2e, "alone": alone, "pages": pages, "summarised": summarised}


def main() -> None:
    print(f"# fleet: a round over {TENANTS} tenants and the home tenant, {AT_ONCE} messages at once")
    with stack("fleet") as st:
        result = asyncio.run(measure(st))
    e2e, alone = result["e2e"], result["alone"]
    parts = alone["start"] + alone["polls"] + alone["status"]
    ratio = parts / e2e["total"]
    print(
        f"round end to end {e2e['total']:.1f} s (start {e2e['start']:.2f} s, members {e2e['members']:.1f} s, "
        f"polls and contents {e2e['polls']:.1f} s, status {e2e['status']:.2f} s) vs its parts alone {parts:.1f} s "
        f"(starts {alone['start']:.1f} s, polls {alone['polls']:.1f} s, status {alone['status']:.2f} s): "
        f"{ratio:.2f}x ({verdict(ratio >= 0.9)}); {result['summarised']} tenants summarised against the standard"
    )
    for page in result["pages"]:
        print(
            f"GET /api/fleet page {page['token'] or 'first'}: {page['rows']} of {page['count']} tenants, "
            f"{page['tables']} Table requests ({verdict(page['tables'] <= 6)}: a constant), {page['ms']:.0f} ms"
        )


if __name__ == "__main__":
    main()
