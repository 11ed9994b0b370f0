"""`make run` (devtools/run.py): starts Azurite, the emulator and the host, answers health, stops all on Ctrl-C
however many signals arrive and whenever; refuses to start, naming the port, when a port is taken."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools import services


class Run:
    def __init__(self, tmp_path: Path) -> None:
        self.azurite, self.emulator, self.host = services.free_port(), services.free_port(), services.free_port()
        self.queues, self.authority = services.free_port(), services.free_port()
        sample = json.loads((services.ROOT / "local.settings.sample.json").read_text())
        values = sample["Values"] | {
            "AzureWebJobsStorage": services.azurite_connection_string(self.azurite, self.queues),
            **services.emulator_env(self.emulator, self.authority),
        }
        self.settings = tmp_path / "local.settings.json"
        self.settings.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
        self.env = {k: v for k, v in os.environ.items() if k not in values}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ports(self) -> tuple[int, int, int, int, int]:
        return self.azurite, self.queues, self.emulator, self.authority, self.host

    def start(self) -> subprocess.Popen[bytes]:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.run", "--port", str(self.host), "--settings-file", str(self.settings)],
            cwd=services.ROOT, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        return self.process

    def wait_healthy(self) -> httpx.Response:
        assert self.process is not None
        services.wait_for_port(self.host, 120, self.process)
        deadline = time.monotonic() + 30
        while True:
            try:
                return httpx.get(f"http://127.0.0.1:{self.host}/api/health", timeout=10)
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)

    def children(self) -> list[int]:
        """PIDs whose parent is the run process (the services are started in their own sessions)."""
        assert self.process is not None
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(entry.name))
        return found


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    started = Run(tmp_path)
    yield started
    if started.process is not None and started.process.poll() is None:
        started.process.kill()  # only if a test failed half-way
        started.process.wait(30)


def processes_naming(ports: tuple[int, ...]) -> list[str]:
    """Command lines of live processes started for one of these ports (a service may not listen yet)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                words = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            command = " ".join(words)
            if (
                state != "Z"
                and any(str(port) in words for port in ports)
                and ("devtools" in command or "azurite" in command)
            ):
                found.append(command)
    return found


def assert_all_free(ports: tuple[int, ...], pids: list[int]) -> None:
    assert not processes_naming(ports), processes_naming(ports)
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on {port}"
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2], pid


def test_run_serves_health_and_stops_everything_on_ctrl_c(run: Run) -> None:
    process = run.start()
    try:
        response = run.wait_healthy()
        assert response.status_code == 200
        assert response.json()["status"] == "healthy"
        pids = run.children()
        assert len(pids) == 4  # Azurite tables, Azurite queues, the emulator, the host
        # tenancy=multi with the home tenant and two customer tenants, one of them not consented yet
        emulated = httpx.get(f"http://127.0.0.1:{run.emulator}/_emulator/tenants").json()["tenants"]
        assert sorted(t["consented"] for t in emulated) == [False, True, True]
        base = f"http://127.0.0.1:{run.host}/api/tenants"
        for tenant in (t for t in emulated if not t["home"]):
            answer = httpx.post(base, json={"tenantId": tenant["tenantId"], "displayName": "Demo"}, timeout=30)
            expected = "ready" if tenant["consented"] else "pendingConsent"
            # 201, or 200 when an earlier make run registered it (make run keeps its tables in .local/azurite)
            assert answer.status_code in (200, 201) and answer.json()["status"] == expected, answer.text
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0].decode()
    assert process.returncode == 0, output
    assert "curl" in output and f"http://127.0.0.1:{run.host}/api" in output
    assert_all_free(run.ports, pids)


@pytest.mark.parametrize("signals", [[signal.SIGINT, signal.SIGINT], [signal.SIGTERM, signal.SIGINT, signal.SIGTERM]])
def test_more_signals_while_stopping_still_stop_everything(run: Run, signals: list[int]) -> None:
    process = run.start()
    run.wait_healthy()
    pids = run.children()
    for signum in signals:  # Ctrl-C twice, or `timeout` and a Ctrl-C: back to back, during the stop
        process.send_signal(signum)
        time.sleep(0.05)
    output = process.communicate(timeout=90)[0].decode()
    assert process.returncode == 0, output
    assert_all_free(run.ports, pids)


def test_a_signal_while_starting_stops_what_was_started(run: Run) -> None:
    process = run.start()
    services.wait_for_port(run.azurite, 60, process)  # Azurite is up; the emulator or the host is starting
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    output = process.communicate(timeout=90)[0].decode()
    assert_all_free(run.ports, [])
    assert "Functions host " not in output


@pytest.mark.parametrize("which", ["azurite", "emulator", "host"])
def test_a_taken_port_is_named_before_anything_starts(run: Run, which: str) -> None:
    port = getattr(run, which)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        process = run.start()
        output = process.communicate(timeout=60)[0].decode()
    assert process.returncode != 0, output
    assert f"port {port} is taken" in output and f"pid {os.getpid()}" in output, output
    assert "http://127.0.0.1" not in output and "Try it" not in output, output  # no "started" banner line
    assert_all_free(tuple(p for p in run.ports if p != port), [])
