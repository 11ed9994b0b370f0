"""Shared by the benchmarks: start Azurite / the emulator / the host on free ports, stop them by PID."""

from __future__ import annotations

import contextlib
import os
import statistics
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from devtools import services
from devtools.emulator_client import EmulatorControl

LOG_DIR = services.ROOT / ".local" / "bench-logs"
USER = "microsoft.entra.user"


@dataclass
class Stack:
    azurite: services.Service
    emulator: services.Service
    queues: services.Service

    @property
    def control(self) -> EmulatorControl:
        return EmulatorControl(f"http://127.0.0.1:{self.emulator.port}")

    @property
    def connection_string(self) -> str:
        return services.azurite_connection_string(self.azurite.port, self.queues.port)

    def environment(self, prefix: str | None = None) -> dict[str, str]:
        """What conftest's stack_environment sets: the app pointed at this Azurite and this emulator."""
        return {
            **services.emulator_env(self.emulator.port, self.emulator.https_port),
            "AzureWebJobsStorage": self.connection_string,
            "SNAPSHOT_TABLE_PREFIX": prefix or f"B{uuid.uuid4().hex[:12]}",
            "SNAPSHOT_RETRY_AFTER_SECONDS": "1",
            "SNAPSHOT_MONTHLY_RESOURCE_QUOTA": "0",
        }


@contextlib.contextmanager
def stack(name: str) -> Iterator[Stack]:
    """Azurite (tables and queues) and the emulator (with its TLS authority), stopped by PID at the end."""
    with contextlib.ExitStack() as running:
        azurite = services.azurite(services.free_port(), log_path=LOG_DIR / f"{name}-azurite.log")
        running.callback(azurite.stop)
        azurite.start()
        queues = services.azurite_queue(services.free_port(), log_path=LOG_DIR / f"{name}-azurite-queue.log")
        running.callback(queues.stop)
        queues.start()
        emulator = services.emulator(
            services.free_port(), log_path=LOG_DIR / f"{name}-emulator.log", https_port=services.free_port()
        )
        running.callback(emulator.stop)
        emulator.start()
        yield Stack(azurite, emulator, queues)


def use_app_environment(env: dict[str, str]) -> None:
    """Point the in-process app at `env` (fresh settings; the Graph client and store are rebuilt on next use)."""
    from snapshot import settings

    for name in services.LEAKY_ENV:
        os.environ.pop(name, None)
    os.environ.update(env)
    settings.get_settings.cache_clear()


async def stored_job(st: Stack, env: dict[str, str], name: str) -> str:
    """A job of 3 users stored by one in-process tick with the app pointed at `env`; its id."""
    from snapshot.usecases import poll

    control = st.control
    control.reset()
    control.configure(jobStartSeconds=0, jobDurationSeconds=0)
    use_app_environment(env)
    await reset_app()
    job = control.create_job(displayName=name, resources=[USER])
    report = await poll.poll()
    assert report.downloaded == 1, report
    return str(job["id"])


@contextlib.asynccontextmanager
async def multi_tenant_app(st: Stack) -> AsyncIterator[Counter[str]]:
    """The in-process app on this stack in tenancy=multi, its Table requests counted under "n" (azure-core's
    raw_request_hook: once per request sent); the clients closed and the hook removed at the end."""
    from snapshot import clients

    table_requests: Counter[str] = Counter()
    use_app_environment({**st.environment(), **services.multi_tenant_env()})
    clients.STORE_CLIENT_OPTIONS["raw_request_hook"] = lambda _: table_requests.update(["n"])
    await reset_app()
    try:
        yield table_requests
    finally:
        clients.STORE_CLIENT_OPTIONS.pop("raw_request_hook", None)
        await reset_app()


async def reset_app() -> None:
    from snapshot import clients

    await clients.close_all()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> float:
    """(max - min) / median, as a fraction: how far apart the rounds were."""
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle if middle else float("nan")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far (Linux /proc; 0 elsewhere or when it is gone)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def verdict(ok: bool) -> str:
    return "MEETS" if ok else "MISSES"
