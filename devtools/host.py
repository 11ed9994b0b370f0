"""A local Azure Functions host for machines without Core Tools: serves a `func.FunctionApp` over aiohttp.

    python -m devtools.host [--port 7071] [--host 127.0.0.1] [--app function_app:app]
                            [--settings-file PATH] [--shutdown-timeout 5] [--log-level INFO]

It does what the Functions host does for the triggers this project uses, so the same code runs under `func start`:

- settings: `local.settings.json` (its `Values`; `--settings-file`, else the current directory, else the repo root),
  overridden by the environment, are put into `os.environ` before the app module is imported;
- HTTP triggers on `/{routePrefix}/{route}` (routePrefix from host.json `extensions.http.routePrefix`, default `api`),
  ASP.NET route templates (`{id}`, `{id:int}`, `{id:guid}`, `{id:alpha}`, `{id?}`, `{id=default}`, `{*rest}`), the
  declared methods, bodies up to 100 MB (413 above, like the host), function keys accepted but not checked (as Core
  Tools does). A path no function serves, or a method the matching functions do not declare, gets 404 (as Azure does);
- timer triggers on their 6-field NCRONTAB schedule (UTC; `%SETTING%` resolved; 5-field cron and TimeSpan `hh:mm:ss`
  are accepted too, as the timer extension does), `runOnStartup`, never two overlapping invocations of one timer;
- `POST /admin/functions/{name}` runs a function now (202, in the background); `?wait=true` (a local extension)
  waits and answers 200 `{"name", "status": "succeeded"}` or 500 `{"name", "status": "failed", "error": "<Type>"}`;
  `GET /admin/functions[/{name}]` lists the indexed functions; `GET /admin/host/status` answers `{"state": "Running"}`;
- one log line per invocation (`Executed 'Functions.<name>' (Succeeded|Failed, Id=..., Duration=Nms)`) on stdout;
  an exception in a function is logged with its traceback and answered 500 with an empty body;
- SIGTERM / SIGINT: stop the timers, let in-flight invocations finish (`--shutdown-timeout`), exit 0.

Not emulated: function keys, retry policies (`@app.retry`), bindings other than the HTTP and timer triggers (another
trigger can only be run through the admin endpoint, with its `input` string; other output bindings get a `func.Out`
whose value is dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import functools
import importlib
import inspect
import itertools
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import unquote

import azure.functions as func
from aiohttp import web
from azure.functions import _abc as func_abc
from azure.functions.timer import TimerRequest
from croniter import croniter
from multidict import CIMultiDict

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_APP = "function_app:app"
DEFAULT_PORT = 7071
DEFAULT_ROUTE_PREFIX = "api"
SETTINGS_FILE_NAME = "local.settings.json"
MAX_REQUEST_BYTES = 100 * 1024 * 1024  # the Functions host's request body limit (httpRuntime maxRequestLength)
DEFAULT_SHUTDOWN_TIMEOUT = 5.0
PAST_DUE_TOLERANCE = timedelta(seconds=1)
HTTP_TRIGGER = "httpTrigger"
TIMER_TRIGGER = "timerTrigger"
RETURN_BINDING = "$return"

log = logging.getLogger("devtools.host")
T = TypeVar("T")


class HostError(Exception):
    """A configuration problem that stops the host from starting (message is safe to print: no setting values)."""


class FunctionFailed(Exception):
    """An invocation raised; `__cause__` is the function's exception."""


# --------------------------------------------------------------------------------------------------------------------
# Route templates (ASP.NET Core syntax, as the Functions host uses)


@dataclass(frozen=True)
class RouteParameter:
    name: str
    constraints: tuple[str, ...] = ()
    optional: bool = False
    default: str | None = None
    catch_all: bool = False


RoutePart = str | RouteParameter


@dataclass(frozen=True)
class RouteSegment:
    parts: tuple[RoutePart, ...]
    pattern: re.Pattern[str] | None = None  # only for complex segments (several parts)

    @property
    def parameter(self) -> RouteParameter | None:
        """The parameter if the segment is one parameter alone."""
        if len(self.parts) == 1 and isinstance(self.parts[0], RouteParameter):
            return self.parts[0]
        return None

    @property
    def literal(self) -> str | None:
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return self.parts[0]
        return None

    @property
    def precedence(self) -> int:
        """ASP.NET inbound precedence digit: literal 1, complex 2, constrained 3, parameter 4, catch-all 5."""
        param = self.parameter
        if param is None:
            return 1 if self.literal is not None else 2
        if param.catch_all:
            return 5
        return 3 if param.constraints else 4


_GUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|[0-9a-f]{32}"
    r"|\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}"
    r"|\([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)",
    re.IGNORECASE,
)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_ALPHA = re.compile(r"[A-Za-z]+")
_CONSTRAINT = re.compile(r"(?P<name>[A-Za-z]+)(\((?P<args>.*)\))?", re.DOTALL)
_INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def _in_int_range(value: str, low: int, high: int) -> bool:
    return bool(_INTEGER.fullmatch(value)) and low <= int(value) <= high


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _constraint_check(constraint: str) -> Callable[[str], bool]:
    """A predicate for one inline route constraint, or HostError for one this host does not know."""
    m = _CONSTRAINT.fullmatch(constraint)
    if m is None:
        raise HostError(f"route constraint {constraint!r} is not valid")
    name, args = m.group("name").lower(), m.group("args")
    nums: list[int] = []
    if args is not None and name != "regex":
        try:
            nums = [int(a) for a in args.split(",")]
        except ValueError:
            raise HostError(f"route constraint {constraint!r} needs integer arguments") from None
    simple: dict[str, Callable[[str], bool]] = {
        "int": lambda v: _in_int_range(v, *_INT_RANGES["int"]),
        "long": lambda v: _in_int_range(v, *_INT_RANGES["long"]),
        "guid": lambda v: bool(_GUID.fullmatch(v)),
        "alpha": lambda v: bool(_ALPHA.fullmatch(v)),
        "bool": lambda v: v.lower() in ("true", "false"),
        "double": lambda v: bool(_NUMBER.fullmatch(v)),
        "float": lambda v: bool(_NUMBER.fullmatch(v)),
        "decimal": lambda v: bool(_NUMBER.fullmatch(v)),
        "datetime": _is_datetime,
        "required": lambda v: v != "",
    }
    if name in simple and args is None:
        return simple[name]
    if name == "regex" and args is not None:
        try:
            rx = re.compile(args, re.IGNORECASE)
        except re.error as exc:
            raise HostError(f"route constraint {constraint!r}: {exc}") from None
        return lambda v: rx.search(v) is not None
    if name in ("min", "max") and len(nums) == 1:
        bound = nums[0]
        if name == "min":
            return lambda v: bool(_INTEGER.fullmatch(v)) and int(v) >= bound
        return lambda v: bool(_INTEGER.fullmatch(v)) and int(v) <= bound
    if name == "range" and len(nums) == 2:
        low, high = nums
        return lambda v: _in_int_range(v, low, high)
    if name in ("minlength", "maxlength") and len(nums) == 1:
        size = nums[0]
        return (lambda v: len(v) >= size) if name == "minlength" else (lambda v: len(v) <= size)
    if name == "length" and len(nums) in (1, 2):
        low, high = (nums[0], nums[0]) if len(nums) == 1 else (nums[0], nums[1])
        return lambda v: low <= len(v) <= high
    raise HostError(f"route constraint {constraint!r} is not supported")


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split on `sep` outside parentheses (constraint arguments may hold ':' or '=')."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _parse_parameter(body: str, template: str) -> RouteParameter:
    catch_all = False
    if body.startswith("*"):
        catch_all, body = True, body.lstrip("*")
    optional = body.endswith("?")
    if optional:
        body = body[:-1]
    default: str | None = None
    pieces = _split_top_level(body, "=")
    if len(pieces) > 1:
        body, default = pieces[0], "=".join(pieces[1:])
    name, *constraints = _split_top_level(body, ":")
    if not _PARAM_NAME.fullmatch(name):
        raise HostError(f"route {template!r}: parameter name {name!r} is not valid")
    if optional and default is not None:
        raise HostError(f"route {template!r}: parameter {name!r} cannot be both optional and have a default")
    return RouteParameter(name, tuple(constraints), optional, default, catch_all)


def _parse_segment(text: str, template: str) -> RouteSegment:
    parts: list[RoutePart] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text[i : i + 2] in ("{{", "}}"):
            literal.append(ch)
            i += 2
            continue
        if ch == "}":
            raise HostError(f"route {template!r}: unmatched '}}'")
        if ch == "{":
            body: list[str] = []
            j = i + 1
            while (j < len(text) and text[j] != "}") or text[j : j + 2] == "}}":
                pair = text[j : j + 2]
                body.append(text[j])
                j += 2 if pair in ("{{", "}}") else 1  # a doubled brace inside a parameter is one brace
            if j >= len(text):
                raise HostError(f"route {template!r}: unmatched '{{'")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_parse_parameter("".join(body), template))
            i = j + 1
            continue
        literal.append(ch)
        i += 1
    if literal:
        parts.append("".join(literal))
    if not parts:
        raise HostError(f"route {template!r}: empty segment")
    params = [p for p in parts if isinstance(p, RouteParameter)]
    if len(parts) == 1:
        return RouteSegment(tuple(parts))
    if any(p.catch_all for p in params):
        raise HostError(f"route {template!r}: a catch-all parameter must be a whole segment")
    if any(isinstance(a, RouteParameter) and isinstance(b, RouteParameter) for a, b in itertools.pairwise(parts)):
        raise HostError(f"route {template!r}: two parameters in a segment must be separated by a literal")
    # Greedy groups: like ASP.NET, which matches complex segments from the right.
    regex = "".join(f"(?P<p{i}>.+)" if isinstance(p, RouteParameter) else re.escape(p) for i, p in enumerate(parts))
    return RouteSegment(tuple(parts), re.compile(regex, re.IGNORECASE | re.DOTALL))


