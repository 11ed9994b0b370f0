"""devtools.host over real HTTP: a `python -m devtools.host` subprocess serving tests/devtools/host_sample_app.py."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools import services

SAMPLE_APP = "tests.devtools.host_sample_app:app"
FILE_ONLY_VALUE = "from-file-7f3a9c"
OVERRIDDEN_FILE_VALUE = "file-value-2b8e1d"
TICK_SECONDS = 1.2


def host_argv(port: int, settings_file: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "devtools.host", "--port", str(port), "--app", SAMPLE_APP,
        "--settings-file", str(settings_file), *extra,
    ]  # fmt: skip


def clean_env(**values: str) -> dict[str, str]:
    """The test process's environment without SAMPLE_* settings, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAMPLE_")}
    return {**env, "PYTHONUNBUFFERED": "1", **values}


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class RunningHost:
    def __init__(self, service: services.Service, log_path: Path, timer_log: Path) -> None:
        self.service = service
        self.log_path = log_path
        self.timer_log = timer_log
        self.base_url = f"http://127.0.0.1:{service.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def ticks(self) -> list[dict[str, Any]]:
        if not self.timer_log.exists():
            return []
        lines = self.timer_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def sample_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    folder = tmp_path_factory.mktemp("host")
    settings_file = folder / "local.settings.json"
    settings_file.write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {
                    "SAMPLE_SCHEDULE": "*/1 * * * * *",
                    "SAMPLE_FROM_FILE": FILE_ONLY_VALUE,
                    "SAMPLE_OVERRIDDEN": OVERRIDDEN_FILE_VALUE,
                },
            }
        )
    )
    timer_log = folder / "ticks.jsonl"
    log_path = folder / "host.log"
    port = services.free_port()
    env = clean_env(
        SAMPLE_OVERRIDDEN="from-env", SAMPLE_TIMER_LOG=str(timer_log), SAMPLE_TICK_SECONDS=str(TICK_SECONDS)
    )
    service = services.Service("host", host_argv(port, settings_file), port, env=env, log_path=log_path)
    service.start(timeout=60)
    try:
        yield RunningHost(service, log_path, timer_log)
    finally:
        service.stop()


@pytest.fixture
def client(sample_host: RunningHost) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sample_host.base_url, timeout=30) as http:
        yield http


# ------------------------------------------------------------------------------------------------------------------
# HTTP triggers over real HTTP


def test_route_parameter_query_and_absolute_url(client: httpx.Client, sample_host: RunningHost) -> None:
    response = client.get("/api/items/42?code=the-key&color=blue", headers={"X-Custom": "yes"})
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "GET"
    assert seen["route_params"] == {"id": "42"}
    assert seen["params"] == {"code": "the-key", "color": "blue"}
    assert seen["url"] == f"{sample_host.base_url}/api/items/42?code=the-key&color=blue"
    assert seen["headers"]["x-custom"] == "yes"
    assert seen["body"] == ""


def test_function_keys_are_passed_through_not_enforced(client: httpx.Client) -> None:
    response = client.put("/api/items/a%20b", headers={"x-functions-key": "anything"}, content=b"x")
    assert response.status_code == 200
    seen = response.json()
    assert seen["method"] == "PUT"
    assert seen["route_params"] == {"id": "a b"}
    assert seen["headers"]["x-functions-key"] == "anything"
    assert client.get("/api/public/ping").text == "pong"


def test_repeated_query_parameters_and_headers_are_joined(client: httpx.Client) -> None:
    response = client.get("/api/items/1?tag=a&tag=b", headers=[("X-Multi", "1"), ("X-Multi", "2")])
    seen = response.json()
    assert seen["params"]["tag"] == "a,b"
    assert seen["headers"]["x-multi"] == "1, 2"


