"""Query parameters say what is wrong instead of answering an empty list: resourceType, status."""

from __future__ import annotations

import json
from typing import Any

from devtools.emulator_client import EmulatorControl
from snapshot import http_api
from tests.support.inprocess import request, start_job


async def call(handler: Any, route: str, route_params: dict[str, str], params: dict[str, str]) -> tuple[int, Any]:
    response = await handler(request("GET", route, route_params=route_params, params=params))
    return response.status_code, json.loads(response.get_body())


async def test_a_resource_type_filter_that_names_no_type_is_a_400_with_suggestions(
    app_env: dict[str, str], emulator: EmulatorControl
) -> None:
    job_id = await start_job("Filter rules job")
    for handler, route, extra in (
        (http_api.list_snapshot_resources, "snapshots/{id}/resources", {}),
        (http_api.diff_snapshots, "snapshots/{id}/diff", {"against": job_id}),
    ):
        status, problem = await call(handler, route, {"id": job_id}, {"resourceType": "microsoft.entra.usr", **extra})
        assert status == 400, problem
        assert problem["errors"][0]["field"] == "resourceType"
        assert "microsoft.entra.user" in problem["errors"][0]["message"]


async def test_the_status_filter_is_case_insensitive(app_env: dict[str, str], emulator: EmulatorControl) -> None:
    job_id = await start_job("Status filter job")
    status, lower = await call(http_api.list_snapshots, "snapshots", {}, {"status": "notstarted"})
    assert status == 200, lower
    status, upper = await call(http_api.list_snapshots, "snapshots", {}, {"status": "NOTSTARTED"})
    assert status == 200
    assert [j["id"] for j in lower["value"]] == [j["id"] for j in upper["value"]] == [job_id]
    status, problem = await call(http_api.list_snapshots, "snapshots", {}, {"status": "done"})
    assert status == 400 and problem["errors"][0]["field"] == "status"
