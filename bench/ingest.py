"""Ingestion: snapshots of 1,000 / 5,000 / 20,000 resources stored by the poller, beside the SDK's ceiling.

The poller (`snapshot.poll.poll()`, in-process) downloads the content from the emulator and writes it to
Azurite. The ceiling writes the very same entities (built beforehand from the same content) straight to
Azurite in transactions of 100, with 4 concurrent tasks: the best the azure-data-tables SDK allows.
Targets: >= 0.7x the ceiling's throughput; Table requests within 5% of ceil(entities/100) plus the job's own
requests; peak memory growth (tracemalloc, during the tick) < 3x the content's size.
"""

from __future__ import annotations

import asyncio
import io
import math
import resource
import time
import tracemalloc
import uuid
from typing import Any

import httpx

from bench.stack import USER, Stack, reset_app, stack, use_app_environment, verdict

SIZES = (1_000, 5_000, 20_000)
CEILING_CONCURRENCY = 4


def content_bytes(control_url: str, job: dict[str, Any]) -> bytes:
    snapshot_id = job["resourceLocation"].split("('")[1].split("')")[0]
    return httpx.get(f"{control_url}/_emulator/snapshots/{snapshot_id}", timeout=120).content


async def poller_run(st: Stack, n: int, trace: bool) -> dict[str, Any]:
    """One tick storing one finished job of n resources into fresh tables; figures of that tick."""
    from snapshot import clients
    from snapshot.store.resources import ResourceTable
    from snapshot.usecases import poll, reads

    control = st.control
    control.reset()
    control.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={USER: n})
    use_app_environment(st.environment())
    await reset_app()
    requests = {"n": 0}

    def count_request(_: Any) -> None:  # azure-core's raw_request_hook: called once per HTTP request sent
        requests["n"] += 1

    clients.STORE_CLIENT_OPTIONS["raw_request_hook"] = count_request
    store = clients.store()
    for table in (store.settings.tables.jobs, store.settings.tables.resources, store.settings.tables.quota):
        await store.tables.get(table)  # created before the clock starts (the app does it once per process)
    clients.graph()
    job = control.create_job(displayName=f"Bench ingest {n}", resources=[USER])
    control.complete_job(job["id"])
    submits = {"n": 0}
    original = ResourceTable._submit

    async def counting_submit(self: ResourceTable, table: Any, batch: list[Any]) -> int:
        submits["n"] += 1
        return await original(self, table, batch)

    ResourceTable._submit = counting_submit  # type: ignore[method-assign]
    requests_before = requests["n"]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        report = await poll.poll()
    finally:
        ResourceTable._submit = original  # type: ignore[method-assign]
    elapsed = time.perf_counter() - started
    peak = 0
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
    record = await reads.get_job(job["id"])
    assert record.resource_count == n, (report, record)
    body = content_bytes(control.base_url, control.jobs()[0])
    result = {
        "n": n,
        "seconds": elapsed,
        "rps": n / elapsed,
        "requests": requests["n"] - requests_before,
        "resource_requests": submits["n"],
        "content_bytes": len(body),
        "peak": peak,
        "rss_growth": rss_growth,
        "body": body,
        "job_id": job["id"],
    }
    clients.STORE_CLIENT_OPTIONS.pop("raw_request_hook", None)
    await reset_app()
    return result


async def ceiling_run(st: Stack, job_id: str, body: bytes) -> dict[str, Any]:
    from azure.data.tables import UpdateMode
    from azure.data.tables.aio import TableServiceClient

    from snapshot.content.entities import resource_entities
    from snapshot.content.stream import iter_resources

    entities = list(resource_entities(job_id, iter_resources(io.BytesIO(body))))
    batches = [entities[i : i + 100] for i in range(0, len(entities), 100)]
    name = f"Ceiling{uuid.uuid4().hex[:12]}"
    async with TableServiceClient.from_connection_string(st.connection_string) as service_client:
        table = await service_client.create_table(name)
        semaphore = asyncio.Semaphore(CEILING_CONCURRENCY)

        async def write(batch: list[dict[str, Any]]) -> None:
            async with semaphore:
                await table.submit_transaction([("upsert", e, {"mode": UpdateMode.REPLACE}) for e in batch])

        started = time.perf_counter()
        await asyncio.gather(*(write(b) for b in batches))
        elapsed = time.perf_counter() - started
        await service_client.delete_table(name)
    return {"seconds": elapsed, "rps": len(entities) / elapsed, "requests": len(batches), "entities": len(entities)}


async def measure(st: Stack) -> list[dict[str, Any]]:
    rows = []
    # Warm-up: the first tick of a process pays one-off costs (msgraph's lazy imports, the first token and
    # connections) that a timer pays once per instance, not per snapshot.
    await poller_run(st, 10, trace=False)
    for n in SIZES:
        # tracemalloc slows Python down: a separate traced run, except for the largest size, where Azurite's own
        # time dominates (a second 20,000-resource run would add ~2 minutes to `make bench`).
        largest = n == max(SIZES)
        timed = await poller_run(st, n, trace=largest)
        ceiling = await ceiling_run(st, timed["job_id"], timed["body"])
        traced = timed if largest else await poller_run(st, n, trace=True)
        rows.append({**timed, "peak": traced["peak"], "rss_growth": max(timed["rss_growth"], 0), "ceiling": ceiling})
    return rows


def report(rows: list[dict[str, Any]]) -> list[str]:
    lines = ["## ingest: poller tick vs direct batched writes (same entities)"]
    header = (
        f"{'resources':>9} {'tick s':>7} {'res/s':>7} {'ceil s':>7} {'ceil res/s':>10} {'ratio':>6} "
        f"{'Table req':>9} {'ideal':>6} {'content MB':>10} {'peak MB':>8} {'peak/content':>12} {'maxrss +MB':>10}"
    )
    lines.append(header)
    for r in rows:
        c = r["ceiling"]
        other = r["requests"] - r["resource_requests"]  # the job's own: list read, adopt, ledger, final update
        ideal = math.ceil(c["entities"] / 100) + other
        ratio = r["rps"] / c["rps"]
        growth = r["peak"] / r["content_bytes"]
        lines.append(
            f"{r['n']:>9} {r['seconds']:>7.2f} {r['rps']:>7.0f} {c['seconds']:>7.2f} {c['rps']:>10.0f} {ratio:>6.2f} "
            f"{r['requests']:>9} {ideal:>6} {r['content_bytes'] / 1e6:>10.2f} {r['peak'] / 1e6:>8.1f} "
            f"{growth:>12.2f} {r['rss_growth'] / 1e6:>10.1f}"
        )
        lines.append(
            f"    targets: throughput {ratio:.2f}x ceiling (>= 0.7) {verdict(ratio >= 0.7)}; "
            f"Table requests {r['requests']} vs {ideal} ({r['resource_requests']} resource transactions + {other} "
            f"for the job) {verdict(r['requests'] <= ideal * 1.05)}; "
            f"peak memory {growth:.2f}x content (< 3) {verdict(growth < 3)}"
        )
    return lines


def main() -> list[str]:
    with stack("ingest") as st:
        rows = asyncio.run(measure(st))
    lines = report(rows)
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
