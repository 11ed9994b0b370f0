"""Callback delivery: one POST of the job view to the callback URL, classified as delivered, retryable or failed.

What a Logic Apps "HTTP Webhook" action needs: the workflow passes `@{listCallbackUrl()}` as `callbackUrl`
and waits until that URL is called. `deliver` re-validates the URL, sends no credentials (no
Authorization, no cookies, no proxy from the environment), never follows a redirect and never reads the
answer's body; its errors never hold the URL's query.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from datetime import date, datetime
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from snapshot.callbacks.policy import MAX_DELAY_SECONDS, DeliveryOutcome
from snapshot.callbacks.urls import validate_callback_url
from snapshot.errors import parse_retry_after
from snapshot.views import JobView

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_ERROR_LENGTH = 200
DELIVERY_ID_HEADER = "X-Snapshot-Delivery-Id"
USER_AGENT = "tenant-snapshot-callbacks"
_SECRET_PARAM = re.compile(r"(?i)\b(sig|code|sv|sp|se|token|key|signature)=[^&\s\"']*")


def job_payload(view: JobView) -> dict[str, Any]:
    """The JSON body of a callback: the job view exactly as `GET /api/snapshots/{id}` shows it."""
    return view.model_dump(mode="json", by_alias=True)


async def deliver(
    url: str,
    payload: dict[str, Any],
    delivery_id: str,
    allowed_hosts: list[str],
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,  # noqa: ASYNC109 - bounds the whole attempt, see asyncio.timeout below
    verify: ssl.SSLContext | str | bool = True,
) -> DeliveryOutcome:
    """POST `payload` as JSON to `url` once. Never raises for network or HTTP failures.

    2xx: delivered. 408, 429, 5xx, connection errors and timeouts: retryable. 3xx (redirects are not
    followed), other 4xx and a refused URL: permanent failure. `timeout` bounds the whole attempt.
    """
    import httpx  # here, not at import time: only a tick with a callback due pays for it

    try:
        target = validate_callback_url(url, allowed_hosts)
    except ValueError as exc:
        return DeliveryOutcome(False, False, None, _short(f"callback URL refused: {exc}", url))
    expected_host = urlsplit(target).hostname
    try:
        request_url = httpx.URL(target)
    except httpx.InvalidURL:
        return DeliveryOutcome(False, False, None, "callback URL refused: not a valid URL")
    if request_url.scheme != "https" or request_url.host != expected_host:  # parser differential guard
        return DeliveryOutcome(False, False, None, "callback URL refused: ambiguous host")
    try:
        body = json.dumps(payload, default=_json_default, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        return DeliveryOutcome(False, False, None, _short(f"payload is not JSON: {exc}", url))
    headers = {
        "Content-Type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        "User-Agent": USER_AGENT,
    }
    ssl_verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    try:
        async with asyncio.timeout(timeout):
            async with (
                httpx.AsyncClient(
                    follow_redirects=False,
                    trust_env=False,
                    verify=ssl_verify,
                    timeout=httpx.Timeout(timeout),
                    http2=False,
                ) as client,
                client.stream("POST", request_url, content=body, headers=headers) as response,
            ):
                # The body is never read: the receiver's answer is not ours to store or parse.
                status = response.status_code
                retry_after_header = response.headers.get("Retry-After")
    except (TimeoutError, httpx.TimeoutException):
        return DeliveryOutcome(False, True, None, f"timed out after {timeout:g} s")
    except httpx.TransportError as exc:
        return DeliveryOutcome(False, True, None, _short(f"connection failed: {type(exc).__name__}: {exc}", url))
    except ssl.SSLError as exc:
        return DeliveryOutcome(False, True, None, _short(f"TLS failed: {type(exc).__name__}: {exc}", url))
    except OSError as exc:
        return DeliveryOutcome(False, True, None, _short(f"connection failed: {type(exc).__name__}: {exc}", url))
    return classify(status, retry_after_header)


def classify(status: int, retry_after_header: str | None = None) -> DeliveryOutcome:
    """The outcome of an HTTP answer with this status."""
    if 200 <= status < 300:
        return DeliveryOutcome(True, False, status, None)
    if 300 <= status < 400:
        return DeliveryOutcome(False, False, status, f"HTTP {status}: redirects are not followed")
    if status in (408, 429) or 500 <= status < 600:
        return DeliveryOutcome(False, True, status, f"HTTP {status}", _retry_after_seconds(retry_after_header))
    return DeliveryOutcome(False, False, status, f"HTTP {status}")


def _retry_after_seconds(value: str | None) -> float | None:
    seconds = parse_retry_after(value)
    return None if seconds is None else min(float(seconds), MAX_DELAY_SECONDS)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _short(message: str, url: str) -> str:
    """Strip anything of the URL beyond its redacted form, and secret-looking parameters; truncate."""
    parts = urlsplit(url) if "://" in url else None
    if parts is not None:
        for secret in (parts.query, parts.fragment, parts.netloc.rpartition("@")[0]):
            if secret:
                message = message.replace(secret, "…")
    message = _SECRET_PARAM.sub(r"\1=…", message)
    message = " ".join(message.split())
    return message if len(message) <= MAX_ERROR_LENGTH else message[: MAX_ERROR_LENGTH - 1] + "…"