class RouteTemplate:
    """A parsed route template; `match(path)` returns the route parameters, or None."""

    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        texts = self.template.split("/") if self.template else []
        self.segments = [_parse_segment(t, template) for t in texts]
        seen: set[str] = set()
        optional_from: int | None = None
        for index, segment in enumerate(self.segments):
            for part in segment.parts:
                if not isinstance(part, RouteParameter):
                    continue
                if part.name.lower() in seen:
                    raise HostError(f"route {template!r}: parameter {part.name!r} appears twice")
                seen.add(part.name.lower())
                if part.catch_all and index != len(self.segments) - 1:
                    raise HostError(f"route {template!r}: a catch-all parameter must be the last segment")
                if (part.optional or part.default is not None) and segment.parameter is None:
                    raise HostError(f"route {template!r}: an optional parameter must be a whole segment")
            param = segment.parameter
            if param is not None and (param.optional or param.default is not None or param.catch_all):
                optional_from = index if optional_from is None else optional_from
            elif optional_from is not None:
                raise HostError(f"route {template!r}: only the last segments can be optional")
        self._checks: dict[str, list[Callable[[str], bool]]] = {
            part.name: [_constraint_check(c) for c in part.constraints]
            for segment in self.segments
            for part in segment.parts
            if isinstance(part, RouteParameter)
        }

    def __repr__(self) -> str:
        return f"RouteTemplate({self.template!r})"

    @property
    def precedence(self) -> tuple[int, ...]:
        return tuple(s.precedence for s in self.segments)

    def _accept(self, name: str, value: str, values: dict[str, str]) -> bool:
        if not all(check(value) for check in self._checks[name]):
            return False
        values[name] = value
        return True

    def match(self, path: str) -> dict[str, str] | None:
        """Match a raw (percent-encoded) path relative to the route prefix; a trailing '/' is ignored."""
        path = path.strip("/")
        raw = path.split("/") if path else []
        values: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            param = segment.parameter
            if param is not None and param.catch_all:
                rest = "/".join(raw[index:])
                if rest:
                    return values if self._accept(param.name, unquote(rest), values) else None
                if param.default is not None:
                    values[param.name] = param.default
                return values
            if index >= len(raw):
                if param is not None and (param.optional or param.default is not None):
                    if param.default is not None:
                        values[param.name] = param.default
                    continue
                return None
            text = unquote(raw[index])
            if not text:
                return None
            if param is not None:
                if not self._accept(param.name, text, values):
                    return None
            elif segment.literal is not None:
                if text.lower() != segment.literal.lower():
                    return None
            else:
                assert segment.pattern is not None
                m = segment.pattern.fullmatch(text)
                if m is None:
                    return None
                for i, part in enumerate(segment.parts):
                    if isinstance(part, RouteParameter) and not self._accept(part.name, m.group(f"p{i}"), values):
                        return None
        if len(raw) > len(self.segments):
            return None
        return values


# --------------------------------------------------------------------------------------------------------------------
# Timer schedules


_TIMESPAN = re.compile(r"(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})")


class Schedule:
    """A timer schedule: 6-field NCRONTAB (`{second} {minute} {hour} {day} {month} {day-of-week}`, UTC), 5-field
    cron (no seconds), or a TimeSpan `[d.]hh:mm:ss` (an interval). Day and day-of-week must both match (NCRONTAB)."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        self.interval: timedelta | None = None
        span = _TIMESPAN.fullmatch(self.expression)
        if span is not None:
            self.interval = timedelta(
                days=int(span["days"] or 0), hours=int(span["h"]), minutes=int(span["m"]), seconds=int(span["s"])
            )
            if self.interval <= timedelta(0):
                raise HostError(f"schedule {self.expression!r}: the interval must be positive")
            return
        fields = self.expression.split()
        if len(fields) not in (5, 6):
            raise HostError(f"schedule {self.expression!r}: an NCRONTAB expression has 6 fields (or 5 without seconds)")
        self._seconds = len(fields) == 6
        if not croniter.is_valid(self.expression, second_at_beginning=self._seconds):
            raise HostError(f"schedule {self.expression!r} is not a valid NCRONTAB expression")

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (an aware datetime), in UTC."""
        moment = moment.astimezone(UTC)
        if self.interval is not None:
            return moment + self.interval
        it = croniter(self.expression, moment, second_at_beginning=self._seconds, day_or=False)
        nxt: datetime = it.get_next(datetime)
        return nxt.astimezone(UTC)


async def sleep_until(moment: datetime) -> None:
    """Sleep until the wall clock reaches `moment` (the loop's clock is monotonic and may wake a little early)."""
    delay = (moment - datetime.now(UTC)).total_seconds()
    while delay > 0:
        await asyncio.sleep(delay)
        delay = (moment - datetime.now(UTC)).total_seconds()


_SETTING_REFERENCE = re.compile(r"%([^%]+)%")


