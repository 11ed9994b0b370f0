"""Ingestion: snapshots of 1,000 / 5,000 / 20,000 resources stored by the poller, beside the SDK's ceiling.

The poller (`snapshot.usecases.poll.poll()`, in-process, warm clients) downloads the content from the
emulator and writes it to Azurite. The ceiling writes the very same entities (built beforehand from the same
content) straight to Azurite in transactions of 100 on one warm client, with 1, 4 and 8 transactions in
flight; the best of the three is the ceiling. Tick and ceiling are interleaved (their order alternates by
round), ROUNDS rounds per size after one untimed tick and ceiling at that size (Azurite's JIT and this
process warm up there, not in round 1's tick), medians with the spread; each row is printed as soon as it is
measured.
The largest size runs one round, without the warm-up, with the ceiling at 4 in flight (a round there takes
minutes on Azurite).
Memory: a separate traced tick per size, and at MEMORY_SIZES; tracemalloc's peak minus the traced memory at
the tick's start, against the content's size. A content of at most 1 MiB is parsed whole, a larger one
streamed (snapshot/content/stream.py), so each read has its own line: the fixed part is its intercept.

Targets: tick >= 0.9x the best ceiling (median of the rounds) at 1,000 and 5,000; Table requests within 5% of
ceil(entities/100) plus the job's own; the largest size completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import math
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from bench.stack import USER, Stack, median, reset_app, spread, stack, use_app_environment, verdict

SIZES = (1_000, 5_000, 20_000)
ROUNDS = 3
IN_FLIGHT = (1, 4, 8)
LARGEST_IN_FLIGHT = (4,)
TARGET = 0.9
TARGET_SIZES = (1_000, 5_000)
MEMORY_SIZES = (2_000, 10_000)  # traced only: a second point on each read's line
T = TypeVar("T")
ATTEMPTS = 4  # the ceiling retries a transaction Azurite drops, as the app does (else one reset ends the bench)


async def resent(call: Callable[[], Awaitable[T]]) -> T:
    """The harness's own Table calls (create, delete) sent again when Azurite drops a connection, as the app's
    resource transactions are: a dropped keep-alive connection must not end the bench."""
    from azure.core.exceptions import AzureError

    from snapshot.errors import ServiceError

    for attempt in range(1, ATTEMPTS):
        try:
            return await call()
        except (AzureError, ServiceError):
            await asyncio.sleep(0.5 * 2 ** (attempt - 1))
    return await call()


def content_bytes(st: Stack, job: dict[str, Any]) -> bytes:
    snapshot_id = job["resourceLocation"].split("('")[1].split("')")[0]
    return httpx.get(f"{st.control.base_url}/_emulator/snapshots/{snapshot_id}", timeout=120).content


def finished_job(st: Stack, n: int) -> tuple[str, bytes]:
    """A fresh emulator holding one finished job of n resources; its id and content."""
    control = st.control
    control.reset()
    control.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={USER: n})
    job = control.create_job(displayName=f"Bench ingest {n}", resources=[USER])
    control.complete_job(job["id"])
    return str(job["id"]), content_bytes(st, control.jobs()[0])


async def tick(st: Stack, job_id: str, n: int, trace: bool = False) -> dict[str, Any]:
    """One poller tick storing the emulator's finished job into fresh tables, clients warmed first."""
    from snapshot import clients
    from snapshot.store.resources import ResourceTable
    from snapshot.usecases import poll, reads

    use_app_environment(st.environment())
    await reset_app()
    counts = {"requests": 0, "transactions": 0}

    def count_request(_: Any) -> None:  # azure-core's raw_request_hook: called once per HTTP request sent
        counts["requests"] += 1

    clients.STORE_CLIENT_OPTIONS["raw_request_hook"] = count_request
    store = clients.store()
    tables = (store.settings.tables.jobs, store.settings.tables.resources, store.settings.tables.quota)
    for table in tables:  # created before the clock starts (the app does it once per process)
        await resent(functools.partial(store.tables.get, table))
    await clients.graph().list_jobs()  # the token and Graph's connection, as on any later tick of a process
    original = ResourceTable._submit

    async def counting_submit(self: ResourceTable, table: Any, batch: list[Any]) -> int:
        counts["transactions"] += 1
        return await original(self, table, batch)

    ResourceTable._submit = counting_submit  # type: ignore[method-assign]
    counts["requests"] = 0
    baseline = 0
    if trace:
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    try:
        report = await poll.poll()
    finally:
        ResourceTable._submit = original  # type: ignore[method-assign]
    elapsed = time.perf_counter() - started
    growth = 0
    if trace:
        growth = tracemalloc.get_traced_memory()[1] - baseline
        tracemalloc.stop()
    figures = {"seconds": elapsed, "rps": n / elapsed, "growth": growth, **counts}
    record = await reads.get_job(job_id)
    assert record.resource_count == n, (report, record)
    for table in tables:  # keeps Azurite's memory small for the next runs
        await resent(functools.partial(store.tables.service.delete_table, table))
    clients.STORE_CLIENT_OPTIONS.pop("raw_request_hook", None)
    await reset_app()
    return figures


