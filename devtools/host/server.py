"""The aiohttp server: HTTP triggers under the route prefix, the admin endpoint, timers, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import time
from collections.abc import Coroutine, Mapping
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions.timer import TimerRequest

from devtools.host.indexing import FunctionInfo, index_functions
from devtools.host.invoke import FunctionFailed, invoke, to_function_request, to_web_response
from devtools.host.queues import QueueListener, QueueOptions, queue_service
from devtools.host.routes import RouteTable
from devtools.host.settings import DEFAULT_ROUTE_PREFIX
from devtools.host.timers import run_schedule

MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's request body limit (httpRuntime maxRequestLength)
SHUTDOWN_TIMEOUT = 5.0  # seconds that in-flight requests and invocations get to finish on SIGTERM

log = logging.getLogger("devtools.host")


class Host:
    """The app's indexed functions behind an aiohttp application (`web_app`); timers start and stop with it."""

    def __init__(
        self,
        app: func.FunctionApp,
        settings: Mapping[str, str],
        *,
        route_prefix: str = DEFAULT_ROUTE_PREFIX,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        queue_options: QueueOptions | None = None,
        poll_queues: bool = True,
    ) -> None:
        self.route_prefix = route_prefix.strip("/")
        self.functions = index_functions(app, settings)
        self.routes: RouteTable[FunctionInfo] = RouteTable(self.route_prefix)
        for fn in self.functions:
            if fn.route is not None:
                self.routes.add(fn.route, fn.methods, fn)
        self.timers = {f.name.lower(): f for f in self.functions if f.schedule is not None}
        queue_functions = [f for f in self.functions if f.queue_name is not None]
        options = queue_options or QueueOptions()
        self.listeners = {
            f.queue_name: QueueListener(f, queue_service(f.connection or "", settings), options)
            for f in queue_functions
            if f.queue_name
        }
        self._poll_queues = poll_queues
        self._queue_tasks: list[asyncio.Task[None]] = []
        self._inflight: set[asyncio.Task[Any]] = set()
        self._timer_tasks: list[asyncio.Task[None]] = []
        self._stop_deadline: float | None = None
        self.web_app = web.Application(client_max_size=max_request_bytes)
        self.web_app.router.add_post("/admin/functions/{name}", self.handle_admin_invoke)
        self.web_app.router.add_post("/admin/queues/{queue}/drain", self.handle_drain)
        self.web_app.router.add_route("*", "/{path:.*}", self.handle_http)
        self.web_app.on_startup.append(self._start_timers)
        self.web_app.on_startup.append(self._start_queues)
        self.web_app.on_shutdown.append(self._stop_timers)
        self.web_app.on_shutdown.append(self._stop_queues)
        self.web_app.on_cleanup.append(self._drain)

    def _track(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` as a task that shutdown waits for, and that a client going away does not cancel."""
        task = asyncio.ensure_future(coro)
        task.set_name(f"invocation of {name}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return task

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        """Run the function the route table picks. Function keys are accepted but not checked, as Core Tools does
        locally; a path no function serves, or a method the matching functions do not declare, is 404 as in Azure."""
        found = self.routes.find(request.raw_path, request.method)
        if found is None:
            return web.Response(status=404)
        fn, params = found
        body = await request.read()  # over client_max_size: aiohttp answers 413
        task = self._track(invoke(fn, to_function_request(request, body, params)), fn.name)
        try:
            result = await asyncio.shield(task)
            return to_web_response(result)
        except FunctionFailed:
            return web.Response(status=500)
        except TypeError:
            log.exception("function %s returned a value the host cannot send", fn.name)
            return web.Response(status=500)

    async def _invoke_timer(self, fn: FunctionInfo, timer: TimerRequest) -> BaseException | None:
        """One invocation of a timer function whose lock the caller holds; the function's exception, if it raised."""
        try:
            await invoke(fn, timer)
        except FunctionFailed as failed:
            return failed.__cause__
        finally:
            fn.lock.release()
        return None

    async def _queue_timer(self, fn: FunctionInfo, timer: TimerRequest) -> BaseException | None:
        await fn.lock.acquire()  # after the running invocation, if any: a timer never runs twice at once
        return await self._invoke_timer(fn, timer)

    async def handle_admin_invoke(self, request: web.Request) -> web.Response:
        """Run a timer function now, like the host's admin API: 202 at once; `?wait=true` answers when it has ended
        with 200 `{"name", "status": "succeeded"}` or 500 `{"name", "status": "failed", "error": "<Type>"}`."""
        fn = self.timers.get(request.match_info["name"].lower())
        if fn is None:
            return web.json_response({"error": "no timer function of that name"}, status=404)
        task = self._track(self._queue_timer(fn, TimerRequest(past_due=False)), fn.name)
        if request.query.get("wait", "").lower() not in ("true", "1", "yes"):
            return web.Response(status=202)
        error: BaseException | None = await asyncio.shield(task)
        if error is None:
            return web.json_response({"name": fn.name, "status": "succeeded"})
        return web.json_response({"name": fn.name, "status": "failed", "error": type(error).__name__}, status=500)

    async def handle_drain(self, request: web.Request) -> web.Response:
        """Run the queue's visible messages to the end now: 200 `{"processed", "failed", "poisoned"}`."""
        listener = self.listeners.get(request.match_info["queue"].lower())
        if listener is None:
            return web.json_response({"error": "no queue function listens on that queue"}, status=404)
        counts = await asyncio.shield(self._track(listener.drain(), f"drain {listener.fn.name}"))
        return web.json_response(counts)

    async def _start_queues(self, _: web.Application) -> None:
        if not self._poll_queues:
            return
        for queue, listener in self.listeners.items():
            self._queue_tasks.append(asyncio.create_task(listener.listen(), name=f"queue:{queue}"))

    async def _stop_queues(self, _: web.Application) -> None:
        for task in self._queue_tasks:
            task.cancel()
        for task in self._queue_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._queue_tasks.clear()
        for listener in self.listeners.values():
            await listener.close()

    async def _fire(self, fn: FunctionInfo, timer: TimerRequest) -> None:
        """Start one scheduled invocation, unless the previous one still runs (then this occurrence is skipped)."""
        if fn.lock.locked():
            log.info("Skipped 'Functions.%s': the previous invocation is still running", fn.name)
            return
        await fn.lock.acquire()  # free: returns at once, before the next occurrence can look
        self._track(self._invoke_timer(fn, timer), fn.name)

    async def _start_timers(self, _: web.Application) -> None:
        for fn in self.timers.values():
            assert fn.schedule is not None
            ticks = run_schedule(fn.schedule, functools.partial(self._fire, fn))
            self._timer_tasks.append(asyncio.create_task(ticks, name=f"timer:{fn.name}"))

    async def _stop_timers(self, _: web.Application) -> None:
        self._stop_deadline = time.monotonic() + SHUTDOWN_TIMEOUT  # one budget for requests and invocations
        for task in self._timer_tasks:
            task.cancel()
        for task in self._timer_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._timer_tasks.clear()

    async def _drain(self, _app: web.Application) -> None:
        """Wait for in-flight invocations until the shutdown budget is spent; cancel what is left."""
        deadline = self._stop_deadline or time.monotonic() + SHUTDOWN_TIMEOUT
        pending = {t for t in self._inflight if not t.done()}
        if pending:
            log.info("waiting for %d running invocation(s)", len(pending))
            _, pending = await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
        for task in pending:
            log.warning("an invocation still running at shutdown is abandoned (%s)", task.get_name())
            task.cancel()

    def banner(self, base_url: str) -> list[str]:
        """One line per function, as Core Tools prints them."""
        lines = []
        for fn in self.functions:
            if fn.route is not None:
                methods = ",".join(fn.methods) if fn.methods else "ALL"
                path = "/".join(p for p in (self.route_prefix, fn.route.template) if p)
                lines.append(f"{fn.name}: [{methods}] {base_url}/{path}")
            elif fn.schedule is not None:
                lines.append(f"{fn.name}: timerTrigger ({fn.schedule.expression})")
            elif fn.queue_name is not None:
                lines.append(f"{fn.name}: queueTrigger ({fn.queue_name})")
        return lines


async def serve(host: Host, interface: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully (a second signal exits at once)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            logging.shutdown()
            os._exit(1)
        log.info("%s received: shutting down", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    runner = web.AppRunner(host.web_app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    await web.TCPSite(runner, interface, port).start()
    shown = f"[{interface}]" if ":" in interface else interface
    base_url = f"http://{shown}:{runner.addresses[0][1] if runner.addresses else port}"
    print("Functions:", *(f"    {line}" for line in host.banner(base_url)), sep="\n", flush=True)
    print(f"host listening on {base_url}", flush=True)
    await stop.wait()
    await runner.cleanup()  # stops listening, stops timers, waits for requests and invocations
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)
