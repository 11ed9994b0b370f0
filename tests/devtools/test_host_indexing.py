"""devtools.host.indexing: what the host serves, and the clear startup errors for what it does not."""

from __future__ import annotations

import re
from collections.abc import Callable

import azure.functions as func
import pytest

from devtools.host.errors import HostError
from devtools.host.indexing import index_functions


def test_index_fails_naming_the_missing_setting() -> None:
    from tests.devtools import host_sample_app

    with pytest.raises(HostError, match="SAMPLE_SCHEDULE"):
        index_functions(host_sample_app.app, {})


def test_http_and_timer_functions_are_indexed() -> None:
    app = func.FunctionApp()

    @app.function_name("read")
    @app.route(route="things/{id}", methods=["get"])
    async def read(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse()

    @app.function_name("poll")
    @app.timer_trigger(arg_name="timer", schedule="%POLL%", use_monitor=True)
    async def poll(timer: func.TimerRequest) -> None:
        return None

    http, timer = index_functions(app, {"POLL": "0 */5 * * * *"})
    assert (http.name, http.trigger_name, http.methods, http.schedule) == ("read", "req", ("GET",), None)
    assert http.route is not None and http.route.match("things/7") == {"id": "7"}
    assert (timer.name, timer.trigger_name, timer.route) == ("poll", "timer", None)
    assert timer.schedule is not None and timer.schedule.expression == "0 */5 * * * *"


def _sync_function(app: func.FunctionApp) -> None:
    @app.route(route="sync")
    def sync(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse()


def _context_parameter(app: func.FunctionApp) -> None:
    @app.route(route="ctx")
    async def ctx(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return func.HttpResponse()


def _run_on_startup(app: func.FunctionApp) -> None:
    @app.timer_trigger(arg_name="timer", schedule="0 0 * * * *", run_on_startup=True)
    async def early(timer: func.TimerRequest) -> None:
        return None


def _blob_trigger(app: func.FunctionApp) -> None:
    @app.blob_trigger(arg_name="blob", path="c/{name}", connection="STORAGE")
    async def blobbed(blob: func.InputStream) -> None:
        return None


def _output_binding(app: func.FunctionApp) -> None:
    @app.route(route="out")
    @app.queue_output(arg_name="out", queue_name="q", connection="STORAGE")
    async def out(req: func.HttpRequest, out: func.Out[str]) -> func.HttpResponse:
        return func.HttpResponse()


def _unsupported_route(app: func.FunctionApp) -> None:
    @app.route(route="things/{id:int}")
    async def typed(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse()


def _names_differing_in_case(app: func.FunctionApp) -> None:
    @app.function_name("poll")
    @app.route(route="a")
    async def lower(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse()

    @app.function_name("Poll")
    @app.route(route="b")
    async def upper(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse()


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (_sync_function, "must be `async def`"),
        (_context_parameter, "'context'"),
        (_run_on_startup, "runOnStartup"),
        (_blob_trigger, "blobTrigger"),
        (_output_binding, "only a trigger and an HTTP return value"),
        (_unsupported_route, "{id:int}"),
        (_names_differing_in_case, "used twice"),
    ],
)
def test_what_the_host_does_not_serve_stops_it_at_startup(
    declare: Callable[[func.FunctionApp], None], message: str
) -> None:
    app = func.FunctionApp()
    declare(app)
    with pytest.raises(HostError, match=re.escape(message)):
        index_functions(app, {})
