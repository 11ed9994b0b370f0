"""`make run`: Azurite, the Graph emulator and the local Functions host, stopped together on Ctrl-C.

Settings come from local.settings.json (created from local.settings.sample.json when missing), then the
environment. The emulator is started only when GRAPH_BASE_URL points at a loopback address.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from devtools import services
from snapshot.settings import is_loopback_host

SAMPLE = services.ROOT / "local.settings.sample.json"
LOCAL = services.ROOT / "local.settings.json"


def local_settings(path: Path) -> dict[str, str]:
    if not path.exists():
        shutil.copyfile(SAMPLE, path)
        print(f"created {path.name} from {SAMPLE.name}")
    values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
    merged = {str(k): str(v) for k, v in values.items()}
    merged.update({k: v for k, v in os.environ.items() if k in merged})
    return merged


DEVELOPMENT_PORTS = {"table": 10002, "queue": 10001}


def azurite_port(settings: dict[str, str], service: str = "table") -> int | None:
    """The port Azurite's table (or queue) service must listen on, or None when storage is not the local
    emulator. Tables use SNAPSHOT_STORAGE's connection; queues AzureWebJobsStorage (the queue triggers')."""
    name = (settings.get("SNAPSHOT_STORAGE") if service == "table" else None) or "AzureWebJobsStorage"
    value = settings.get(name, "")
    if value.strip().lower().rstrip(";") == "usedevelopmentstorage=true":
        return DEVELOPMENT_PORTS[service]
    for part in value.split(";"):
        key, _, endpoint = part.partition("=")
        if key.strip().lower() == f"{service}endpoint":
            parts = urlsplit(endpoint)
            if parts.hostname and is_loopback_host(parts.hostname):
                return parts.port or 80
    return None


def emulator_port(settings: dict[str, str]) -> int | None:
    parts = urlsplit(settings.get("GRAPH_BASE_URL", ""))
    if parts.hostname and is_loopback_host(parts.hostname):
        return parts.port or 80
    return None


def authority_port(settings: dict[str, str]) -> int | None:
    """The emulator's TLS port when SNAPSHOT_AUTHORITY_HOST is a loopback authority (the emulator's Entra)."""
    parts = urlsplit(settings.get("SNAPSHOT_AUTHORITY_HOST", ""))
    if parts.scheme == "https" and parts.hostname and is_loopback_host(parts.hostname):
        return parts.port or 443
    return None


# The customer tenants `make run` starts the emulator with: one consented, one whose admin has not consented yet.
DEMO_TENANTS = (
    "7d1e5c2a-3b4f-4a6e-9c8d-1f2a3b4c5d6e:Contoso Customer",
    "9a8b7c6d-5e4f-4d3c-8b2a-0f1e2d3c4b5a:Fabrikam Customer:unconsented",
)


def taken_ports(ports: dict[str, int]) -> list[str]:
    """A line per port some other process holds: which port, for what, and who holds it."""
    return [
        f"port {port} is taken (needed for {name}) by {services.port_holder(port)}"
        for name, port in ports.items()
        if services.port_taken(port)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=7071, help="port of the local Functions host")
    parser.add_argument("--settings-file", type=Path, default=LOCAL)
    args = parser.parse_args(argv)

    settings = local_settings(args.settings_file)
    log_dir = services.ROOT / ".local" / "logs"
    ports = {
        "Azurite": azurite_port(settings),
        "Azurite's queues": azurite_port(settings, "queue"),
        "the Graph emulator": emulator_port(settings),
        "the emulator's Entra authority": authority_port(settings) if emulator_port(settings) else None,
        "the host": args.port,
    }
    taken = taken_ports({name: port for name, port in ports.items() if port is not None})
    if taken:
        print("\n".join(taken) + "\nnothing was started: stop that process, or change the port", file=sys.stderr)
        return 2
    started: list[services.Service] = []

    def stop_on_signal(*_: object) -> None:
        # The first signal ends the run; every later one is ignored so that it cannot cut the stop short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGINT, stop_on_signal)  # also when started in the background, where SIGINT is ignored
    try:
        return serve(args, settings, log_dir, started)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for service in reversed(started):
            if service.process is not None:
                print(f"stopping {service.name} (pid {service.pid})")
            service.stop()


def serve(args: argparse.Namespace, settings: dict[str, str], log_dir: Path, started: list[services.Service]) -> int:
    """Start the services (each listed in `started` before it starts, so a signal never orphans one); wait."""
    if (port := azurite_port(settings)) is not None:
        data = services.ROOT / ".local" / "azurite"
        data.mkdir(parents=True, exist_ok=True)
        started.append(services.azurite(port, location=data, log_path=log_dir / "azurite.log"))
        started[-1].start(hold_signals=True)
        print(f"Azurite Table Storage   http://127.0.0.1:{port}  (data in .local/azurite)")
    if (port := azurite_port(settings, "queue")) is not None:
        data = services.ROOT / ".local" / "azurite-queues"
        data.mkdir(parents=True, exist_ok=True)
        started.append(services.azurite_queue(port, location=data, log_path=log_dir / "azurite-queue.log"))
        started[-1].start(hold_signals=True)
        print(f"Azurite Queue Storage   http://127.0.0.1:{port}  (the fan-out's queues)")
    if (port := emulator_port(settings)) is not None:
        https_port = authority_port(settings)
        started.append(services.emulator(port, log_dir / "emulator.log", https_port=https_port, tenants=DEMO_TENANTS))
        started[-1].start(hold_signals=True)
        print(f"Graph emulator          http://127.0.0.1:{port}/v1.0  (control routes: GET /_emulator/)")
        if https_port is not None:
            print(f"Emulated Entra          https://127.0.0.1:{https_port}  (tenants: GET /_emulator/tenants)")
    started.append(services.host(args.port, {}, log_dir / "host.log", ["--settings-file", str(args.settings_file)]))
    started[-1].start(timeout=120, hold_signals=True)
    base = f"http://127.0.0.1:{args.port}"
    print(f"Functions host          {base}/api  (log: .local/logs/host.log)")
    print("\nTry it:")
    print(f"  curl -s {base}/api/health")
    print(
        f"  curl -si -X POST {base}/api/snapshots -H 'Content-Type: application/json' "
        f"-H 'Idempotency-Key: demo-1' "
        '-d \'{"displayName": "My first snapshot", "resources": ["microsoft.entra.conditionalAccessPolicy"]}\''
    )
    if settings.get("SNAPSHOT_TENANCY") == "multi":
        tenant_id, _, name = DEMO_TENANTS[0].partition(":")
        print(
            f"  curl -s -X POST {base}/api/tenants -H 'Content-Type: application/json' "
            f'-d \'{{"tenantId": "{tenant_id}", "displayName": "{name}"}}\''
        )
        print(f"  curl -s {base}/api/tenants")
    print("\nCtrl-C stops everything.", flush=True)
    while all(s.process is not None and s.process.poll() is None for s in started):
        time.sleep(0.5)
    crashed = [s.name for s in started if s.process is not None and s.process.poll() is not None]
    print(f"{', '.join(crashed)} stopped unexpectedly; see .local/logs/")
    return 1


if __name__ == "__main__":
    sys.exit(main())
