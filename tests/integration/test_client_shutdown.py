"""The app's clients are closed when their event loop shuts down: nothing left for the garbage collector to
report as "Unclosed client session" (the Functions worker has no shutdown hook to do it instead)."""

from __future__ import annotations

import subprocess
import sys

from devtools import services

SCRIPT = """
import asyncio, gc, logging
logged = []
class Keep(logging.Handler):
    def emit(self, record):
        logged.append(record.getMessage())
logging.getLogger("asyncio").addHandler(Keep())
from snapshot import clients
from snapshot.usecases import health
print(asyncio.run(health.health()).checks)
# What interpreter exit does to module globals: drop them, then collect. An unclosed session says so now.
clients._graphs._instance = clients._store._instance = None
gc.collect()
print("unclosed" if any("Unclosed" in message for message in logged) else "all closed")
"""


def test_a_loop_that_ends_closes_the_clients(stack_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=services.ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "{'tableStorage': 'ok', 'managedIdentity': 'ok'}", result.stdout
    assert lines[-1] == "all closed", result.stdout + result.stderr