async def ceiling(service: Any, job_id: str, body: bytes, in_flight: int) -> dict[str, Any]:
    from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
    from azure.data.tables import UpdateMode

    from snapshot.content.entities import resource_entities
    from snapshot.content.stream import iter_resources

    entities = list(resource_entities(job_id, iter_resources(io.BytesIO(body))))
    batches = [entities[i : i + 100] for i in range(0, len(entities), 100)]
    name = f"Ceiling{uuid.uuid4().hex[:12]}"

    async def create() -> Any:
        try:
            return await service.create_table(name)
        except ResourceExistsError:  # created by an attempt whose answer was lost
            return service.get_table_client(name)

    async def delete() -> None:
        with contextlib.suppress(ResourceNotFoundError):
            await service.delete_table(name)

    table = await resent(create)
    semaphore = asyncio.Semaphore(in_flight)
    retries = 0

    async def write(batch: list[dict[str, Any]]) -> None:
        nonlocal retries
        async with semaphore:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    await table.submit_transaction([("upsert", e, {"mode": UpdateMode.REPLACE}) for e in batch])
                    return
                except AzureError:
                    if attempt == ATTEMPTS:
                        raise
                    retries += 1
                    await asyncio.sleep(0.5 * 2 ** (attempt - 1))

    started = time.perf_counter()
    await asyncio.gather(*(write(b) for b in batches))
    elapsed = time.perf_counter() - started
    await resent(delete)
    return {"rps": len(entities) / elapsed, "seconds": elapsed, "entities": len(entities), "retries": retries}


async def size_rows(st: Stack, service: Any, n: int, show: Callable[[str], None]) -> dict[str, Any]:
    largest = n == max(SIZES)
    rounds = 1 if largest else ROUNDS
    in_flight_options = LARGEST_IN_FLIGHT if largest else IN_FLIGHT
    ticks: list[dict[str, Any]] = []
    ceilings: list[dict[int, dict[str, Any]]] = []
    if not largest:  # untimed, at this size: Azurite's (and this process's) warm-up is not charged to round 1
        job_id, body = finished_job(st, n)
        await tick(st, job_id, n)
        await ceiling(service, job_id, body, max(in_flight_options))
    for round_ in range(rounds):
        job_id, body = finished_job(st, n)
        measured: dict[int, dict[str, Any]] = {}
        if round_ % 2 == 1:
            measured = {k: await ceiling(service, job_id, body, k) for k in in_flight_options}
        ticks.append(await tick(st, job_id, n))
        if round_ % 2 == 0:
            measured = {k: await ceiling(service, job_id, body, k) for k in in_flight_options}
        ceilings.append(measured)
        best = max(measured.values(), key=lambda c: c["rps"])
        show(
            f"    {n:>6} round {round_ + 1}: tick {ticks[-1]['rps']:6.0f} res/s; ceiling "
            + ", ".join(f"{k} in flight {c['rps']:6.0f}" for k, c in measured.items())
            + f" (best {best['rps']:.0f}; retries {sum(c['retries'] for c in measured.values())})"
        )
    job_id, body = finished_job(st, n)
    traced = await tick(st, job_id, n, trace=True) if not largest else None
    return {
        "n": n,
        "ticks": ticks,
        "ceilings": ceilings,
        "content_bytes": len(body),
        "growth": traced["growth"] if traced else None,
    }


