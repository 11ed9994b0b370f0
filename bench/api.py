"""Status reads: `get_snapshot` in-process beside a bare `get_entity` made with the app's own Table client,
50 concurrent and sequential; then `GET /api/snapshots/{id}` through the local host, with an aiohttp client
(a light load generator: httpx spends ~30x more CPU per request and would measure itself).

Each figure is the median of ROUNDS rounds, the two in-process calls alternating, with the spread of the
rounds; CPU per request is given for each process involved (this one, the host, Azurite).
Target: the handler >= 0.9x the bare read's throughput, concurrent and sequential.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench.stack import (
    LOG_DIR,
    Stack,
    cpu_seconds,
    median,
    percentile,
    reset_app,
    spread,
    stack,
    stored_job,
    verdict,
)
from devtools import services

CONCURRENCY = 50
REQUESTS = 2_000
SEQUENTIAL_REQUESTS = 500
ROUNDS = 5  # the median of 5 rounds is steadier than of 3 against this machine's ±5-10% swings between rounds
TARGET = 0.9
PREFIX = "Benchapi"


async def load(
    call: Callable[[], Awaitable[None]], requests: int, concurrency: int, pids: dict[str, int | None]
) -> dict[str, Any]:
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - started)

    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    own_before = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = {name: (cpu_seconds(pid) - cpu_before[name]) / requests * 1000 for name, pid in pids.items()}
    return {
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "cpu": {"bench": (time.process_time() - own_before) / requests * 1000, **cpu},
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    names = runs[0]["cpu"].keys()
    return {
        "rps": median([r["rps"] for r in runs]),
        "spread": spread([r["rps"] for r in runs]),
        "p50": median([r["p50"] for r in runs]),
        "p99": median([r["p99"] for r in runs]),
        "cpu": {name: median([r["cpu"][name] for r in runs]) for name in names},
        "all": [r["rps"] for r in runs],
    }


async def in_process(st: Stack, job_id: str) -> dict[tuple[str, str], Any]:
    """The handler and a bare point read on the app's own TableClient, in this process, rounds interleaved."""
    from snapshot import clients, http_api
    from tests.support.inprocess import request

    store = clients.store()
    table = await store.tables.get(store.settings.tables.jobs)
    req = request("GET", "snapshots/{id}", {"id": job_id})

    async def handler() -> None:
        response = await http_api.get_snapshot(req)
        assert response.status_code == 200, response.get_body()

    async def bare() -> None:
        await table.get_entity("job", job_id)

    pids = {"azurite": st.azurite.pid}
    calls = {"handler": handler, "bare": bare}
    modes = {"concurrent": (REQUESTS, CONCURRENCY), "sequential": (SEQUENTIAL_REQUESTS, 1)}
    for call in calls.values():
        for _ in range(50):
            await call()  # warm: the store, the connection pool
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {(c, m): [] for c in calls for m in modes}
    for round_ in range(ROUNDS):
        order = list(calls) if round_ % 2 == 0 else list(reversed(calls))
        for mode, (requests, concurrency) in modes.items():
            for name in order:
                runs[(name, mode)].append(await load(calls[name], requests, concurrency, pids))
    return {key: summary(value) for key, value in runs.items()}


async def through_host(st: Stack, base_url: str, job_id: str, host_pid: int | None) -> dict[str, Any]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as session:

        async def status_read() -> None:
            async with session.get(f"/api/snapshots/{job_id}") as response:
                await response.read()
                assert response.status == 200, response.status

        for _ in range(50):
            await status_read()
        pids = {"host": host_pid, "azurite": st.azurite.pid}
        return summary([await load(status_read, REQUESTS, CONCURRENCY, pids) for _ in range(ROUNDS)])


def measure(st: Stack) -> dict[str, Any]:
    never = "0 0 0 1 1 *"  # the bench runs no timer; the host still needs every schedule set
    env = {**st.environment(PREFIX), "SNAPSHOT_POLL_SCHEDULE": never, "SNAPSHOT_DRIFT_POLL_SCHEDULE": never}

    async def app_side() -> tuple[str, dict[tuple[str, str], Any]]:
        job_id = await stored_job(st, env, "Bench api job one")
        try:
            return job_id, await in_process(st, job_id)
        finally:
            await reset_app()

    job_id, local = asyncio.run(app_side())
    host = services.host(services.free_port(), env, log_path=LOG_DIR / "api-host.log").start(timeout=120)
    try:
        remote = asyncio.run(through_host(st, f"http://127.0.0.1:{host.port}", job_id, host.pid))
    finally:
        host.stop()
    return {"local": local, "host": remote}


def _row(name: str, clients_: int, r: dict[str, Any]) -> str:
    cpu = "  ".join(f"{k} {v:5.2f}" for k, v in r["cpu"].items())
    return (
        f"{name:<34} {clients_:>3} {r['rps']:7.0f} req/s (±{r['spread'] * 50:3.0f}%)  p50 {r['p50']:6.2f} ms  "
        f"p99 {r['p99']:6.2f} ms  CPU ms/req: {cpu}"
    )


def report(data: dict[str, Any]) -> list[str]:
    local, host = data["local"], data["host"]
    lines = [
        f"## api: GET /api/snapshots/{{id}}, median of {ROUNDS} rounds ({REQUESTS} requests at {CONCURRENCY} "
        f"clients, {SEQUENTIAL_REQUESTS} sequential); ± = half the rounds' spread"
    ]
    for mode, clients_ in (("concurrent", CONCURRENCY), ("sequential", 1)):
        handler, bare = local[("handler", mode)], local[("bare", mode)]
        lines.append(_row("in-process get_snapshot handler", clients_, handler))
        lines.append(_row("in-process bare get_entity", clients_, bare))
        ratio = handler["rps"] / bare["rps"]
        lines.append(
            f"    target handler >= {TARGET}x bare, {mode}: {ratio:.2f}x (p50 {handler['p50'] / bare['p50']:.2f}x) "
            f"{verdict(ratio >= TARGET)}"
        )
    lines.append(_row("through the host, aiohttp client", CONCURRENCY, host))
    bare = local[("bare", "concurrent")]
    lines.append(
        f"    through the host / in-process bare read: {host['rps'] / bare['rps']:.2f}x throughput (the host, the "
        "client and Azurite share the machine's cores; no target)"
    )
    return lines


def main() -> list[str]:
    with stack("api") as st:
        data = measure(st)
    lines = report(data)
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