def resolve_setting_references(text: str, settings: Mapping[str, str], where: str) -> str:
    """Replace each `%NAME%` with the app setting NAME; HostError naming the setting if it is missing."""

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in settings:
            raise HostError(f"{where}: app setting {name!r} is not set (referenced as %{name}%)")
        return settings[name]

    return _SETTING_REFERENCE.sub(repl, text)


# --------------------------------------------------------------------------------------------------------------------
# Settings and host.json


def find_settings_file(explicit: Path | None = None, cwd: Path | None = None, root: Path = ROOT) -> Path | None:
    """`explicit` (must exist), else `local.settings.json` in the current directory, else in the repo root."""
    if explicit is not None:
        if not explicit.is_file():
            raise HostError(f"settings file {explicit} does not exist")
        return explicit
    for folder in (cwd or Path.cwd(), root):
        candidate = folder / SETTINGS_FILE_NAME
        if candidate.is_file():
            return candidate
    return None


def _read_json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise HostError(f"{path} cannot be read as JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise HostError(f"{path} must hold a JSON object")
    return data


@dataclass
class LocalSettings:
    path: Path | None = None
    values: dict[str, str] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)  # the file's "Host" section (LocalHttpPort, ...)


def read_local_settings(path: Path | None) -> LocalSettings:
    """The `Values` (as strings; null dropped) and `Host` sections of a local.settings.json. IsEncrypted is ignored."""
    if path is None:
        return LocalSettings()
    data = _read_json_object(path)
    raw_values = data.get("Values") or {}
    if not isinstance(raw_values, dict):
        raise HostError(f"{path}: 'Values' must be an object")
    values: dict[str, str] = {}
    for name, value in raw_values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            values[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            values[name] = str(value)
        else:
            raise HostError(f"{path}: the value of {name!r} must be a string")
    host = data.get("Host") if isinstance(data.get("Host"), dict) else {}
    return LocalSettings(path, values, host or {})


def merge_settings(file_values: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """The file's values overridden by the environment (the environment wins, even with an empty value)."""
    return {**file_values, **environ}


def read_route_prefix(host_json: Path) -> str:
    """`extensions.http.routePrefix` from host.json (default `api`), without slashes."""
    if not host_json.is_file():
        return DEFAULT_ROUTE_PREFIX
    data = _read_json_object(host_json)
    http = (data.get("extensions") or {}).get("http") or {}
    prefix = http.get("routePrefix", DEFAULT_ROUTE_PREFIX) if isinstance(http, dict) else DEFAULT_ROUTE_PREFIX
    if not isinstance(prefix, str):
        raise HostError(f"{host_json}: extensions.http.routePrefix must be a string")
    return prefix.strip("/")


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


# --------------------------------------------------------------------------------------------------------------------
# Indexing


@dataclass
class FunctionInfo:
    """One indexed function: its trigger and how to call it."""

    name: str
    trigger_type: str
    trigger_name: str
    bindings: list[dict[str, Any]]
    user_function: Callable[..., Any]
    parameters: frozenset[str]
    accepts_kwargs: bool
    route: RouteTemplate | None = None
    methods: tuple[str, ...] | None = None  # None: every method
    auth_level: str | None = None
    http_output: str | None = None
    schedule: Schedule | None = None
    run_on_startup: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # the timer singleton

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)

    def url(self, base_url: str, route_prefix: str) -> str:
        assert self.route is not None
        path = "/".join(p for p in (route_prefix, self.route.template) if p)
        return f"{base_url}/{path}"

    def describe(self, base_url: str, route_prefix: str) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.name, "trigger": self.trigger_type, "bindingName": self.trigger_name}
        if self.trigger_type == HTTP_TRIGGER:
            assert self.route is not None
            info |= {
                "route": self.route.template,
                "methods": list(self.methods) if self.methods else None,
                "authLevel": self.auth_level,
                "url": self.url(base_url, route_prefix),
            }
        if self.schedule is not None:
            info |= {"schedule": self.schedule.expression, "runOnStartup": self.run_on_startup}
        return info


def _bindings(fn: Any) -> list[dict[str, Any]]:
    data = json.loads(fn.get_function_json())
    bindings = data.get("bindings")
    if not isinstance(bindings, list):
        raise HostError(f"function {fn.get_function_name()!r} declares no bindings")
    return bindings