def size_line(row: dict[str, Any]) -> str:
    tick_rps = [t["rps"] for t in row["ticks"]]
    best = [max(c["rps"] for c in round_.values()) for round_ in row["ceilings"]]
    ratio = median(tick_rps) / median(best)
    first = row["ticks"][0]
    other = first["requests"] - first["transactions"]
    ideal = math.ceil(row["n"] / 100) + other
    line = (
        f"{row['n']:>9} {len(tick_rps):>6} {median(tick_rps):>8.0f} {spread(tick_rps) * 100:>5.0f}% "
        f"{median(best):>9.0f} {spread(best) * 100:>5.0f}% {ratio:>6.2f} {first['requests']:>9} {ideal:>6}"
    )
    target = f"tick {ratio:.2f}x best ceiling"
    if row["n"] in TARGET_SIZES:
        target += f" (>= {TARGET}) {verdict(ratio >= TARGET)}"
    else:
        target += " (no target; complete: MEETS)"
    requests_ok = first["requests"] <= ideal * 1.05
    return (
        f"{line}\n    targets: {target}; Table requests {first['requests']} vs {ideal} ({first['transactions']} "
        f"resource transactions + {other} for the job) {verdict(requests_ok)}"
    )


HEADER = (
    f"{'resources':>9} {'rounds':>6} {'tick r/s':>8} {'sprd':>6} {'ceil r/s':>9} {'sprd':>6} {'ratio':>6} "
    f"{'Table req':>9} {'ideal':>6}"
)


def memory_lines(rows: list[dict[str, Any]]) -> list[str]:
    from snapshot.content.stream import IN_MEMORY_BYTES

    traced = sorted((r for r in rows if r["growth"] is not None), key=lambda r: r["content_bytes"])
    lines = ["memory (tracemalloc, separate traced tick): peak minus the traced memory at the tick's start"]
    for read, points in (
        ("parsed whole", [r for r in traced if r["content_bytes"] <= IN_MEMORY_BYTES]),
        ("streamed", [r for r in traced if r["content_bytes"] > IN_MEMORY_BYTES]),
    ):
        for r in points:
            lines.append(
                f"{r['n']:>9} resources ({read}): content {r['content_bytes'] / 1e6:6.2f} MB, "
                f"peak growth {r['growth'] / 1e6:6.2f} MB"
            )
        if len(points) >= 2:
            a, b = points[0], points[-1]
            slope = (b["growth"] - a["growth"]) / (b["content_bytes"] - a["content_bytes"])
            fixed = a["growth"] - slope * a["content_bytes"]
            lines.append(f"    {read}: fixed part {fixed / 1e6:.2f} MB; {slope:.2f} MB more per MB of content")
    return lines


async def memory_row(st: Stack, n: int) -> dict[str, Any]:
    job_id, body = finished_job(st, n)
    traced = await tick(st, job_id, n, trace=True)
    return {"n": n, "content_bytes": len(body), "growth": traced["growth"]}


async def measure(show: Callable[[str], None]) -> list[dict[str, Any]]:
    from azure.data.tables.aio import TableServiceClient

    from snapshot.store.tables import uses_network_settings

    rows = []
    with stack("ingest") as st:
        job_id, _ = finished_job(st, 10)
        await tick(st, job_id, 10)  # a process's first tick pays msgraph's lazy imports once
        async with TableServiceClient.from_connection_string(
            st.connection_string, use_env_settings=uses_network_settings()
        ) as service:
            job_id, body = finished_job(st, 10)
            await ceiling(service, job_id, body, 1)  # warms the ceiling's client and connection
            show(HEADER)
            for n in SIZES:
                row = await size_rows(st, service, n, show)
                rows.append(row)
                show(size_line(row))
            rows.extend([await memory_row(st, n) for n in MEMORY_SIZES])
    return rows


def main() -> list[str]:
    lines = ["## ingest: poller tick vs the best of direct batched writes (same entities)"]

    def show(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    print(lines[0], flush=True)
    rows = asyncio.run(measure(show))
    for line in memory_lines(rows):
        show(line)
    return lines


if __name__ == "__main__":
    main()
