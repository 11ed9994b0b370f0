"""devtools/host.py: the local Functions host, over real HTTP (a subprocess serving tests/host_sample_app.py), plus
unit tests of its route-template matcher, NCRONTAB schedules and settings handling."""

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer

from devtools import host as host_module
from devtools import services
from devtools.host import (
    HOST_KEY,
    HostError,
    RouteTemplate,
    Schedule,
    build_host,
    find_settings_file,
    merge_settings,
    read_local_settings,
    read_route_prefix,
    resolve_setting_references,
)

SAMPLE_APP = "tests.host_sample_app:app"
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


def test_constrained_route(client: httpx.Client) -> None:
    assert client.get("/api/numbers/21").json() == {"double": 42}
    assert client.get("/api/numbers/-4").json() == {"double": -8}
    assert client.get("/api/numbers/abc").status_code == 404
    assert client.get("/api/numbers/99999999999").status_code == 404  # beyond int32


def test_sync_and_async_functions(client: httpx.Client) -> None:
    sync = client.get("/api/hello/sync").json()
    async_ = client.get("/api/hello/async").json()
    assert sync["kind"] == "sync"
    assert sync["thread"].startswith("function")  # the thread pool
    assert async_ == {"kind": "async", "thread": "MainThread"}  # the event loop


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
    assert client.get("/api/files/a/b/c.txt").json() == {"path": "a/b/c.txt"}
    assert client.get("/api/files").json() == {}


def test_multiple_response_header_values(client: httpx.Client) -> None:
    response = client.get("/api/cookies")
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


# ------------------------------------------------------------------------------------------------------------------
# Admin API


def test_host_status_and_function_list(client: httpx.Client, sample_host: RunningHost) -> None:
    assert client.get("/admin/host/status").json()["state"] == "Running"
    functions = {f["name"]: f for f in client.get("/admin/functions").json()}
    assert functions["echo_item"] == {
        "name": "echo_item",
        "trigger": "httpTrigger",
        "bindingName": "req",
        "route": "items/{id}",
        "methods": ["GET", "PUT"],
        "authLevel": "FUNCTION",
        "url": f"{sample_host.base_url}/api/items/{{id}}",
    }
    assert functions["public_ping"]["authLevel"] == "ANONYMOUS"
    assert functions["explode"]["methods"] is None
    assert functions["tick"]["trigger"] == "timerTrigger"
    assert functions["tick"]["schedule"] == "*/1 * * * * *"  # %SAMPLE_SCHEDULE% resolved
    assert client.get("/admin/functions/TICK").json()["name"] == "tick"
    assert client.get("/admin/functions/nope").status_code == 404


def _admin_runs(sample_host: RunningHost) -> int:
    return sum(1 for t in sample_host.ticks() if not t["status"])  # the admin passes no schedule status


def test_admin_runs_a_timer_in_the_background(client: httpx.Client, sample_host: RunningHost) -> None:
    before = _admin_runs(sample_host)
    started = time.monotonic()
    response = client.post("/admin/functions/tick", json={"input": ""})
    assert response.status_code == 202
    assert time.monotonic() - started < TICK_SECONDS  # answered before the run ended
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
    exploded = client.post("/admin/functions/explode?wait=true", json={"input": ""})
    assert exploded.json() == {"name": "explode", "status": "failed", "error": "RuntimeError"}
    assert "secret" not in exploded.text
    http_fn = client.post("/admin/functions/sync_hello?wait=true", json={"input": ""})
    assert http_fn.json() == {"name": "sync_hello", "status": "succeeded"}
    assert client.post("/admin/functions/no_such_function", json={"input": ""}).status_code == 404
    assert client.post("/admin/functions/tick", content=b"{not json").status_code == 400


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


