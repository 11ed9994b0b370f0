"""The poller timer run through the local host's admin endpoint."""

from __future__ import annotations

import httpx

from devtools.emulator_client import EmulatorControl
from tests.support import run_function


def test_the_timer_runs_through_the_host_admin_endpoint(api: httpx.Client, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0)
    job = emulator.create_job(displayName="Timer run job one", resources=["microsoft.entra.user"])
    run_function(api, "poll_snapshots")
    response = api.get(f"/api/snapshots/{job['id']}")
    assert response.status_code == 200, response.text
    assert response.json()["resourceCount"] == 3
