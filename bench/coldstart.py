"""Cold start: in fresh interpreters, import `function_app` and serve the first `get_snapshot` (in-process,
against Azurite with the job's row present), beside importing `azure.functions` alone.

Measured in a production venv (`.local/prod-venv`, only requirements.txt, what Azure installs; created or
refreshed here when requirements.txt changes) and, for comparison, in the dev venv, where test and tooling
packages make some imports heavier.
Targets: the import ratio in the production venv below 3.7x (before azure-identity and httpx were made lazy);
`msgraph`, `azure.identity` and `httpx` not in sys.modules after a status read.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.stack import Stack, median, reset_app, stack, stored_job, verdict
from devtools import services

RUNS = 5
PROD_VENV = services.ROOT / ".local" / "prod-venv"
BEFORE_RATIO = 3.7
LAZY = ("msgraph", "kiota_abstractions", "azure.identity", "msal", "httpx")

BASELINE = """
import json, sys, time
t = time.perf_counter()
import azure.functions
print(json.dumps({"import_s": time.perf_counter() - t, "modules": len(sys.modules)}))
"""

APP = """
import asyncio, json, sys, time
t = time.perf_counter()
import function_app
import azure.functions as func
from snapshot import http_api
imported = time.perf_counter() - t
modules_imported = len(sys.modules)
req = func.HttpRequest("GET", "http://127.0.0.1:7071/api/snapshots/" + sys.argv[1], params={},
                       route_params={"id": sys.argv[1]}, body=b"", headers={})
t2 = time.perf_counter()
response = asyncio.run(http_api.get_snapshot(req))
served = time.perf_counter() - t2
print(json.dumps({"import_s": imported, "modules": modules_imported, "serve_s": served,
                  "total_s": time.perf_counter() - t, "modules_after": len(sys.modules),
                  "status": response.status_code,
                  "lazy": sorted(n for n in sys.argv[2].split(",") if any(m == n or m.startswith(n + ".")
                                 for m in sys.modules))}))
"""


def production_python() -> Path:
    """The production venv's interpreter, the venv (re)made when requirements.txt changed since it was."""
    requirements = services.ROOT / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    python, stamp = PROD_VENV / "bin" / "python", PROD_VENV / ".requirements-sha256"
    if not python.exists() or not stamp.exists() or stamp.read_text() != digest:
        print(f"creating {PROD_VENV.relative_to(services.ROOT)} from requirements.txt", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PROD_VENV)], check=True, timeout=300)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-r", str(requirements)], check=True, timeout=1200, cwd=services.ROOT)
        stamp.write_text(digest)
    return python


async def prepare(st: Stack, env: dict[str, str]) -> str:
    job_id = await stored_job(st, env, "Bench cold start")
    await reset_app()
    return job_id


def run(python: Path | str, code: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [str(python), "-X", "frozen_modules=on", "-c", code, *args],
        cwd=services.ROOT,
        env={**os.environ, **env, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def measure(st: Stack) -> dict[str, Any]:
    env = st.environment()
    job_id = asyncio.run(prepare(st, env))
    data = {}
    for name, python in (("production venv", production_python()), ("dev venv", Path(sys.executable))):
        baseline, app = [], []
        for _ in range(RUNS):  # interleaved, so a burst of load on the machine hits both
            baseline.append(run(python, BASELINE, env))
            app.append(run(python, APP, env, job_id, ",".join(LAZY)))
        data[name] = {"baseline": baseline, "app": app}
    return data


def report(data: dict[str, Any]) -> list[str]:
    lines = [f"## coldstart: fresh interpreters, median of {RUNS}"]
    for name, runs in data.items():
        lines += venv_report(name, runs)
    return lines


def venv_report(name: str, data: dict[str, Any]) -> list[str]:
    base, app = data["baseline"], data["app"]
    base_s = median([r["import_s"] for r in base])
    import_s = median([r["import_s"] for r in app])
    serve_s = median([r["serve_s"] for r in app])
    total_s = median([r["total_s"] for r in app])
    lazy = sorted({m for r in app for m in r["lazy"]})
    lines = [f"{name}:"]
    lines.append(f"import azure.functions alone:        {base_s * 1000:7.0f} ms, {base[0]['modules']} modules")
    lines.append(f"import function_app:                 {import_s * 1000:7.0f} ms, {app[0]['modules']} modules")
    lines.append(
        f"first get_snapshot (Azurite read):   {serve_s * 1000:7.0f} ms, {app[0]['modules_after']} modules after "
        f"(status {app[0]['status']})"
    )
    lines.append(f"import + first status read:          {total_s * 1000:7.0f} ms")
    lines.append(
        f"ratios: import function_app / import azure.functions = {import_s / base_s:.1f}x time, "
        f"{app[0]['modules'] / base[0]['modules']:.1f}x modules; import + first read / azure.functions = "
        f"{total_s / base_s:.1f}x"
    )
    if name == "production venv":
        ratio = import_s / base_s
        lines.append(f"    target import ratio < {BEFORE_RATIO}x: {ratio:.1f}x {verdict(ratio < BEFORE_RATIO)}")
    lines.append(
        f"    target none of {', '.join(LAZY)} loaded by import + a status read: loaded = {lazy or 'none'} "
        f"{verdict(not lazy)}"
    )
    return lines


def main() -> list[str]:
    with stack("coldstart") as st:
        data = measure(st)
    lines = report(data)
    print("\n".join(lines), flush=True)
    return lines


if __name__ == "__main__":
    main()
