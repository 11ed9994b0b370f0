"""Completion callbacks: POST the job view to the caller's `callbackUrl` once the job ends.

This is what a Logic Apps "HTTP Webhook" action needs: the workflow passes `@{listCallbackUrl()}` as
`callbackUrl` and waits until that URL is called. The URL is chosen by the caller, so everything here is
written against server-side request forgery:

- `validate_callback_url` accepts only https, no userinfo, a DNS host name (never an IP literal, in any
  of the spellings `inet_aton` or a browser accept) that matches `SNAPSHOT_CALLBACK_ALLOWED_HOSTS`;
- `deliver` re-validates, sends no credentials (no Authorization, no cookies, no proxy from the
  environment), never follows a redirect and never reads the answer's body;
- errors and logs show `redact(url)` only: Logic Apps callback URLs carry a signature (`sig=`) in the
  query string, which is a bearer secret.

I/O (`deliver`) and the retry policy (`after_attempt`, `begin_attempt`, `is_due`) are separate, so
the state transitions are pure functions of (state, outcome, now).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import re
import socket
import ssl
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum, StrEnum
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict

from snapshot.models import JobView

SETTING_NAME = "SNAPSHOT_CALLBACK_ALLOWED_HOSTS"
DEFAULT_ALLOWED_HOSTS = "*.logic.azure.com"
FIELD_NAME = "callbackUrl"

MAX_URL_LENGTH = 2048
MAX_ATTEMPTS = 8
BASE_DELAY_SECONDS = 30.0
MAX_DELAY_SECONDS = 3600.0
JITTER_FRACTION = 0.1
DEFAULT_TIMEOUT_SECONDS = 10.0
# How long a `delivering` claim holds before another poller run may take the callback over (a worker
# that died mid-delivery leaves the state `delivering`).
DELIVERY_LEASE_SECONDS = 300.0
MAX_ERROR_LENGTH = 200

DELIVERY_ID_HEADER = "X-Snapshot-Delivery-Id"
USER_AGENT = "tenant-snapshot-callbacks"

# One DNS label: letters, digits, hyphens, not starting or ending with a hyphen (ASCII only: IDNs must
# be given in their xn-- form, so what is checked is exactly what is resolved).
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# A last label that makes a browser (WHATWG URL) read the host as IPv4: decimal digits or 0x-hex.
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
# Control characters, space, backslash and anything outside ASCII: refused anywhere in the URL, since
# parsers disagree on them (urllib drops tabs and newlines, WHATWG reads `\` as `/`).
_UNSAFE_CHARS = re.compile(r"[^\x21-\x7e]|\\")
_SECRET_PARAM = re.compile(r"(?i)\b(sig|code|sv|sp|se|token|key|signature)=[^&\s\"']*")


# URL validation ------------------------------------------------------------------------------------


def parse_allowed_hosts(setting: str) -> list[str]:
    """Split SNAPSHOT_CALLBACK_ALLOWED_HOSTS: comma-separated host names or `*.suffix` patterns.

    Patterns are lower-cased. An empty pattern, a scheme, a path, a port, userinfo, an IP address or a
    `*` anywhere but a leading `*.` raises ValueError naming the setting.
    """
    patterns: list[str] = []
    for index, raw in enumerate(setting.split(",")):
        pattern = raw.strip().lower()
        where = f"app setting {SETTING_NAME} is invalid: pattern {index + 1}"
        if not pattern:
            raise ValueError(f"{where} is empty (give comma-separated host names such as {DEFAULT_ALLOWED_HOSTS})")
        if "://" in pattern or any(c in pattern for c in "/?#@:"):
            raise ValueError(f"{where} ({pattern!r}) must be a bare host name: no scheme, userinfo, port or path")
        name = pattern[2:] if pattern.startswith("*.") else pattern
        if "*" in name:
            raise ValueError(f"{where} ({pattern!r}) may use '*' only as a leading '*.' (as in *.logic.azure.com)")
        if _is_ip_literal(name):
            raise ValueError(f"{where} ({pattern!r}) is an IP address; callbacks go to host names only")
        if not all(_LABEL.fullmatch(label) for label in name.split(".")):
            raise ValueError(f"{where} ({pattern!r}) is not a valid host name")
        patterns.append(pattern)
    return patterns


def host_allowed(host: str, allowed_hosts: list[str]) -> bool:
    """`*.suffix` matches any subdomain of suffix at any depth (not suffix itself); a name matches itself."""
    host = host.lower()
    for pattern in allowed_hosts:
        pattern = pattern.strip().lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def validate_callback_url(url: str, allowed_hosts: list[str]) -> str:
    """Return the normalised URL, or raise ValueError saying why it is refused.

    The message never repeats the URL (its query string is a secret); the caller reports it as a 400
    on the field `callbackUrl`.
    """
    if not isinstance(url, str) or not url:
        raise ValueError("must be a non-empty https URL")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters long (it has {len(url)})")
    if _UNSAFE_CHARS.search(url):
        raise ValueError("may contain only printable ASCII characters, without spaces or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme.lower() != "https":
        raise ValueError("must use https")
    netloc = parts.netloc
    if not netloc:
        raise ValueError("must be an absolute URL with a host name")
    if "@" in netloc:
        raise ValueError("must not contain a user name or password")
    host_part, port = _split_host_port(netloc)
    if host_part.startswith("[") or _is_ip_literal(host_part):
        raise ValueError("must name a host, not an IP address")
    host = host_part.lower()
    labels = host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError("must have a valid DNS host name (ASCII letters, digits, hyphens and dots)")
    if not host_allowed(host, allowed_hosts):
        shown = ", ".join(allowed_hosts) or "(none)"
        raise ValueError(f"host {host!r} is not allowed; allowed hosts: {shown} (app setting {SETTING_NAME})")
    normalised = urlunsplit(
        SplitResult(
            scheme="https",
            netloc=host if port in (None, 443) else f"{host}:{port}",
            path=parts.path or "/",
            query=parts.query,
            fragment="",  # never sent to the server anyway
        )
    )
    if len(normalised) > MAX_URL_LENGTH:
        raise ValueError(f"must be at most {MAX_URL_LENGTH} characters long")
    return normalised


def _split_host_port(netloc: str) -> tuple[str, int | None]:
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise ValueError("is not a valid URL")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
    else:
        host, sep, port_text = netloc.partition(":")
        rest = sep + port_text
    if not rest or rest == ":":
        return host, None
    if not rest.startswith(":") or not rest[1:].isdigit() or not rest[1:].isascii():
        raise ValueError("has an invalid port")
    port = int(rest[1:])
    if not 1 <= port <= 65535:
        raise ValueError("has a port out of range 1-65535")
    return host, port


def _is_ip_literal(host: str) -> bool:
    """True for anything that some resolver or URL parser would read as an IP address."""
    bare = host.strip("[]").rstrip(".").lower()
    if not bare:
        return False
    try:
        ipaddress.ip_address(bare)
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(bare)  # accepts 2130706433, 0x7f.1, 0177.0.0.1, 127.1 ...
        return True
    except (OSError, ValueError):
        pass
    # WHATWG: a host whose last label is numeric is parsed as IPv4 (or refused), never looked up.
    return bool(_NUMERIC_LABEL.fullmatch(bare.split(".")[-1]))


def redact(url: str) -> str:
    """scheme://host[:port]/path of `url`: no userinfo, query or fragment. Safe for logs and job records."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if not parts.scheme or not host:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, "", ""))


