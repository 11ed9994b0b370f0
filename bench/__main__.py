"""`make bench`: every benchmark, one after the other, each in a fresh interpreter with its own Azurite /
emulator / host: what one leaves in memory (its clients, caches and garbage) does not slow the next one's
garbage collections, as it did when they shared a process."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time

BENCHMARKS = ("bench.poll", "bench.coldstart", "bench.api", "bench.ingest", "bench.tenants", "bench.fleet")


def machine() -> list[str]:
    def version(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return "?"

    memory = "?"
    try:
        with open("/proc/meminfo") as meminfo:
            memory = f"{int(meminfo.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return [
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, {memory} RAM",
        f"python {platform.python_version()}, node {version(['node', '--version'])}, azurite "
        f"{version(['node', 'node_modules/azurite/dist/src/table/main.js', '--version']) or '?'}",
    ]


def main() -> None:
    started = time.perf_counter()
    print("\n".join(machine()), flush=True)
    for module in BENCHMARKS:
        print(flush=True)
        subprocess.run([sys.executable, "-m", module], check=True)
    print(f"\nmake bench took {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
