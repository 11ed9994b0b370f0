"""A local HTTPS receiver for callback tests: a self-signed certificate for `localhost` and servers that record hits."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


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
Serve = Callable[[Handler], Awaitable[Server]]


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for DNS:localhost, written to `directory` as (key, cert) PEM files."""
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
    key_path, cert_path = directory / "key.pem", directory / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@asynccontextmanager
async def receivers(certificate: tuple[Path, Path]) -> AsyncIterator[Serve]:
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

    try:
        yield start
    finally:
        release.set()
        for runner in runners:
            await runner.cleanup()