def test_post_body_round_trip(client: httpx.Client, sample_host: RunningHost) -> None:
    body = json.dumps({"name": "héllo", "n": [1, 2, 3]}).encode()
    response = client.post("/api/items?code=k", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 201
    assert response.content == body
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-body-length"] == str(len(body))
    assert response.headers["location"] == f"{sample_host.base_url}/api/items?code=k"


def test_large_bodies_reach_the_function(client: httpx.Client) -> None:
    five_mb = b"a" * (5 * 1024 * 1024)
    response = client.post("/api/items", content=five_mb)
    assert response.status_code == 201
    assert response.headers["x-body-length"] == str(len(five_mb))
    # the app, not the host, refuses this one (the host allows 100 MB)
    assert client.post("/api/items", content=b"b" * (11 * 1024 * 1024)).status_code == 413


def test_exception_is_500_with_empty_body(client: httpx.Client, sample_host: RunningHost) -> None:
    response = client.post("/api/explode")
    assert response.status_code == 500
    assert response.content == b""
    assert wait_for(lambda: "RuntimeError: secret detail" in sample_host.log(), 5)
    assert "Executed 'Functions.explode' (Failed" in sample_host.log()


def test_unknown_routes_and_undeclared_methods_are_404(client: httpx.Client) -> None:
    assert client.get("/api/nothing-here").status_code == 404
    assert client.get("/elsewhere/items/1").status_code == 404
    assert client.get("/").status_code == 404
    assert client.get("/api/items/1/extra").status_code == 404
    assert client.post("/api/items/1").status_code == 404  # echo_item declares GET and PUT only
    assert client.delete("/api/items").status_code == 404  # create_item declares POST only


def test_route_matching_details(client: httpx.Client) -> None:
    assert client.get("/API/Items/7/").json()["route_params"] == {"id": "7"}  # case-insensitive, trailing slash


def test_multiple_response_header_values(client: httpx.Client) -> None:
    response = client.get("/api/cookies")
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


# ------------------------------------------------------------------------------------------------------------------
# Admin API


def _admin_runs(sample_host: RunningHost) -> int:
    return sum(1 for t in sample_host.ticks() if not t["status"])  # the admin passes no schedule status


def test_admin_runs_a_timer_in_the_background(client: httpx.Client, sample_host: RunningHost) -> None:
    before = _admin_runs(sample_host)
    response = client.post("/admin/functions/TICK", json={"input": ""})  # names are case-insensitive
    assert response.status_code == 202
    assert _admin_runs(sample_host) == before  # answered before the run (1.2 s long) ended
    assert wait_for(lambda: _admin_runs(sample_host) == before + 1, 10)


def test_admin_wait_true(client: httpx.Client, sample_host: RunningHost) -> None:
    before = _admin_runs(sample_host)
    response = client.post("/admin/functions/tick", params={"wait": "true"}, json={"input": ""})
    assert response.status_code == 200
    assert response.json() == {"name": "tick", "status": "succeeded"}
    assert _admin_runs(sample_host) == before + 1  # done when the answer comes


def test_admin_wait_true_failure_and_errors(client: httpx.Client) -> None:
    failed = client.post("/admin/functions/failing_timer", params={"wait": "true"})  # empty body is fine
    assert failed.status_code == 500
    assert failed.json() == {"name": "failing_timer", "status": "failed", "error": "ValueError"}
    assert "the timer failed" not in failed.text  # the exception's type only, never its message
    assert client.post("/admin/functions/no_such_function", json={"input": ""}).status_code == 404
    assert client.post("/admin/functions/explode?wait=true", json={"input": ""}).status_code == 404  # HTTP: call it


# ------------------------------------------------------------------------------------------------------------------
# Timers, settings, logs


def test_timer_fires_on_its_schedule_without_overlap(sample_host: RunningHost) -> None:
    def scheduled() -> list[dict[str, Any]]:
        return [t for t in sample_host.ticks() if t["status"]]

    assert wait_for(lambda: len(scheduled()) >= 3, 15)
    for tick in scheduled():
        assert tick["past_due"] is False
        assert datetime.fromisoformat(tick["status"]["Next"]).microsecond == 0
    runs = sorted(sample_host.ticks(), key=lambda t: t["start"])
    for previous, current in itertools.pairwise(runs):
        assert current["start"] >= previous["end"], "two invocations of the timer overlapped"
    # each run lasts 1.2 s on a 1 s schedule: some ticks are skipped, not queued
    assert "Skipped 'Functions.tick'" in sample_host.log()


def test_local_settings_file_then_environment(client: httpx.Client, sample_host: RunningHost) -> None:
    seen = client.get("/api/settings").json()
    assert seen["SAMPLE_FROM_FILE"] == FILE_ONLY_VALUE
    assert seen["SAMPLE_OVERRIDDEN"] == "from-env"
    assert seen["SAMPLE_SCHEDULE"] == "*/1 * * * * *"
    log = sample_host.log()
    assert "local.settings.json (1 overridden by the environment)" in log
    assert FILE_ONLY_VALUE not in log and OVERRIDDEN_FILE_VALUE not in log  # values are never printed


def test_startup_output(sample_host: RunningHost) -> None:
    log = sample_host.log()
    base = sample_host.base_url
    assert f"host listening on {base}" in log
    assert f"echo_item: [GET,PUT] {base}/api/items/{{id}}" in log
    assert f"create_item: [POST] {base}/api/items" in log
    assert "tick: timerTrigger (*/1 * * * * *)" in log


def test_one_log_line_per_invocation(client: httpx.Client, sample_host: RunningHost) -> None:
    client.get("/api/public/ping")
    assert wait_for(lambda: "Executed 'Functions.public_ping' (Succeeded" in sample_host.log(), 5)
    line = next(x for x in sample_host.log().splitlines() if "Executed 'Functions.public_ping'" in x)
    assert " INFO " in line and "Duration=" in line and line.endswith("ms)")


def test_missing_schedule_setting_is_a_clear_startup_error(tmp_path: Path) -> None:
    settings_file = tmp_path / "local.settings.json"
    settings_file.write_text(json.dumps({"Values": {}}))
    result = subprocess.run(
        host_argv(services.free_port(), settings_file),
        cwd=services.ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "SAMPLE_SCHEDULE" in result.stderr and "tick" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_lets_in_flight_requests_finish_and_exits_0(tmp_path: Path) -> None:
    settings_file = tmp_path / "local.settings.json"
    settings_file.write_text(json.dumps({"Values": {"SAMPLE_SCHEDULE": "0 0 0 1 1 *"}}))
    port = services.free_port()
    log_path = tmp_path / "host.log"
    service = services.Service("host", host_argv(port, settings_file), port, env=clean_env(), log_path=log_path)
    service.start(timeout=60)
    outcome: dict[str, Any] = {}

    def slow_request() -> None:
        try:
            outcome["response"] = httpx.get(f"http://127.0.0.1:{port}/api/slow?seconds=1.5", timeout=30)
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    try:
        assert service.process is not None
        caller = threading.Thread(target=slow_request)
        caller.start()
        time.sleep(0.5)  # the request has reached the function
        os.kill(service.process.pid, signal.SIGTERM)
        assert service.process.wait(timeout=20) == 0
        caller.join(10)
        assert "error" not in outcome, outcome.get("error")
        assert outcome["response"].status_code == 200
        assert outcome["response"].text == "done"
        log = log_path.read_text()
        assert "SIGTERM received" in log and "host stopped" in log
    finally:
        service.stop()
