"""Indexing: import the FunctionApp and read each function's bindings into a FunctionInfo the host can serve."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func

from devtools.host.errors import HostError
from devtools.host.routes import RouteTemplate
from devtools.host.settings import ROOT, resolve_setting_references
from devtools.host.timers import Schedule

HTTP_TRIGGER = "httpTrigger"
TIMER_TRIGGER = "timerTrigger"
QUEUE_TRIGGER = "queueTrigger"
RETURN_BINDING = "$return"

UserFunction = Callable[..., Coroutine[Any, Any, Any]]


@dataclass
class FunctionInfo:
    """One indexed function: its trigger (an HTTP route or a timer schedule) and how to call it."""

    name: str
    trigger_name: str
    user_function: UserFunction
    route: RouteTemplate | None = None
    methods: tuple[str, ...] | None = None  # None: every method
    schedule: Schedule | None = None
    queue_name: str | None = None  # a queue trigger's queue (devtools/host/queues.py runs it)
    connection: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # a timer never runs twice at once


def load_app(spec: str) -> tuple[func.FunctionApp, Path]:
    """Import `module:attribute` (attribute defaults to `app`); returns the app and its root folder (for host.json)."""
    module_name, _, attribute = spec.partition(":")
    for folder in (str(ROOT), os.getcwd()):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    module = importlib.import_module(module_name)
    app = getattr(module, attribute or "app", None)
    if not isinstance(app, func.FunctionApp):
        raise HostError(f"{spec}: {attribute or 'app'} is not an azure.functions.FunctionApp")
    module_file = getattr(module, "__file__", None)
    root = Path(module_file).resolve().parent if module_file else Path.cwd()
    for _ in range(module_name.count(".")):
        root = root.parent
    return app, root


def _check_callable(name: str, user_function: Callable[..., Any], trigger_name: str) -> None:
    """The host awaits each function with its trigger as the only argument: refuse anything else at startup."""
    if not inspect.iscoroutinefunction(user_function):
        raise HostError(f"function {name!r} must be `async def` (this host runs async functions only)")
    extra = [p for p in inspect.signature(user_function).parameters if p != trigger_name]
    if extra:
        raise HostError(f"function {name!r}: parameter(s) {extra} have no binding this host provides")


def _http_function(info: FunctionInfo, trigger: Mapping[str, Any]) -> None:
    info.route = RouteTemplate(str(trigger.get("route") or info.name))
    methods = trigger.get("methods")
    info.methods = tuple(str(m).upper() for m in methods) if methods else None


def _timer_function(info: FunctionInfo, trigger: Mapping[str, Any], settings: Mapping[str, str]) -> None:
    if trigger.get("runOnStartup"):
        raise HostError(f"function {info.name!r}: runOnStartup is not supported")
    where = f"function {info.name!r} schedule"
    info.schedule = Schedule(resolve_setting_references(str(trigger.get("schedule", "")), settings, where))


def _is_http_return(binding: Mapping[str, Any]) -> bool:
    return binding.get("type") == "http" and binding.get("name") == RETURN_BINDING


def index_function(fn: Any, settings: Mapping[str, str]) -> FunctionInfo:
    """One function of `app.get_functions()`: an HTTP trigger (answering with its return value) or a timer."""
    name = str(fn.get_function_name())
    bindings: list[dict[str, Any]] = json.loads(fn.get_function_json())["bindings"]
    triggers = [b for b in bindings if str(b.get("type", "")).endswith("Trigger")]
    if len(triggers) != 1:
        raise HostError(f"function {name!r} must have exactly one trigger")
    trigger = triggers[0]
    others = [b for b in bindings if b is not trigger]
    trigger_type = trigger.get("type")
    if trigger_type not in (HTTP_TRIGGER, TIMER_TRIGGER, QUEUE_TRIGGER):
        raise HostError(f"function {name!r}: trigger {trigger_type!r} is not supported (HTTP, timer and queue only)")
    if any(not (trigger_type == HTTP_TRIGGER and _is_http_return(b)) for b in others):
        raise HostError(f"function {name!r}: only a trigger and an HTTP return value are supported as bindings")
    info = FunctionInfo(name, str(trigger["name"]), fn.get_user_function())
    _check_callable(name, info.user_function, info.trigger_name)
    if trigger_type == HTTP_TRIGGER:
        _http_function(info, trigger)
    elif trigger_type == QUEUE_TRIGGER:
        where = f"function {info.name!r} queue"
        info.queue_name = resolve_setting_references(str(trigger.get("queueName", "")), settings, where).lower()
        info.connection = str(trigger.get("connection") or "AzureWebJobsStorage")
    else:
        _timer_function(info, trigger, settings)
    return info


def index_functions(app: func.FunctionApp, settings: Mapping[str, str]) -> list[FunctionInfo]:
    """Every function of `app` (app.get_functions() also validates the app, as worker indexing does)."""
    functions = [index_function(fn, settings) for fn in app.get_functions()]
    names = [f.name.lower() for f in functions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise HostError(f"function names used twice: {duplicates}")
    return functions