# Delivery (I/O) ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryOutcome:
    """The result of one POST. `error` is short and safe to store: it never holds the query string."""

    delivered: bool
    retryable: bool
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, from a 429/503 Retry-After header


def job_payload(view: JobView) -> dict[str, Any]:
    """The JSON body of a callback: the job view exactly as `GET /api/snapshots/{id}` shows it."""
    return view.model_dump(mode="json", by_alias=True)


def new_delivery_id() -> str:
    return str(uuid.uuid4())


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
        return DeliveryOutcome(False, True, status, f"HTTP {status}", _retry_after(retry_after_header))
    return DeliveryOutcome(False, False, status, f"HTTP {status}")


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None  # the HTTP-date form is ignored: the backoff covers it
    return min(float(value.strip()), MAX_DELAY_SECONDS)


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


# Retry policy (pure) -------------------------------------------------------------------------------


def next_attempt_delay(attempt: int, key: str = "") -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): 30 s doubling, capped at 1 hour.

    A jitter of up to +10 % spreads retries of many jobs; it is derived from `key` (the delivery id)
    and the attempt, so the result is deterministic. With `key=""` the jitter is still fixed per attempt.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    base = BASE_DELAY_SECONDS * 2 ** min(attempt - 1, 30)
    digest = hashlib.sha256(f"{key}:{attempt}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return min(base * (1 + JITTER_FRACTION * fraction), MAX_DELAY_SECONDS)


class CallbackStatus(StrEnum):
    PENDING = "pending"  # waiting for the job to end, or for the next retry (next_attempt)
    DELIVERING = "delivering"  # an attempt is in flight (claimed until next_attempt, the lease)
    DELIVERED = "delivered"
    FAILED = "failed"  # permanent failure, or MAX_ATTEMPTS used up

    @property
    def is_final(self) -> bool:
        return self in (CallbackStatus.DELIVERED, CallbackStatus.FAILED)


class CallbackState(BaseModel):
    """The callback of one job, to keep on the job record.

    `url` is the full URL (it is needed to deliver, signature included): never log or show it, show
    `redact(url)` / `redacted_url`. `attempts` counts attempts started. `next_attempt` is when the
    next attempt is due (None: as soon as the job has ended) or, while delivering, when the claim lapses.
    """

    model_config = ConfigDict(frozen=True)

    url: str
    delivery_id: str
    status: CallbackStatus = CallbackStatus.PENDING
    attempts: int = 0
    next_attempt: datetime | None = None
    last_attempt: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None

    @classmethod
    def create(cls, url: str, delivery_id: str | None = None) -> CallbackState:
        """A new callback for a job (url already validated by `validate_callback_url`)."""
        return cls(url=url, delivery_id=delivery_id or new_delivery_id())

    @property
    def redacted_url(self) -> str:
        return redact(self.url)


def is_due(state: CallbackState, now: datetime) -> bool:
    """Whether an attempt should start now (call it only for a job that has ended)."""
    if state.status == CallbackStatus.PENDING:
        return state.next_attempt is None or state.next_attempt <= now
    if state.status == CallbackStatus.DELIVERING:  # the worker holding the claim died
        return state.next_attempt is None or state.next_attempt <= now
    return False


def begin_attempt(state: CallbackState, now: datetime, lease_seconds: float = DELIVERY_LEASE_SECONDS) -> CallbackState:
    """Claim the callback before calling `deliver` (store it with the record's etag to win the claim).

    Counts the attempt. If the attempts are already used up (a previous claim lapsed without an
    outcome), the result is `failed` and no attempt should be made.
    """
    if state.status.is_final:
        return state
    if state.attempts >= MAX_ATTEMPTS:
        return state.model_copy(
            update={
                "status": CallbackStatus.FAILED,
                "next_attempt": None,
                "last_error": state.last_error or "no outcome was recorded for the last attempt",
            }
        )
    return state.model_copy(
        update={
            "status": CallbackStatus.DELIVERING,
            "attempts": state.attempts + 1,
            "last_attempt": now,
            "next_attempt": now + timedelta(seconds=lease_seconds),
        }
    )


def after_attempt(state: CallbackState, outcome: DeliveryOutcome, now: datetime) -> CallbackState:
    """Apply the policy to the outcome of one attempt.

    delivered → delivered; retryable with attempts < MAX_ATTEMPTS → pending, due after the backoff
    (or the receiver's Retry-After, whichever is longer); otherwise → failed. Counts the attempt unless
    `begin_attempt` did.
    """
    if state.status.is_final:
        return state
    attempts = state.attempts if state.status == CallbackStatus.DELIVERING else state.attempts + 1
    common: dict[str, Any] = {"attempts": attempts, "last_status": outcome.status, "last_attempt": now}
    if outcome.delivered:
        return state.model_copy(
            update={
                **common,
                "status": CallbackStatus.DELIVERED,
                "delivered_at": now,
                "next_attempt": None,
                "last_error": None,
            }
        )
    error = outcome.error or (f"HTTP {outcome.status}" if outcome.status else "delivery failed")
    if outcome.retryable and attempts < MAX_ATTEMPTS:
        delay = max(next_attempt_delay(attempts, state.delivery_id), outcome.retry_after or 0.0)
        return state.model_copy(
            update={
                **common,
                "status": CallbackStatus.PENDING,
                "next_attempt": now + timedelta(seconds=min(delay, MAX_DELAY_SECONDS)),
                "last_error": error,
            }
        )
    if outcome.retryable:
        error = f"{error} (gave up after {attempts} attempts)"
    return state.model_copy(
        update={**common, "status": CallbackStatus.FAILED, "next_attempt": None, "last_error": error}
    )
