"""`make run` (devtools/run.py): starts Azurite, the emulator and the host, answers health, stops all on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devtools import services


def test_run_serves_health_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    azurite, emulator, host = services.free_port(), services.free_port(), services.free_port()
    sample = json.loads((services.ROOT / "local.settings.sample.json").read_text())
    values = sample["Values"] | {
        "AzureWebJobsStorage": services.azurite_connection_string(azurite),
        **services.emulator_env(emulator),
    }
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    env = {k: v for k, v in os.environ.items() if k not in values}
    process = subprocess.Popen(
        [sys.executable, "-m", "devtools.run", "--port", str(host), "--settings-file", str(settings)],
        cwd=services.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        services.wait_for_port(host, 120, process)
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{host}/api/health", timeout=10)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["status"] == "healthy"
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 0, output
    assert "curl" in output and f"http://127.0.0.1:{host}/api" in output
    for port in (azurite, emulator, host):
        with httpx.Client() as client:
            try:
                client.get(f"http://127.0.0.1:{port}/", timeout=2)
                raise AssertionError(f"something still listens on {port}")
            except httpx.ConnectError:
                pass
