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


def azurite_port(settings: dict[str, str]) -> int | None:
    """The Table port Azurite must listen on, or None when storage is not the local emulator."""
    name = settings.get("SNAPSHOT_STORAGE") or "AzureWebJobsStorage"
    value = settings.get(name, "")
    if value.strip().lower().rstrip(";") == "usedevelopmentstorage=true":
        return 10002
    for part in value.split(";"):
        key, _, endpoint = part.partition("=")
        if key.strip().lower() == "tableendpoint":
            parts = urlsplit(endpoint)
            if parts.hostname and is_loopback_host(parts.hostname):
                return parts.port or 80
    return None


def emulator_port(settings: dict[str, str]) -> int | None:
    parts = urlsplit(settings.get("GRAPH_BASE_URL", ""))
    if parts.hostname and is_loopback_host(parts.hostname):
        return parts.port or 80
    return None


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
    ports = {"Azurite": azurite_port(settings), "the Graph emulator": emulator_port(settings), "the host": args.port}
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
    if (port := emulator_port(settings)) is not None:
        started.append(services.emulator(port, log_path=log_dir / "emulator.log"))
        started[-1].start(hold_signals=True)
        print(f"Graph emulator          http://127.0.0.1:{port}/v1.0  (control routes: GET /_emulator/)")
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
    print("\nCtrl-C stops everything.", flush=True)
    while all(s.process is not None and s.process.poll() is None for s in started):
        time.sleep(0.5)
    crashed = [s.name for s in started if s.process is not None and s.process.poll() is not None]
    print(f"{', '.join(crashed)} stopped unexpectedly; see .local/logs/")
    return 1


if __name__ == "__main__":
    sys.exit(main())
