"""Cold start: in fresh interpreters, import `function_app` and serve the first `get_snapshot` (in-process,
against Azurite with the job's row present), beside importing `azure.functions` alone.

Target: `msgraph` is not in sys.modules after a status read (the Graph client is lazy).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

from bench.stack import USER, Stack, median, reset_app, stack, use_app_environment, verdict

RUNS = 5

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
                  "status": response.status_code, "msgraph": any(m == "msgraph" or m.startswith("msgraph.")
                  for m in sys.modules), "kiota": any(m.startswith("kiota") for m in sys.modules)}))
"""


async def prepare(st: Stack, env: dict[str, str]) -> str:
    from snapshot.usecases import poll

    control = st.control
    control.reset()
    control.configure(jobStartSeconds=0, jobDurationSeconds=0)
    use_app_environment(env)
    await reset_app()
    job = control.create_job(displayName="Bench cold start", resources=[USER])
    await poll.poll()
    await reset_app()
    return str(job["id"])


def run(code: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-X", "frozen_modules=on", "-c", code, *args],
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
    baseline = [run(BASELINE, env) for _ in range(RUNS)]
    app = [run(APP, env, job_id) for _ in range(RUNS)]
    return {"baseline": baseline, "app": app}


def report(data: dict[str, Any]) -> list[str]:
    base, app = data["baseline"], data["app"]
    base_s = median([r["import_s"] for r in base])
    import_s = median([r["import_s"] for r in app])
    serve_s = median([r["serve_s"] for r in app])
    total_s = median([r["total_s"] for r in app])
    msgraph = any(r["msgraph"] for r in app)
    lines = [f"## coldstart: fresh interpreters, median of {RUNS}"]
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
    lines.append(
        f"    target msgraph not imported by a status read: msgraph in sys.modules = {msgraph}, "
        f"kiota = {any(r['kiota'] for r in app)} {verdict(not msgraph)}"
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
