"""Status reads under load: `GET /api/snapshots/{id}` from 50 concurrent clients through the local host,
beside a bare Table point read of the same entity (azure.data.tables.aio get_entity, same concurrency)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from bench.stack import LOG_DIR, USER, percentile, stack
from devtools import services

CONCURRENCY = 50
REQUESTS = 2_000
PREFIX = "Benchapi"


async def load(call: Callable[[], Awaitable[None]]) -> dict[str, float]:
    latencies: list[float] = []
    remaining = REQUESTS

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "seconds": elapsed,
    }


async def measure(base_url: str, connection_string: str, job_id: str) -> dict[str, Any]:
    from azure.data.tables.aio import TableClient

    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def status_read() -> None:
            response = await client.get(f"/api/snapshots/{job_id}")
            assert response.status_code == 200, response.text

        for _ in range(20):
            await status_read()  # warm: the store, the connection pool
        api = await load(status_read)

    async with TableClient.from_connection_string(connection_string, f"{PREFIX}Jobs") as table:

        async def point_read() -> None:
            await table.get_entity("job", job_id)

        for _ in range(20):
            await point_read()
        bare = await load(point_read)
    return {"api": api, "bare": bare}


def report(data: dict[str, Any]) -> list[str]:
    api, bare = data["api"], data["bare"]
    lines = [f"## api: {REQUESTS} GET /api/snapshots/{{id}}, {CONCURRENCY} concurrent clients"]
    for name, r in (("get_snapshot via host", api), ("bare Table get_entity", bare)):
        lines.append(f"{name:<22} {r['rps']:7.0f} req/s  p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms")
    lines.append(
        f"ratio (api / bare): throughput {api['rps'] / bare['rps']:.2f}x, p50 {api['p50'] / bare['p50']:.1f}x, "
        f"p99 {api['p99'] / bare['p99']:.1f}x"
    )
    return lines


def main() -> list[str]:
    with stack("api") as st:
        env = {**st.environment(PREFIX), "SNAPSHOT_POLL_SCHEDULE": "0 0 0 1 1 *"}
        host = services.host(services.free_port(), env, log_path=LOG_DIR / "api-host.log").start(timeout=120)
        try:
            control = st.control
            control.reset()
            control.configure(jobStartSeconds=0, jobDurationSeconds=0)
            job = control.create_job(displayName="Bench api job one", resources=[USER])
            base_url = f"http://127.0.0.1:{host.port}"
            answer = httpx.post(
                f"{base_url}/admin/functions/poll_snapshots", params={"wait": "true"}, json={}, timeout=120
            )
            assert answer.status_code == 200, answer.text
            data = asyncio.run(measure(base_url, st.connection_string, job["id"]))
        finally:
            host.stop()
    lines = report(data)
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
