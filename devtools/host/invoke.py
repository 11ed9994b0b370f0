"""Invocation: aiohttp request to func.HttpRequest, one logged call of a function, func.HttpResponse to aiohttp."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import azure.functions as func
from aiohttp import web
from multidict import CIMultiDict

from devtools.host.indexing import FunctionInfo

log = logging.getLogger("devtools.host")
_DROPPED_RESPONSE_HEADERS = ("content-length", "transfer-encoding")


class FunctionFailed(Exception):
    """An invocation raised; `__cause__` is the function's exception."""


async def invoke(fn: FunctionInfo, trigger_value: Any) -> Any:
    """Await the function once with its trigger value and log the outcome; FunctionFailed if it raises."""
    invocation_id = str(uuid.uuid4())
    start = time.perf_counter()
    try:
        result = await fn.user_function(**{fn.trigger_name: trigger_value})
    except Exception as exc:
        ms = round((time.perf_counter() - start) * 1000)
        log.error("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms)", fn.name, invocation_id, ms, exc_info=exc)
        raise FunctionFailed(fn.name) from exc
    ms = round((time.perf_counter() - start) * 1000)
    log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", fn.name, invocation_id, ms)
    return result


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


def to_web_response(result: Any) -> web.Response:
    """The aiohttp response for the func.HttpResponse a function returned (TypeError for anything else)."""
    if not isinstance(result, func.HttpResponse):
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
