"""Completion callbacks: SSRF-safe URL validation, delivery to a local HTTPS server, retry policy."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from snapshot import callbacks
from snapshot.callbacks import (
    MAX_ATTEMPTS,
    CallbackState,
    CallbackStatus,
    DeliveryOutcome,
    after_attempt,
    begin_attempt,
    deliver,
    is_due,
    next_attempt_delay,
    parse_allowed_hosts,
    redact,
    validate_callback_url,
)

LOGIC = ["*.logic.azure.com"]
GOOD = (
    "https://prod-12.westeurope.logic.azure.com/workflows/abc/runs/123/run?api-version=2016-06-01&sp=%2Fruns&sig=s3cr3t"
)
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


# Validation -----------------------------------------------------------------------------------------


def test_a_logic_apps_callback_url_is_accepted_and_normalised() -> None:
    assert validate_callback_url(GOOD, LOGIC) == GOOD
    assert (
        validate_callback_url("HTTPS://Prod-12.WestEurope.Logic.Azure.com:443/x?sig=A#frag", LOGIC)
        == "https://prod-12.westeurope.logic.azure.com/x?sig=A"
    )
    assert validate_callback_url("https://a.logic.azure.com", LOGIC) == "https://a.logic.azure.com/"
    assert validate_callback_url("https://a.logic.azure.com:8443/p", LOGIC) == "https://a.logic.azure.com:8443/p"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://prod-12.westeurope.logic.azure.com/x", "https"),
        ("ftp://prod-12.westeurope.logic.azure.com/x", "https"),
        ("//prod-12.westeurope.logic.azure.com/x", "https"),
        ("https:///x", "host"),
        ("https://user:pw@prod-12.westeurope.logic.azure.com/x", "user name"),
        ("https://user@prod-12.westeurope.logic.azure.com/x", "user name"),
        ("https://prod-12.westeurope.logic.azure.com:99999/x", "port"),
        ("https://prod-12.westeurope.logic.azure.com:0/x", "port"),
        ("https://prod-12.westeurope.logic.azure.com:12ab/x", "port"),
        ("https://prod-12.westeurope.logic.azure.com/x y", "ASCII"),
        ("https://prod-12.westeurope.logic.azure.com\t/x", "ASCII"),
        ("https://evil.com\\@prod-12.westeurope.logic.azure.com/", "backslash"),
        ("https://prod-12.westeurope.logic.azure.com./x", "DNS host name"),
        ("https://prod_12.westeurope.logic.azure.com/x", "DNS host name"),
        ("https://%70rod.logic.azure.com/x", "DNS host name"),
        ("https://pröd.logic.azure.com/x", "ASCII"),
        ("https://[::1/x", "valid URL"),
        ("", "non-empty"),
    ],
)
def test_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_callback_url(url, LOGIC)


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[fe80::1%25eth0]",
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0177.0.0.1",
        "127.1",
        "169.254.169.254",
        "10.0.0.1.",
        "foo.0x1",
        "foo.123",
    ],
)
def test_ip_literals_are_refused_in_every_spelling(host: str) -> None:
    everything = ["*.logic.azure.com", "localhost", "*.0.0.1", "*.1", "*.123"]
    with pytest.raises(ValueError, match="not an IP address"):
        validate_callback_url(f"https://{host}/hook", everything)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("prod-12.westeurope.logic.azure.com", True),
        ("a.logic.azure.com", True),
        ("a.b.c.logic.azure.com", True),
        ("PROD-12.WestEurope.LOGIC.azure.COM", True),
        ("logic.azure.com", False),
        ("evillogic.azure.com", False),
        ("logic.azure.com.evil.com", False),
        ("prod-12.westeurope.logic.azure.com.evil.com", False),
        ("azure.com", False),
        ("example.com", False),
        ("localhost", False),
    ],
)
def test_wildcard_matches_subdomains_at_any_depth_only(host: str, allowed: bool) -> None:
    url = f"https://{host}/hook"
    if allowed:
        assert validate_callback_url(url, LOGIC) == f"https://{host.lower()}/hook"
    else:
        with pytest.raises(ValueError, match="not allowed"):
            validate_callback_url(url, LOGIC)


def test_an_exact_name_matches_only_itself() -> None:
    assert validate_callback_url("https://localhost:8443/hook", ["localhost"]) == "https://localhost:8443/hook"
    assert validate_callback_url("https://LocalHost/hook", ["localhost"]) == "https://localhost/hook"
    for host in ("a.localhost", "localhost.evil.com", "xlocalhost"):
        with pytest.raises(ValueError, match="not allowed"):
            validate_callback_url(f"https://{host}/hook", ["localhost"])


def test_nothing_is_allowed_by_an_empty_list() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        validate_callback_url(GOOD, [])


def test_overlong_urls_are_refused() -> None:
    base = "https://a.logic.azure.com/"
    assert validate_callback_url(base + "x" * (2048 - len(base)), LOGIC)
    with pytest.raises(ValueError, match="2048"):
        validate_callback_url(base + "x" * (2049 - len(base)), LOGIC)


def test_error_messages_never_repeat_the_signature() -> None:
    for url in (
        GOOD.replace("https", "http"),
        GOOD.replace("prod-12.westeurope.logic.azure.com", "evil.com"),
        GOOD + " ",
        GOOD + "x" * 3000,
    ):
        with pytest.raises(ValueError) as info:
            validate_callback_url(url, LOGIC)
        assert "s3cr3t" not in str(info.value)


def test_allowed_hosts_setting_is_parsed() -> None:
    assert parse_allowed_hosts("*.logic.azure.com") == ["*.logic.azure.com"]
    assert parse_allowed_hosts(" *.Logic.Azure.com , localhost,hooks.example.org ") == [
        "*.logic.azure.com",
        "localhost",
        "hooks.example.org",
    ]


@pytest.mark.parametrize(
    "setting",
    [
        "",
        " ",
        "*.logic.azure.com,",
        "*.logic.azure.com,,localhost",
        "https://x.logic.azure.com",
        "x.logic.azure.com/path",
        "x.logic.azure.com:443",
        "user@x.logic.azure.com",
        "*",
        "*.*.azure.com",
        "a*.azure.com",
        "127.0.0.1",
        "bad_host.example",
    ],
)
def test_a_bad_allowed_hosts_setting_names_the_setting(setting: str) -> None:
    with pytest.raises(ValueError, match="SNAPSHOT_CALLBACK_ALLOWED_HOSTS"):
        parse_allowed_hosts(setting)


def test_redact_keeps_scheme_host_and_path_only() -> None:
    assert redact(GOOD) == "https://prod-12.westeurope.logic.azure.com/workflows/abc/runs/123/run"
    assert redact("https://u:p@h.example:8443/p?sig=x#f") == "https://h.example:8443/p"
    assert redact("not a url") == "<invalid URL>"


# Delivery to a local HTTPS server -------------------------------------------------------------------


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int | None = None  # the status the server answered with


@dataclass
class Server:
    port: int
    hits: list[Hit] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"https://localhost:{self.port}{path}"

    def on(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]


RELEASE = web.AppKey("release", asyncio.Event)

Handler = Callable[[web.Request, Server], Awaitable[web.StreamResponse]]


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for DNS:localhost (key, cert)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    key_path, cert_path = directory / "key.pem", directory / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.fixture
def trust(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[1]))


@pytest.fixture
async def serve(certificate: tuple[Path, Path]) -> AsyncIterator[Callable[[Handler], Awaitable[Server]]]:
    """Start HTTPS servers on 127.0.0.1 (reached as `localhost`) whose handler sees every request."""
    runners: list[web.AppRunner] = []
    release = asyncio.Event()  # lets sleeping handlers end at teardown

    async def start(handler: Handler) -> Server:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(certificate[1]), str(certificate[0]))
        server = Server(port=0)

        async def record(request: web.Request) -> web.StreamResponse:
            hit = Hit(request.path, dict(request.headers), await request.read())
            server.hits.append(hit)
            response = await handler(request, server)
            hit.answered = response.status
            return response

        app = web.Application()
        app[RELEASE] = release
        app.router.add_route("*", "/{tail:.*}", record)
        runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        server.port = runner.addresses[0][1]
        return server

    yield start
    release.set()
    for runner in runners:
        await runner.cleanup()


pytestmark = pytest.mark.timeout(15)

PAYLOAD = {"id": "job-1", "status": "succeeded", "contentState": "stored", "resourceCount": 3}
LOCAL = ["localhost"]


def assert_no_secret(outcome: DeliveryOutcome) -> None:
    assert "secret" not in (outcome.error or "")
    assert "sig=" not in (outcome.error or "")


async def test_one_post_with_the_json_body_and_delivery_id_and_no_credentials(
    serve: Callable[[Handler], Awaitable[Server]], trust: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def ok(request: web.Request, server: Server) -> web.StreamResponse:
        return web.json_response({"ok": True}, headers={"Set-Cookie": "session=abc"})

    # A proxy from the environment must not be used (trust_env=False): this one does not exist.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    server = await serve(ok)
    outcome = await deliver(server.url("/hook?sig=secret"), PAYLOAD, "d-123", LOCAL, timeout=3, verify=trust)
    assert outcome == DeliveryOutcome(delivered=True, retryable=False, status=200, error=None)
    assert len(server.hits) == 1
    hit = server.hits[0]
    assert hit.path == "/hook"
    assert json.loads(hit.body) == PAYLOAD
    headers = {k.lower(): v for k, v in hit.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-snapshot-delivery-id"] == "d-123"
    assert headers["user-agent"] == "tenant-snapshot-callbacks"
    assert "authorization" not in headers
    assert "cookie" not in headers
    assert "proxy-authorization" not in headers


async def test_a_500_is_retryable_and_the_retry_delivers_with_the_same_id(
    serve: Callable[[Handler], Awaitable[Server]], trust: ssl.SSLContext
) -> None:
    async def flaky(request: web.Request, server: Server) -> web.StreamResponse:
        return web.Response(status=500 if len(server.hits) == 1 else 200, text="boom" * 10)

    server = await serve(flaky)
    url = server.url("/hook?sig=secret")
    first = await deliver(url, PAYLOAD, "d-1", LOCAL, timeout=3, verify=trust)
    assert (first.delivered, first.retryable, first.status) == (False, True, 500)
    assert_no_secret(first)
    second = await deliver(url, PAYLOAD, "d-1", LOCAL, timeout=3, verify=trust)
    assert (second.delivered, second.status) == (True, 200)
    assert len(server.hits) == 2
    assert [h.headers["X-Snapshot-Delivery-Id"] for h in server.hits] == ["d-1", "d-1"]
    assert [h.answered for h in server.hits] == [500, 200]  # two POSTs, exactly one successful


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed_and_is_permanent(
    serve: Callable[[Handler], Awaitable[Server]], trust: ssl.SSLContext, status: int
) -> None:
    async def redirect(request: web.Request, server: Server) -> web.StreamResponse:
        if request.path == "/hook":
            return web.Response(status=status, headers={"Location": server.url("/target?sig=secret")})
        return web.Response(status=200)

    server = await serve(redirect)
    outcome = await deliver(server.url("/hook?sig=secret"), PAYLOAD, "d-2", LOCAL, timeout=3, verify=trust)
    assert (outcome.delivered, outcome.retryable, outcome.status) == (False, False, status)
    assert "redirects are not followed" in (outcome.error or "")
    assert_no_secret(outcome)
    assert server.on("/target") == []
    assert len(server.hits) == 1


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (401, False), (404, False), (410, False),
                                                   (408, True), (429, True), (502, True), (503, True)])  # fmt: skip
async def test_status_classification(
    serve: Callable[[Handler], Awaitable[Server]], trust: ssl.SSLContext, status: int, retryable: bool
) -> None:
    async def answer(request: web.Request, server: Server) -> web.StreamResponse:
        return web.Response(status=status, headers={"Retry-After": "120"})

    server = await serve(answer)
    outcome = await deliver(server.url("/hook?sig=secret"), PAYLOAD, "d-3", LOCAL, timeout=3, verify=trust)
    assert (outcome.delivered, outcome.retryable, outcome.status) == (False, retryable, status)
    assert outcome.error == f"HTTP {status}"
    assert outcome.retry_after == (120.0 if retryable else None)


async def test_a_timeout_is_retryable(serve: Callable[[Handler], Awaitable[Server]], trust: ssl.SSLContext) -> None:
    async def slow(request: web.Request, server: Server) -> web.StreamResponse:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(request.app[RELEASE].wait(), 5)
        return web.Response(status=200)

    server = await serve(slow)
    started = asyncio.get_running_loop().time()
    outcome = await deliver(server.url("/hook?sig=secret"), PAYLOAD, "d-4", LOCAL, timeout=0.5, verify=trust)
    assert asyncio.get_running_loop().time() - started < 2
    assert (outcome.delivered, outcome.retryable, outcome.status) == (False, True, None)
    assert "timed out" in (outcome.error or "")
    assert_no_secret(outcome)


async def test_connection_refused_is_retryable(trust: ssl.SSLContext) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = await deliver(f"https://localhost:{port}/hook?sig=secret", PAYLOAD, "d-5", LOCAL, timeout=2, verify=trust)
    assert (outcome.delivered, outcome.retryable) == (False, True)
    assert outcome.error and outcome.error.startswith("connection failed")
    assert_no_secret(outcome)


async def test_an_untrusted_certificate_is_not_delivered(
    serve: Callable[[Handler], Awaitable[Server]], certificate: tuple[Path, Path]
) -> None:
    async def ok(request: web.Request, server: Server) -> web.StreamResponse:
        return web.Response(status=200)

    server = await serve(ok)
    outcome = await deliver(server.url("/hook?sig=secret"), PAYLOAD, "d-6", LOCAL, timeout=2)  # system CAs only
    assert not outcome.delivered
    assert server.hits == []
    assert_no_secret(outcome)
    # a CA file path is accepted as well
    trusted = await deliver(server.url("/hook"), PAYLOAD, "d-6", LOCAL, timeout=2, verify=str(certificate[1]))
    assert trusted.delivered


async def test_deliver_revalidates_the_url(
    serve: Callable[[Handler], Awaitable[Server]], trust: ssl.SSLContext
) -> None:
    async def ok(request: web.Request, server: Server) -> web.StreamResponse:
        return web.Response(status=200)

    server = await serve(ok)
    for url, allowed in (
        (server.url("/hook?sig=secret"), LOGIC),  # host not allowed
        (f"https://127.0.0.1:{server.port}/hook?sig=secret", ["127.0.0.1", "localhost"]),  # IP literal
        (server.url("/hook?sig=secret").replace("https", "http"), LOCAL),  # not https
    ):
        outcome = await deliver(url, PAYLOAD, "d-7", allowed, timeout=2, verify=trust)
        assert (outcome.delivered, outcome.retryable, outcome.status) == (False, False, None)
        assert (outcome.error or "").startswith("callback URL refused")
        assert_no_secret(outcome)
    assert server.hits == []


# State transitions ----------------------------------------------------------------------------------


def test_backoff_doubles_from_30_seconds_and_is_capped_at_an_hour() -> None:
    for attempt in range(1, 8):
        base = 30 * 2 ** (attempt - 1)
        assert base <= next_attempt_delay(attempt, "d") <= min(base * 1.1, 3600)
    assert next_attempt_delay(3, "d") == next_attempt_delay(3, "d")  # deterministic
    assert next_attempt_delay(8) == 3600
    assert next_attempt_delay(1000) == 3600
    with pytest.raises(ValueError):
        next_attempt_delay(0)


def test_pending_to_delivered() -> None:
    state = CallbackState.create(GOOD)
    assert state.status == CallbackStatus.PENDING and state.attempts == 0 and state.delivery_id
    assert is_due(state, NOW)
    claimed = begin_attempt(state, NOW)
    assert claimed.status == CallbackStatus.DELIVERING and claimed.attempts == 1
    assert not is_due(claimed, NOW + dt.timedelta(seconds=10))
    done = after_attempt(claimed, DeliveryOutcome(True, False, 200, None), NOW + dt.timedelta(seconds=1))
    assert done.status == CallbackStatus.DELIVERED
    assert done.attempts == 1
    assert done.delivered_at == NOW + dt.timedelta(seconds=1)
    assert done.next_attempt is None and done.last_error is None and done.last_status == 200
    assert done.delivery_id == state.delivery_id
    assert not is_due(done, NOW + dt.timedelta(days=1))
    # after_attempt alone (without begin_attempt) counts the attempt too
    assert after_attempt(state, DeliveryOutcome(True, False, 204, None), NOW).attempts == 1


def test_retry_schedule_then_failed_after_max_attempts() -> None:
    state = CallbackState.create(GOOD, delivery_id="d-9")
    now = NOW
    retryable = DeliveryOutcome(False, True, 503, "HTTP 503")
    for attempt in range(1, MAX_ATTEMPTS):
        state = after_attempt(begin_attempt(state, now), retryable, now)
        assert state.status == CallbackStatus.PENDING
        assert state.attempts == attempt
        assert state.last_error == "HTTP 503"
        assert state.next_attempt == now + dt.timedelta(seconds=next_attempt_delay(attempt, "d-9"))
        assert not is_due(state, now)
        now = state.next_attempt
        assert is_due(state, now)
    state = after_attempt(begin_attempt(state, now), retryable, now)
    assert state.status == CallbackStatus.FAILED
    assert state.attempts == MAX_ATTEMPTS
    assert state.next_attempt is None
    assert state.last_error and "gave up after 8 attempts" in state.last_error
    assert state.delivery_id == "d-9"
    assert after_attempt(state, DeliveryOutcome(True, False, 200, None), now) == state  # final stays final


def test_a_permanent_failure_fails_at_once() -> None:
    state = after_attempt(CallbackState.create(GOOD), DeliveryOutcome(False, False, 302, "HTTP 302: x"), NOW)
    assert state.status == CallbackStatus.FAILED and state.attempts == 1 and state.last_error == "HTTP 302: x"


def test_retry_after_lengthens_the_wait() -> None:
    state = after_attempt(CallbackState.create(GOOD), DeliveryOutcome(False, True, 429, "HTTP 429", 900.0), NOW)
    assert state.next_attempt == NOW + dt.timedelta(seconds=900)


def test_a_lapsed_claim_is_due_again_and_counts() -> None:
    claimed = begin_attempt(CallbackState.create(GOOD), NOW)
    assert is_due(claimed, NOW + dt.timedelta(seconds=callbacks.DELIVERY_LEASE_SECONDS))
    again = begin_attempt(claimed, NOW + dt.timedelta(seconds=callbacks.DELIVERY_LEASE_SECONDS))
    assert again.attempts == 2
    exhausted = claimed.model_copy(update={"attempts": MAX_ATTEMPTS})
    assert begin_attempt(exhausted, NOW).status == CallbackStatus.FAILED


def test_the_state_round_trips_as_json() -> None:
    state = after_attempt(CallbackState.create(GOOD), DeliveryOutcome(False, True, 500, "HTTP 500"), NOW)
    assert CallbackState.model_validate_json(state.model_dump_json()) == state
    assert state.redacted_url == redact(GOOD)
