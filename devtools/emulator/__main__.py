"""Run the emulator: `python -m devtools.emulator --port N [--host 127.0.0.1] [--identity-header ...]`."""

from __future__ import annotations

import argparse

from aiohttp import web

from devtools.emulator.app import create_app
from devtools.emulator.identity import DEFAULT_IDENTITY_HEADER


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.emulator",
        description="Microsoft Graph UTCM snapshot emulator with an MSI token endpoint",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--identity-header", default=DEFAULT_IDENTITY_HEADER)
    args = parser.parse_args(argv)
    url = f"http://{args.host}:{args.port}"

    def announce(*_: object, **__: object) -> None:
        print(f"emulator listening on {url}", flush=True)

    web.run_app(create_app(args.identity_header), host=args.host, port=args.port, print=announce, access_log=None)


if __name__ == "__main__":
    main()