def index_functions(app: func.FunctionApp, settings: Mapping[str, str]) -> list[FunctionInfo]:
    """Read every function's bindings (app.get_functions() also validates the app, as worker indexing does)."""
    functions: list[FunctionInfo] = []
    seen: set[str] = set()
    for fn in app.get_functions():
        name = str(fn.get_function_name())
        if name.lower() in seen:
            raise HostError(f"two functions are named {name!r}")
        seen.add(name.lower())
        bindings = _bindings(fn)
        triggers = [b for b in bindings if str(b.get("type", "")).endswith("Trigger")]
        if len(triggers) != 1:
            raise HostError(f"function {name!r} must have exactly one trigger")
        trigger = triggers[0]
        user_function = fn.get_user_function()
        signature = inspect.signature(user_function)
        parameters = frozenset(signature.parameters)
        accepts_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
        for binding in bindings:
            bname = binding.get("name")
            if bname != RETURN_BINDING and bname not in parameters and not accepts_kwargs:
                raise HostError(f"function {name!r}: binding {bname!r} has no parameter of that name")
        info = FunctionInfo(
            name=name,
            trigger_type=str(trigger["type"]),
            trigger_name=str(trigger["name"]),
            bindings=bindings,
            user_function=user_function,
            parameters=parameters,
            accepts_kwargs=accepts_kwargs,
        )
        if info.trigger_type == HTTP_TRIGGER:
            info.route = RouteTemplate(str(trigger.get("route") or name))
            methods = trigger.get("methods")
            info.methods = tuple(str(m).upper() for m in methods) if methods else None
            info.auth_level = str(trigger.get("authLevel") or "FUNCTION")
            outs = [b for b in bindings if b.get("type") == "http" and str(b.get("direction", "")).upper() == "OUT"]
            info.http_output = str(outs[0]["name"]) if outs else RETURN_BINDING
        elif info.trigger_type == TIMER_TRIGGER:
            where = f"function {name!r} schedule"
            info.schedule = Schedule(resolve_setting_references(str(trigger.get("schedule", "")), settings, where))
            info.run_on_startup = bool(trigger.get("runOnStartup", False))
        else:
            log.warning(
                "function %s: %s is not emulated; run it with POST /admin/functions/%s", name, info.trigger_type, name
            )
        for binding in bindings:
            if binding is trigger or binding.get("name") in (RETURN_BINDING, info.http_output):
                continue
            log.warning("function %s: binding %s (%s) is not emulated", name, binding.get("name"), binding.get("type"))
        functions.append(info)
    return functions


# --------------------------------------------------------------------------------------------------------------------
# Invocation context objects


class _Out(func.Out[T], Generic[T]):
    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, val: T) -> None:
        self._value = val

    def get(self) -> T:
        return self._value  # type: ignore[return-value]


