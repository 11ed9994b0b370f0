"""Poller tick cost: Graph calls and wall time for 1, 6 and 12 pending jobs with 100 ms of Graph latency.

Beside it, a naive poller written here that GETs every job (through the same msgraph-sdk client,
`UtcmClient.get_job`). Target: one Graph call per tick, plus one per download.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.stack import USER, Stack, reset_app, stack, use_app_environment, verdict

JOB_COUNTS = (1, 6, 12)
LATENCY_MS = 100


async def naive_tick() -> tuple[int, float]:
    from snapshot import clients

    client, store = clients.graph(), clients.store()
    records = await store.jobs.all()
    before, started = client.calls, time.perf_counter()
    for record in records:
        await client.get_job(record.id)
    return client.calls - before, time.perf_counter() - started


async def measure(st: Stack) -> list[dict[str, Any]]:
    from snapshot.usecases import poll, reads

    rows = []
    for k in JOB_COUNTS:
        control = st.control
        control.reset()
        control.configure(jobStartSeconds=0, jobDurationSeconds=3600)
        use_app_environment(st.environment())
        await reset_app()
        ids = [control.create_job(displayName=f"Bench poll job {n:02d}", resources=[USER])["id"] for n in range(k)]
        await poll.poll()  # adopts them (and fetches the token): the ticks below are steady-state ones
        control.configure(latencyMs=LATENCY_MS)
        control.clear_requests()
        started = time.perf_counter()
        pending = await poll.poll()
        pending_s = time.perf_counter() - started
        pending_wire = sum(control.counts()[op] for op in ("list", "get", "download"))
        naive_calls, naive_s = await naive_tick()
        for job_id in ids:
            control.complete_job(job_id)
        control.clear_requests()
        started = time.perf_counter()
        finished = await poll.poll()
        finished_s = time.perf_counter() - started
        counts = control.counts()
        rows.append(
            {
                "k": k,
                "pending_calls": pending.graph_calls,
                "pending_wire": pending_wire,
                "pending_s": pending_s,
                "naive_calls": naive_calls,
                "naive_s": naive_s,
                "finished_calls": finished.graph_calls,
                "finished_wire": counts["list"] + counts["get"] + counts["download"],
                "downloads": finished.downloaded,
                "finished_s": finished_s,
            }
        )
        assert (await reads.get_job(ids[0])).resource_count == 3
        await reset_app()
    return rows


def report(rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"## poll: one tick with {LATENCY_MS} ms Graph latency, beside a naive GET-every-job poller"]
    lines.append(
        f"{'jobs':>4} {'tick calls':>10} {'on wire':>7} {'tick ms':>7} {'naive calls':>11} {'naive ms':>8} "
        f"{'ratio ms':>8} | {'finished: calls':>15} {'downloads':>9} {'ms':>6}"
    )
    for r in rows:
        ratio = r["naive_s"] / r["pending_s"]
        lines.append(
            f"{r['k']:>4} {r['pending_calls']:>10} {r['pending_wire']:>7} {r['pending_s'] * 1000:>7.0f} "
            f"{r['naive_calls']:>11} {r['naive_s'] * 1000:>8.0f} {ratio:>7.1f}x | {r['finished_calls']:>15} "
            f"{r['downloads']:>9} {r['finished_s'] * 1000:>6.0f}"
        )
        ok = r["pending_calls"] == r["pending_wire"] == 1 and r["finished_calls"] == 1 + r["downloads"] == 1 + r["k"]
        lines.append(
            f"    target one call per tick + one per download: pending tick {r['pending_calls']} call(s), "
            f"finished tick {r['finished_calls']} = 1 + {r['downloads']} downloads {verdict(ok)}"
        )
    return lines


def main() -> list[str]:
    with stack("poll") as st:
        rows = asyncio.run(measure(st))
    lines = report(rows)
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
