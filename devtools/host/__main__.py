"""The command line: `python -m devtools.host [--port 7071] [--host 127.0.0.1] [--app function_app:app]
[--settings-file PATH]` reads the settings, imports the app and serves it until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from devtools.host.errors import HostError
from devtools.host.indexing import load_app
from devtools.host.queues import read_queue_options
from devtools.host.server import Host, serve
from devtools.host.settings import (
    SETTINGS_FILE_NAME,
    find_settings_file,
    merge_settings,
    read_local_settings,
    read_route_prefix,
)

DEFAULT_APP = "function_app:app"
DEFAULT_PORT = 7071

log = logging.getLogger("devtools.host")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.host", description="A local Azure Functions host serving a func.FunctionApp."
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 7071)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--app", default=DEFAULT_APP, help="module:attribute of the FunctionApp (function_app:app)")
    parser.add_argument("--settings-file", type=Path, default=None, help="local.settings.json to read")
    parser.add_argument(
        "--no-queue-polling",
        action="store_true",
        help="do not poll the queues: only POST /admin/queues/{queue}/drain runs their messages (tests)",
    )
    return parser.parse_args(argv)


def load_settings(explicit: Path | None) -> dict[str, str]:
    """local.settings.json's values put into os.environ where the environment has none (before the app is
    imported, so module-level code sees them); returns all settings. Prints counts, never values."""
    path = find_settings_file(explicit)
    if path is None:
        print(f"settings: no {SETTINGS_FILE_NAME} found; using the environment", flush=True)
        return dict(os.environ)
    values = read_local_settings(path)
    overridden = sum(1 for name in values if name in os.environ)
    print(f"settings: {len(values)} values from {path} ({overridden} overridden by the environment)", flush=True)
    for name, value in values.items():
        os.environ.setdefault(name, value)
    return merge_settings(values, os.environ)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    try:
        settings = load_settings(args.settings_file)
        app, app_root = load_app(args.app)
        host_json = app_root / "host.json"
        host = Host(
            app,
            settings,
            route_prefix=read_route_prefix(host_json),
            queue_options=read_queue_options(host_json),
            poll_queues=not args.no_queue_polling,
        )
    except HostError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    asyncio.run(serve(host, args.host, args.port))
    log.info("host stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
