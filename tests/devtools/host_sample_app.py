"""A small FunctionApp for tests/devtools/test_host.py: served by devtools.host as `tests.devtools.host_sample_app:app`.

Settings it reads (from the environment, which the host fills from local.settings.json first):
SAMPLE_SCHEDULE (the `tick` timer), SAMPLE_TIMER_LOG (a file `tick` appends one JSON line to per run),
SAMPLE_TICK_SECONDS (how long each `tick` run lasts), SAMPLE_* (echoed by `sample_settings`).
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import azure.functions as func
from azure.functions.timer import TimerRequest

bp = func.Blueprint()


def _json(data: object, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(data), status_code=status, mimetype="application/json")


def _describe(req: func.HttpRequest) -> dict[str, object]:
    return {
        "method": req.method,
        "url": req.url,
        "route_params": dict(req.route_params),
        "params": dict(req.params),
        "headers": dict(req.headers),
        "body": req.get_body().decode("utf-8", "replace"),
    }


@bp.function_name("echo_item")
@bp.route(route="items/{id}", methods=["GET", "PUT"])
async def echo_item(req: func.HttpRequest) -> func.HttpResponse:
    return _json(_describe(req))


@bp.function_name("create_item")
@bp.route(route="items", methods=["POST"])
async def create_item(req: func.HttpRequest) -> func.HttpResponse:
    body = req.get_body()
    if len(body) > 10 * 1024 * 1024:
        return _json({"error": "too large"}, status=413)
    return func.HttpResponse(
        body,
        status_code=201,
        headers={"X-Body-Length": str(len(body)), "Location": req.url},
        mimetype=req.headers.get("content-type", "application/octet-stream"),
    )


@bp.function_name("explode")
@bp.route(route="explode")
async def explode(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret detail that must not reach the client")


@bp.function_name("public_ping")
@bp.route(route="public/ping", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def public_ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")


@bp.function_name("cookies")
@bp.route(route="cookies", methods=["GET"])
async def cookies(req: func.HttpRequest) -> func.HttpResponse:
    response = func.HttpResponse("", status_code=200)
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; Path=/")
    return response


@bp.function_name("slow")
@bp.route(route="slow", methods=["GET"])
async def slow(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(float(req.params.get("seconds", "1")))
    return func.HttpResponse("done")


def _append_line(path: str, line: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


@bp.function_name("tick")
@bp.timer_trigger(arg_name="timer", schedule="%SAMPLE_SCHEDULE%", run_on_startup=False)
async def tick(timer: TimerRequest) -> None:
    started = time.time()
    await asyncio.sleep(float(os.environ.get("SAMPLE_TICK_SECONDS", "0")))
    path = os.environ.get("SAMPLE_TIMER_LOG")
    if path:
        record = {"start": started, "end": time.time(), "past_due": timer.past_due, "status": timer.schedule_status}
        _append_line(path, json.dumps(record))


@bp.function_name("failing_timer")
@bp.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *")
async def failing_timer(timer: TimerRequest) -> None:
    raise ValueError("the timer failed")


app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(bp)


@app.function_name("sample_settings")
@app.route(route="settings", methods=["GET"])
async def sample_settings(req: func.HttpRequest) -> func.HttpResponse:
    return _json({name: value for name, value in os.environ.items() if name.startswith("SAMPLE_")})
