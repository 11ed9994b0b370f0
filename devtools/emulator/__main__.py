"""Run the emulator: `python -m devtools.emulator --port N [--https-port M --ca-file PATH] [--tenant ...]`.

--https-port serves the same application over TLS as well (the Entra authority for ClientAssertionCredential,
which accepts only https), with a certificate made at start-up whose authority is written to --ca-file.
--tenant GUID[:displayName][:unconsented] (repeatable) adds a customer tenant held from start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from aiohttp import web

from devtools.emulator.app import create_app
from devtools.emulator.identity import DEFAULT_IDENTITY_HEADER
from devtools.emulator.tenants import TenantSpec


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.emulator",
        description="Microsoft Graph UTCM snapshot emulator with managed-identity and Entra token endpoints",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--identity-header", default=DEFAULT_IDENTITY_HEADER)
    parser.add_argument("--https-port", type=int)
    parser.add_argument("--ca-file", type=Path, help="where the TLS certificate authority is written")
    parser.add_argument(
        "--tenant", action="append", default=[], type=TenantSpec.parse, metavar="GUID[:NAME][:unconsented]"
    )
    args = parser.parse_args(argv)
    if args.https_port and not args.ca_file:
        parser.error("--https-port needs --ca-file")
    return args


async def _serve(args: argparse.Namespace) -> None:
    runner = web.AppRunner(create_app(args.identity_header, args.tenant), access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        if args.https_port:
            from devtools.emulator.tls import server_context

            tls = web.TCPSite(runner, args.host, args.https_port, ssl_context=server_context(args.ca_file))
            await tls.start()
        await web.TCPSite(runner, args.host, args.port).start()  # last: a listening --port means all is up
        https = f" (Entra authority https://{args.host}:{args.https_port})" if args.https_port else ""
        print(f"emulator listening on http://{args.host}:{args.port}{https}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(_arguments(argv)))


if __name__ == "__main__":
    main()