# ------------------------------------------------------------------------------------------------------------------
# Unit tests: route templates


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("items", "items", {}),
        ("items", "ITEMS/", {}),
        ("items", "items/1", None),
        ("items/{id}", "items/42", {"id": "42"}),
        ("items/{id}", "items", None),
        ("items/{id}", "items/a%2Fb", {"id": "a/b"}),
        ("items/{id}/parts", "items/1/parts", {"id": "1"}),
        ("items/{id}/parts", "items/1/other", None),
        ("n/{n:int}", "n/12", {"n": "12"}),
        ("n/{n:int}", "n/1.5", None),
        ("n/{n:int}", "n/2147483648", None),
        ("n/{n:long}", "n/2147483648", {"n": "2147483648"}),
        ("g/{id:guid}", "g/0f8fad5b-d9cb-469f-a165-70867728950e", {"id": "0f8fad5b-d9cb-469f-a165-70867728950e"}),
        ("g/{id:guid}", "g/0f8fad5bd9cb469fa16570867728950e", {"id": "0f8fad5bd9cb469fa16570867728950e"}),
        ("g/{id:guid}", "g/not-a-guid", None),
        ("a/{word:alpha}", "a/Hello", {"word": "Hello"}),
        ("a/{word:alpha}", "a/hello1", None),
        ("b/{flag:bool}", "b/True", {"flag": "True"}),
        ("r/{n:int:min(10)}", "r/9", None),
        ("r/{n:int:min(10)}", "r/10", {"n": "10"}),
        ("r/{code:regex(^[a-z]{{2}}$)}", "r/ab", {"code": "ab"}),
        ("r/{code:regex(^[a-z]{{2}}$)}", "r/abc", None),
        ("o/{name?}", "o", {}),
        ("o/{name?}", "o/x", {"name": "x"}),
        ("o/{name=home}", "o", {"name": "home"}),
        ("o/{a?}/{b?}", "o/1", {"a": "1"}),
        ("c/{*rest}", "c", {}),
        ("c/{*rest}", "c/a/b%20c/d", {"rest": "a/b c/d"}),
        ("c/{**rest}", "c/x", {"rest": "x"}),
        ("f/{name}.{ext}", "f/archive.tar.gz", {"name": "archive.tar", "ext": "gz"}),
        ("f/{name}.{ext}", "f/noext", None),
        ("", "", {}),
        ("", "x", None),
    ],
)
def test_route_template_match(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate(template).match(path) == expected


@pytest.mark.parametrize(
    "template",
    ["c/{*rest}/more", "o/{a?}/b", "x/{id:unknown}", "x/{id}/{id}", "x/{a}{b}", "x/{bad-name}", "x/{open", "x//y"],
)
def test_route_template_errors(template: str) -> None:
    with pytest.raises(HostError):
        RouteTemplate(template)


def _sample_functions_app() -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.function_name("get_one")
    @app.route(route="snapshots/{id}", methods=["GET"])
    def get_one(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("one " + req.route_params["id"])

    @app.function_name("delete_one")
    @app.route(route="snapshots/{id}", methods=["DELETE"])
    def delete_one(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(status_code=204)

    @app.function_name("latest")
    @app.route(route="snapshots/latest", methods=["GET"])
    def latest(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("latest")

    @app.function_name("upload")
    @app.route(route="upload", methods=["POST"])
    async def upload(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(str(len(req.get_body())))

    return app


def test_route_precedence_and_methods() -> None:
    host = build_host(_sample_functions_app(), {})[HOST_KEY]

    def found(path: str, method: str) -> str | None:
        match = host.find_route(path, method)
        return None if match is None else match[0].name

    assert found("/api/snapshots/latest", "GET") == "latest"  # a literal beats a parameter
    assert found("/api/snapshots/abc", "GET") == "get_one"
    assert found("/api/snapshots/latest", "DELETE") == "delete_one"  # same template, another method
    assert found("/api/snapshots/abc", "POST") is None
    assert found("/snapshots/abc", "GET") is None


async def test_in_process_host_body_limit_and_empty_prefix() -> None:
    web_app = build_host(_sample_functions_app(), {}, route_prefix="", max_request_bytes=1000)
    async with TestClient(TestServer(web_app)) as http:
        ok = await http.post("/upload", data=b"x" * 1000)
        assert ok.status == 200
        assert await ok.text() == "1000"
        too_big = await http.post("/upload", data=b"x" * 1001)
        assert too_big.status == 413
        assert (await http.get("/snapshots/latest")).status == 200
        assert (await http.get("/admin/host/status")).status == 200


# ------------------------------------------------------------------------------------------------------------------
# Unit tests: schedules and settings


def _next(expression: str, start: datetime, count: int = 3) -> list[str]:
    schedule, moments, moment = Schedule(expression), [], start
    for _ in range(count):
        moment = schedule.next_after(moment)
        moments.append(moment.isoformat())
    return moments


START = datetime(2026, 1, 1, 0, 0, 7, 500000, tzinfo=UTC)  # a Thursday


def test_ncrontab_six_fields_with_seconds() -> None:
    assert _next("*/1 * * * * *", START) == [
        "2026-01-01T00:00:08+00:00", "2026-01-01T00:00:09+00:00", "2026-01-01T00:00:10+00:00",
    ]  # fmt: skip
    assert _next("*/10 * * * * *", START, 2) == ["2026-01-01T00:00:10+00:00", "2026-01-01T00:00:20+00:00"]
    assert _next("0 */5 * * * *", START, 2) == ["2026-01-01T00:05:00+00:00", "2026-01-01T00:10:00+00:00"]
    assert _next("30 15 10 * * 1-5", START, 3) == [
        "2026-01-01T10:15:30+00:00", "2026-01-02T10:15:30+00:00", "2026-01-05T10:15:30+00:00",
    ]  # fmt: skip
    assert _next("0 0 9 * * MON", START, 1) == ["2026-01-05T09:00:00+00:00"]
    assert _next("0 0 0 1 1 *", START, 1) == ["2027-01-01T00:00:00+00:00"]


def test_ncrontab_day_and_weekday_both_apply() -> None:
    assert _next("0 0 0 13 * 5", START, 2) == ["2026-02-13T00:00:00+00:00", "2026-03-13T00:00:00+00:00"]


def test_five_field_cron_and_timespan() -> None:
    assert _next("*/15 * * * *", START, 2) == ["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00"]
    assert _next("00:00:30", START, 2) == ["2026-01-01T00:00:37.500000+00:00", "2026-01-01T00:01:07.500000+00:00"]
    assert _next("1.00:00:00", START, 1) == ["2026-01-02T00:00:07.500000+00:00"]


@pytest.mark.parametrize("expression", ["", "* * *", "61 * * * * *", "* * * * * * * *", "every minute", "00:00:00"])
def test_invalid_schedules(expression: str) -> None:
    with pytest.raises(HostError):
        Schedule(expression)


def test_setting_references() -> None:
    settings = {"POLL": "*/10 * * * * *", "A": "x"}
    assert resolve_setting_references("%POLL%", settings, "f") == "*/10 * * * * *"
    assert resolve_setting_references("%A%-%A%", settings, "f") == "x-x"
    with pytest.raises(HostError, match="'MISSING'") as raised:
        resolve_setting_references("%MISSING%", settings, "function 'poll' schedule")
    assert "function 'poll' schedule" in str(raised.value)


def test_index_fails_naming_the_missing_setting() -> None:
    from tests import host_sample_app

    with pytest.raises(HostError, match="SAMPLE_SCHEDULE"):
        build_host(host_sample_app.app, {})


def test_settings_file_discovery(tmp_path: Path) -> None:
    cwd, root = tmp_path / "cwd", tmp_path / "root"
    cwd.mkdir()
    root.mkdir()
    assert find_settings_file(None, cwd=cwd, root=root) is None
    (root / "local.settings.json").write_text("{}")
    assert find_settings_file(None, cwd=cwd, root=root) == root / "local.settings.json"
    (cwd / "local.settings.json").write_text("{}")
    assert find_settings_file(None, cwd=cwd, root=root) == cwd / "local.settings.json"  # the current folder first
    with pytest.raises(HostError):
        find_settings_file(tmp_path / "missing.json", cwd=cwd, root=root)


def test_read_local_settings_and_merge(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(
        json.dumps(
            {
                "IsEncrypted": True,  # ignored
                "Values": {"A": "1", "B": 2, "C": True, "D": None, "E": "file"},
                "Host": {"LocalHttpPort": 7090},
            }
        )
    )
    local = read_local_settings(path)
    assert local.values == {"A": "1", "B": "2", "C": "true", "E": "file"}
    assert local.host == {"LocalHttpPort": 7090}
    assert merge_settings(local.values, {"E": "env", "F": ""}) == {"A": "1", "B": "2", "C": "true", "E": "env", "F": ""}
    path.write_text("{not json")
    with pytest.raises(HostError):
        read_local_settings(path)


def test_route_prefix_from_host_json(tmp_path: Path) -> None:
    host_json = tmp_path / "host.json"
    assert read_route_prefix(host_json) == "api"
    host_json.write_text(json.dumps({"version": "2.0"}))
    assert read_route_prefix(host_json) == "api"
    host_json.write_text(json.dumps({"extensions": {"http": {"routePrefix": "/v1/"}}}))
    assert read_route_prefix(host_json) == "v1"
    host_json.write_text(json.dumps({"extensions": {"http": {"routePrefix": ""}}}))
    assert read_route_prefix(host_json) == ""
    assert read_route_prefix(services.ROOT / "host.json") == "api"


def test_command_line_defaults() -> None:
    args = host_module.parse_args([])
    assert (args.port, args.host, args.app, args.settings_file) == (None, "127.0.0.1", "function_app:app", None)