class _TraceContext(func_abc.TraceContext):
    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return ""

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(func_abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> func_abc.RpcException:
        raise AttributeError("no exception: this is not a retry")


class _Context(func.Context):
    def __init__(self, invocation_id: str, function_name: str, directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._directory = directory
        self._local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._directory

    @property
    def trace_context(self) -> func_abc.TraceContext:
        return _TraceContext()

    @property
    def retry_context(self) -> func_abc.RetryContext:
        return _RetryContext()


# --------------------------------------------------------------------------------------------------------------------
# HTTP conversion


def _join_multi(pairs: Iterable[tuple[str, str]], sep: str) -> dict[str, str]:
    """Repeated names (compared case-insensitively, first spelling kept) joined into one value."""
    joined: dict[str, str] = {}
    spelling: dict[str, str] = {}
    for key, value in pairs:
        name = spelling.setdefault(key.lower(), key)
        joined[name] = f"{joined[name]}{sep}{value}" if name in joined else value
    return joined


def to_function_request(request: web.Request, body: bytes, route_params: Mapping[str, str]) -> func.HttpRequest:
    """The func.HttpRequest the worker would build: absolute URL as sent, repeated headers joined with ', ',
    repeated query parameters joined with ',' (as the host's StringValues do)."""
    url = f"{request.scheme}://{request.host}{request.raw_path}"
    headers = _join_multi(request.headers.items(), ", ")
    params = _join_multi(request.query.items(), ",")
    return func.HttpRequest(
        request.method, url, headers=headers, params=params, route_params=dict(route_params), body=body
    )


_DROPPED_RESPONSE_HEADERS = ("content-length", "transfer-encoding")


def to_web_response(result: Any) -> web.Response:
    """The host's response for what an HTTP function returned (None: 204; str: 200 text/plain)."""
    if result is None:
        return web.Response(status=204)
    if isinstance(result, str):
        result = func.HttpResponse(result)
    if not isinstance(result, func_abc.HttpResponse):
        raise TypeError(f"an HTTP function returned {type(result).__name__}, not func.HttpResponse")
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in result.headers.items():
        if name.lower() not in _DROPPED_RESPONSE_HEADERS:
            headers.add(name, str(value))
    if "content-type" not in headers:
        mimetype, charset = result.mimetype, result.charset
        headers["Content-Type"] = f"{mimetype}; charset={charset}" if mimetype.startswith("text/") else mimetype
    status = int(result.status_code)
    body = result.get_body() or b""
    if status in (204, 304) or 100 <= status < 200:
        body = b""
    return web.Response(status=status, body=body, headers=headers)


# --------------------------------------------------------------------------------------------------------------------
# The host


@dataclass
class InvocationOutcome:
    name: str
    error: BaseException | None = None

    def as_json(self) -> dict[str, str]:
        if self.error is None:
            return {"name": self.name, "status": "succeeded"}
        return {"name": self.name, "status": "failed", "error": type(self.error).__name__}


class Host:
    """Indexed functions, their invocation, the timers and the admin API; `web_app` is the aiohttp application."""

    def __init__(
        self,
        app: func.FunctionApp,
        settings: Mapping[str, str],
        *,
        route_prefix: str = DEFAULT_ROUTE_PREFIX,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        function_directory: Path = ROOT,
    ) -> None:
        self.settings = dict(settings)
        self.route_prefix = route_prefix.strip("/")
        self.shutdown_timeout = shutdown_timeout
        self.function_directory = function_directory
        self.functions = index_functions(app, self.settings)
        self.by_name = {f.name.lower(): f for f in self.functions}
        self.http_functions = sorted(
            (f for f in self.functions if f.route is not None), key=lambda f: f.route.precedence if f.route else ()
        )
        threads = self.settings.get("PYTHON_THREADPOOL_THREAD_COUNT", "")
        self.executor = ThreadPoolExecutor(
            max_workers=int(threads) if threads.isdigit() and int(threads) > 0 else None, thread_name_prefix="function"
        )
        self._inflight: set[asyncio.Task[Any]] = set()
        self._timers: list[asyncio.Task[None]] = []
        self._started = time.monotonic()
        self._stop_deadline: float | None = None
        self.state = "Initialized"
        self.web_app = web.Application(client_max_size=max_request_bytes)
        self.web_app[HOST_KEY] = self
        self.web_app.router.add_get("/admin/host/status", self.handle_status)
        self.web_app.router.add_get("/admin/functions", self.handle_list)
        self.web_app.router.add_get("/admin/functions/{name}", self.handle_describe)
        self.web_app.router.add_post("/admin/functions/{name}", self.handle_admin_invoke)
        self.web_app.router.add_route("*", "/{path:.*}", self.handle_http)
        self.web_app.on_startup.append(self._on_startup)
        self.web_app.on_shutdown.append(self._on_shutdown)
        self.web_app.on_cleanup.append(self._on_cleanup)

    # -- invocation ------------------------------------------------------------------------------------------------

    async def invoke(self, fn: FunctionInfo, trigger_value: Any) -> tuple[Any, dict[str, _Out[Any]]]:
        """Call the user function once (async on the loop, sync in the thread pool); FunctionFailed if it raises."""
        invocation_id = str(uuid.uuid4())
        outs: dict[str, _Out[Any]] = {}
        kwargs: dict[str, Any] = {fn.trigger_name: trigger_value}
        for binding in fn.bindings:
            bname = str(binding.get("name"))
            if bname in (RETURN_BINDING, fn.trigger_name):
                continue
            if str(binding.get("direction", "")).upper() == "OUT":
                outs[bname] = kwargs[bname] = _Out()
            else:
                kwargs[bname] = None
        if "context" in fn.parameters and "context" not in kwargs:
            kwargs["context"] = _Context(invocation_id, fn.name, str(self.function_directory))
        if not fn.accepts_kwargs:
            kwargs = {k: v for k, v in kwargs.items() if k in fn.parameters}
        log.debug("Executing 'Functions.%s' (Id=%s)", fn.name, invocation_id)
        start = time.perf_counter()
        try:
            if fn.is_async:
                result = await fn.user_function(**kwargs)
            else:
                call = functools.partial(contextvars.copy_context().run, fn.user_function, **kwargs)
                result = await asyncio.get_running_loop().run_in_executor(self.executor, call)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            ms = round((time.perf_counter() - start) * 1000)
            log.error(
                "Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)", fn.name, invocation_id, ms, exc_info=exc
            )
            raise FunctionFailed(fn.name) from exc
        ms = round((time.perf_counter() - start) * 1000)
        log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", fn.name, invocation_id, ms)
        return result, outs

    def _track(self, coro: Any, name: str) -> asyncio.Task[Any]:
        """Run `coro` as a task the shutdown waits for."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(f"invocation of {name}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return task

    async def _run_outcome(self, fn: FunctionInfo, trigger_value: Any, singleton: bool) -> InvocationOutcome:
        try:
            if singleton:
                async with fn.lock:
                    await self.invoke(fn, trigger_value)
            else:
                await self.invoke(fn, trigger_value)
        except FunctionFailed as failed:
            return InvocationOutcome(fn.name, failed.__cause__)
        return InvocationOutcome(fn.name)

    # -- HTTP ------------------------------------------------------------------------------------------------------

    def find_route(self, raw_path: str, method: str) -> tuple[FunctionInfo, dict[str, str]] | None:
        """The function serving `method raw_path` (the most specific template first), with its route params."""
        segments = raw_path.split("?", 1)[0].strip("/").split("/")
        prefix = [s.lower() for s in self.route_prefix.split("/")] if self.route_prefix else []
        if [unquote(s).lower() for s in segments[: len(prefix)]] != prefix:
            return None
        path = "/".join(segments[len(prefix) :])
        for fn in self.http_functions:
            assert fn.route is not None
            params = fn.route.match(path)
            if params is not None and (fn.methods is None or method.upper() in fn.methods):
                return fn, params
        return None

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        found = self.find_route(request.raw_path, request.method)
        if found is None:
            return web.Response(status=404)
        fn, params = found
        body = await request.read()  # over client_max_size: aiohttp answers 413
        task = self._track(self.invoke(fn, to_function_request(request, body, params)), fn.name)
        try:
            result, outs = await asyncio.shield(task)  # a client that goes away does not cancel the function
        except FunctionFailed:
            return web.Response(status=500)
        if fn.http_output and fn.http_output != RETURN_BINDING:
            result = outs[fn.http_output].get()
        try:
            return to_web_response(result)
        except TypeError:
            log.exception("function %s returned a value the host cannot send", fn.name)
            return web.Response(status=500)

    # -- admin -----------------------------------------------------------------------------------------------------

    def base_url(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    async def handle_status(self, request: web.Request) -> web.Response:
        uptime = round((time.monotonic() - self._started) * 1000)
        return web.json_response({"state": self.state, "version": "devtools.host", "processUptime": uptime})

    async def handle_list(self, request: web.Request) -> web.Response:
        base = self.base_url(request)
        return web.json_response([f.describe(base, self.route_prefix) for f in self.functions])

    async def handle_describe(self, request: web.Request) -> web.Response:
        fn = self.by_name.get(request.match_info["name"].lower())
        if fn is None:
            return web.json_response({"error": "function not found"}, status=404)
        return web.json_response(fn.describe(self.base_url(request), self.route_prefix))

    async def handle_admin_invoke(self, request: web.Request) -> web.Response:
        """Run a function now, like the host's admin API: 202 at once; `?wait=true` answers when it has ended."""
        name = request.match_info["name"]
        fn = self.by_name.get(name.lower())
        if fn is None:
            return web.json_response({"error": f"function {name!r} not found"}, status=404)
        raw = await request.read()
        payload: Any = {}
        if raw.strip():
            try:
                payload = json.loads(raw)
            except ValueError:
                return web.json_response({"error": 'the body must be JSON like {"input": ""}'}, status=400)
        given = payload.get("input", "") if isinstance(payload, dict) else ""
        trigger_value: Any
        if fn.trigger_type == TIMER_TRIGGER:
            trigger_value = TimerRequest(past_due=False)
        elif fn.trigger_type == HTTP_TRIGGER:
            url = fn.url(self.base_url(request), self.route_prefix)
            trigger_value = func.HttpRequest("GET", url, headers={}, params={}, route_params={}, body=b"")
        else:
            trigger_value = given
        singleton = fn.trigger_type == TIMER_TRIGGER
        task = self._track(self._run_outcome(fn, trigger_value, singleton), fn.name)
        if request.query.get("wait", "").lower() not in ("true", "1", "yes"):
            return web.Response(status=202)
        outcome: InvocationOutcome = await asyncio.shield(task)
        return web.json_response(outcome.as_json(), status=200 if outcome.error is None else 500)

    # -- timers ----------------------------------------------------------------------------------------------------

    async def _fire(self, fn: FunctionInfo, scheduled: datetime, last: datetime | None, nxt: datetime) -> None:
        """Start one scheduled invocation unless the previous one still runs (the timer singleton)."""
        if fn.lock.locked():
            log.info("Skipped 'Functions.%s' at %s: the previous invocation is still running", fn.name, scheduled)
            return
        await fn.lock.acquire()  # free: returns at once, before any other tick can look
        now = datetime.now(UTC)
        status = {
            "Last": (last or datetime.min.replace(tzinfo=UTC)).isoformat(),
            "Next": nxt.isoformat(),
            "LastUpdated": now.isoformat(),
        }
        timer = TimerRequest(
            past_due=now - scheduled > PAST_DUE_TOLERANCE, schedule_status=status, schedule={"AdjustForDST": True}
        )

        async def run() -> None:
            try:
                await self.invoke(fn, timer)
            except FunctionFailed:
                pass  # logged by invoke; the schedule goes on
            finally:
                fn.lock.release()

        self._track(run(), fn.name)

    async def _run_timer(self, fn: FunctionInfo) -> None:
        assert fn.schedule is not None
        last: datetime | None = None
        base = datetime.now(UTC)
        if fn.run_on_startup:
            await self._fire(fn, base, None, fn.schedule.next_after(base))
        while True:
            scheduled = fn.schedule.next_after(base)
            await sleep_until(scheduled)
            await self._fire(fn, scheduled, last, fn.schedule.next_after(scheduled))
            last = scheduled
            base = max(scheduled, datetime.now(UTC))  # a late wake-up skips the missed occurrences

    # -- lifecycle -------------------------------------------------------------------------------------------------

    async def _on_startup(self, _: web.Application) -> None:
        self.state = "Running"
        for fn in self.functions:
            if fn.schedule is not None:
                self._timers.append(asyncio.create_task(self._run_timer(fn), name=f"timer:{fn.name}"))

    async def stop_timers(self) -> None:
        for task in self._timers:
            task.cancel()
        for task in self._timers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._timers.clear()

    async def _on_shutdown(self, _: web.Application) -> None:
        self.state = "Stopping"
        self._stop_deadline = time.monotonic() + self.shutdown_timeout  # one budget for requests and invocations
        await self.stop_timers()

    async def drain(self, seconds: float) -> bool:
        """Wait for in-flight invocations up to `seconds`; True if none is left."""
        pending = {t for t in self._inflight if not t.done()}
        if pending:
            log.info("waiting up to %.0fs for %d running invocation(s)", seconds, len(pending))
            _, pending = await asyncio.wait(pending, timeout=seconds)
        for task in pending:
            log.warning("an invocation still running at shutdown is abandoned (%s)", task.get_name())
            task.cancel()
        return not pending

    async def _on_cleanup(self, _: web.Application) -> None:
        deadline = self._stop_deadline or time.monotonic() + self.shutdown_timeout
        finished = await self.drain(max(0.0, deadline - time.monotonic()))
        self.executor.shutdown(wait=finished, cancel_futures=True)
        self.state = "Stopped"

    def banner(self, base_url: str) -> list[str]:
        """One line per function, as Core Tools prints them."""
        lines = []
        for fn in self.functions:
            if fn.route is not None:
                methods = ",".join(fn.methods) if fn.methods else "ALL"
                lines.append(f"{fn.name}: [{methods}] {fn.url(base_url, self.route_prefix)}")
            elif fn.schedule is not None:
                lines.append(f"{fn.name}: timerTrigger ({fn.schedule.expression})")
            else:
                lines.append(f"{fn.name}: {fn.trigger_type}")
        return lines


HOST_KEY = web.AppKey("host", Host)


def build_host(
    app: func.FunctionApp,
    settings: Mapping[str, str],
    *,
    route_prefix: str = DEFAULT_ROUTE_PREFIX,
    max_request_bytes: int = MAX_REQUEST_BYTES,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
) -> web.Application:
    """The aiohttp application serving `app` (its Host is `web_app[HOST_KEY]`); timers start with the app."""
    return Host(
        app,
        settings,
        route_prefix=route_prefix,
        max_request_bytes=max_request_bytes,
        shutdown_timeout=shutdown_timeout,
    ).web_app


# --------------------------------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.host", description="A local Azure Functions host serving a func.FunctionApp."
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: Host.LocalHttpPort or 7071)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--app", default=DEFAULT_APP, help="module:attribute of the FunctionApp (function_app:app)")
    parser.add_argument("--settings-file", type=Path, default=None, help="local.settings.json to read")
    parser.add_argument(
        "--shutdown-timeout", type=float, default=DEFAULT_SHUTDOWN_TIMEOUT, help="seconds to let invocations finish"
    )
    parser.add_argument("--log-level", default="INFO", help="log level (default INFO)")
    return parser.parse_args(argv)


async def serve(host: Host, interface: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            logging.shutdown()
            os._exit(1)
        log.info("%s received: shutting down", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    runner = web.AppRunner(host.web_app, access_log=None, shutdown_timeout=host.shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, interface, port)
    await site.start()
    bound = port
    if runner.addresses:
        bound = int(runner.addresses[0][1])
    shown = f"[{interface}]" if ":" in interface else interface
    base_url = f"http://{shown}:{bound}"
    print("Functions:", flush=True)
    for line in host.banner(base_url):
        print(f"    {line}", flush=True)
    print(f"host listening on {base_url}", flush=True)
    await stop.wait()
    await runner.cleanup()  # stops listening, stops timers, waits for requests and invocations
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stdout,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    try:
        local = read_local_settings(find_settings_file(args.settings_file))
        if local.path is not None:
            overridden = sum(1 for name in local.values if name in os.environ)
            print(
                f"settings: {len(local.values)} values from {local.path} ({overridden} overridden by the environment)",
                flush=True,
            )
        else:
            print(f"settings: no {SETTINGS_FILE_NAME} found; using the environment", flush=True)
        for name, value in local.values.items():
            os.environ.setdefault(name, value)  # the environment wins
        settings = merge_settings(local.values, os.environ)
        app, app_root = load_app(args.app)
        route_prefix = read_route_prefix(app_root / "host.json")
        host = Host(
            app,
            settings,
            route_prefix=route_prefix,
            shutdown_timeout=args.shutdown_timeout,
            function_directory=app_root,
        )
    except HostError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    port = args.port
    if port is None:
        configured = str(local.host.get("LocalHttpPort", ""))
        port = int(configured) if configured.isdigit() else DEFAULT_PORT
    asyncio.run(serve(host, args.host, port))
    log.info("host stopped")
    deadline = time.monotonic() + 0.5
    for thread in [t for t in threading.enumerate() if t.name.startswith("function_")]:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():  # a sync function still running past the shutdown timeout: do not wait for it
            logging.shutdown()
            sys.stdout.flush()
            os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
