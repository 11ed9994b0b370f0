"""A clean stop of the host leaves no "Unclosed client session": the app closes its clients with the loop."""

from __future__ import annotations

import httpx

from devtools import services
from devtools.emulator_client import EmulatorControl
from tests.support import LOG_DIR, host_environment, run_function


def test_the_host_log_has_no_unclosed_session_after_a_clean_stop(
    azurite_service: services.Service,
    azurite_queue_service: services.Service,
    emulator_service: services.Service,
    emulator: EmulatorControl,
) -> None:
    # content stored in parallel transactions: the Table client holds several pooled connections
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={"microsoft.entra.user": 1000})
    env = host_environment(azurite_service.port, emulator_service, "Shutdown", azurite_queue_service.port)
    log = LOG_DIR / "host-shutdown.log"
    log.unlink(missing_ok=True)
    host = services.host(services.free_port(), env, log_path=log).start(timeout=120)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{host.port}", timeout=60) as api:
            assert api.get("/api/health").status_code == 200
            body = {"displayName": "Shutdown check job", "resources": ["microsoft.entra.user"]}
            assert api.post("/api/snapshots", json=body).status_code == 202
            assert api.get("/api/snapshots").status_code == 200
            run_function(api, "poll_snapshots")
            run_function(api, "poll_snapshots")
            assert api.get("/api/snapshots", params={"status": "succeeded"}).json()["value"]
    finally:
        host.stop()
    text = log.read_text()
    assert "host stopped" in text
    assert "Unclosed" not in text, text[text.index("Unclosed") - 200 :][:1500]
