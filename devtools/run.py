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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=7071, help="port of the local Functions host")
    parser.add_argument("--settings-file", type=Path, default=LOCAL)
    args = parser.parse_args(argv)

    settings = local_settings(args.settings_file)
    log_dir = services.ROOT / ".local" / "logs"
    started: list[services.Service] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        for service in reversed(started):
            print(f"stopping {service.name} (pid {service.pid})")
            service.stop()

    def terminate(*_: object) -> None:
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)  # also when started in the background, where SIGINT is ignored
    try:
        if (port := azurite_port(settings)) is not None:
            data = services.ROOT / ".local" / "azurite"
            data.mkdir(parents=True, exist_ok=True)
            started.append(services.azurite(port, location=data, log_path=log_dir / "azurite.log").start())
            print(f"Azurite Table Storage   http://127.0.0.1:{port}  (data in .local/azurite)")
        if (port := emulator_port(settings)) is not None:
            started.append(services.emulator(port, log_path=log_dir / "emulator.log").start())
            print(f"Graph emulator          http://127.0.0.1:{port}/v1.0  (admin: /_emulator/config)")
        host = services.host(args.port, {}, log_dir / "host.log", ["--settings-file", str(args.settings_file)])
        started.append(host.start(timeout=120))
        base = f"http://127.0.0.1:{args.port}"
        print(f"Functions host          {base}/api  (log: .local/logs/host.log)")
        print("\nTry it:")
        print(f"  curl -s {base}/api/health")
        print(
            f"  curl -si -X POST {base}/api/snapshots -H 'Content-Type: application/json' "
            f"-H 'Idempotency-Key: demo-1' "
            '-d \'{"displayName": "My first snapshot", "resources": ["microsoft.entra.conditionalAccessPolicy"]}\''
        )
        print("\nCtrl-C stops everything.")
        while all(s.process is not None and s.process.poll() is None for s in started):
            time.sleep(0.5)
        crashed = [s.name for s in started if s.process is not None and s.process.poll() is not None]
        print(f"{', '.join(crashed)} stopped unexpectedly; see .local/logs/")
        return 1
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
