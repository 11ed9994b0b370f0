"""Hostile values (quotes, #, /, control characters, OData injection, 10k strings) through the HTTP triggers in-process."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import azure.functions as func
import pytest

from devtools.emulator_client import EmulatorControl
from snapshot import clients, http_api
from snapshot.store.tables import encode_token
from snapshot.usecases import poll
from tests.support.hostile import CONTROL_CHARS, HOSTILE, INJECTION
from tests.support.inprocess import (
    USER,
    all_rows,
    assert_tables_match_graph,
    request,
    served_content,
    start_job,
    tick_until_stored,
)

TYPES = ["microsoft.entra.conditionalAccessPolicy", "microsoft.teams.meetingPolicy"]


def assert_function_problem(response: func.HttpResponse) -> dict[str, Any]:
    body = response.get_body().decode()
    assert response.status_code < 500, body[:300]
    assert "Traceback" not in body
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"
        problem: dict[str, Any] = json.loads(body)
        assert {"type", "title", "status", "detail"} <= set(problem)
        return problem
    result: dict[str, Any] = json.loads(body) if body else {}
    return result


QUERY_NAMES = ["status", "top", "continuationToken", "resourceType", "against", "keepContent", "code"]


HOSTILE_NAMES = [h for h in HOSTILE if h.strip() and len(h) < 1000] + ["Policy 'A' / \"B\" # ? % \\ \x01 end"]


@pytest.fixture
async def two_stored_jobs(app_env: dict[str, str], emulator: EmulatorControl) -> AsyncIterator[tuple[str, str]]:
    """Job A with hostile resource names, job B with one more resource only B has."""
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={USER: 2})
    hostile = [{"resourceType": USER, "displayName": name, "properties": {"Note": name}} for name in HOSTILE_NAMES]
    emulator.change_tenant(set=hostile)
    a = await start_job("Hostile names A")
    await tick_until_stored()
    emulator.change_tenant(set=[{"resourceType": USER, "displayName": "Only in B", "properties": {"Secret": 1}}])
    b = await start_job("Hostile names B")
    await tick_until_stored()
    yield a, b


async def test_hostile_resource_names_are_stored_and_read_back_exactly(
    two_stored_jobs: tuple[str, str], emulator: EmulatorControl
) -> None:
    a, _ = two_stored_jobs
    await assert_tables_match_graph(emulator)
    store = clients.store()
    rows = await all_rows(store, store.settings.tables.resources)
    for row in rows:
        assert not re.search(r"[/\\#?\x00-\x1f\x7f-\x9f]", row["RowKey"]), row["RowKey"]
    names: list[str] = []
    token = None
    while True:
        params = {"top": "7", **({"continuationToken": token} if token else {})}
        page = assert_function_problem(
            await http_api.list_snapshot_resources(request("GET", "snapshots/{id}/resources", {"id": a}, params))
        )
        names += [item["displayName"] for item in page["value"]]
        token = page["continuationToken"]
        if not token:
            break
    assert Counter(names) == Counter(r["displayName"] for r in served_content(emulator, a)["resources"])
    assert set(HOSTILE_NAMES) <= set(names)


@pytest.mark.parametrize(
    "resource_type", [INJECTION, f"{USER}' or PartitionKey ne '", f"{USER}' or RowKey ne '", "' or ''='", USER.upper()]
)
async def test_odata_injection_in_resource_type_returns_no_other_rows(
    two_stored_jobs: tuple[str, str], resource_type: str
) -> None:
    a, b = two_stored_jobs
    response = await http_api.list_snapshot_resources(
        request("GET", "snapshots/{id}/resources", {"id": a}, {"resourceType": resource_type, "top": "1000"})
    )
    page = assert_function_problem(response)
    if resource_type != USER.upper():  # no type name: refused before any query is made
        assert response.status_code == 400 and page["errors"][0]["field"] == "resourceType"
    else:
        names = {item["displayName"] for item in page["value"]}
        assert names and "Only in B" not in names
    diff = await http_api.diff_snapshots(
        request("GET", "snapshots/{id}/diff", {"id": b}, {"against": a, "resourceType": resource_type})
    )
    assert_function_problem(diff)


async def test_odata_injection_in_status_against_and_tokens_is_refused(two_stored_jobs: tuple[str, str]) -> None:
    a, b = two_stored_jobs
    listed = await http_api.list_snapshots(request("GET", "snapshots", params={"status": INJECTION}))
    assert listed.status_code == 400 and assert_function_problem(listed)["errors"][0]["field"] == "status"
    for against in (INJECTION, f"{a}' or PartitionKey ne '", "~", "~0"):
        response = await http_api.diff_snapshots(request("GET", "snapshots/{id}/diff", {"id": b}, {"against": against}))
        assert response.status_code == 404, response.get_body()
        assert_function_problem(response)
    # a token of our own format that points into job B's partition still reads only job A's rows
    for crafted in (
        {"NextPartitionKey": b, "NextRowKey": ""},
        {"PartitionKey": b, "RowKey": INJECTION},
        {"NextPartitionKey": INJECTION, "NextRowKey": "\x01"},
    ):
        token = encode_token(crafted)
        assert token is not None
        response = await http_api.list_snapshot_resources(
            request("GET", "snapshots/{id}/resources", {"id": a}, {"continuationToken": token, "top": "1000"})
        )
        page = assert_function_problem(response)
        if response.status_code == 200:
            assert "Only in B" not in {item["displayName"] for item in page["value"]}
    for token in (INJECTION, "%", "\x00", "x" * 10_000, "W10", "bnVsbA"):  # "[]", "null"
        response = await http_api.list_snapshots(request("GET", "snapshots", params={"continuationToken": token}))
        assert response.status_code == 400 and assert_function_problem(response)["errors"][0]["field"] == (
            "continuationToken"
        )


@pytest.mark.parametrize("top", ["0", "-1", "1e3", "1001", " 5", "5 ", "0x10", "x" * 10_000, INJECTION, "\x00", "٣"])
async def test_hostile_top_values(app_env: dict[str, str], top: str) -> None:
    response = await http_api.list_snapshots(request("GET", "snapshots", params={"top": top}))
    assert_function_problem(response)
    assert response.status_code in (200, 400)


async def test_a_superscript_digit_in_top_is_a_400(app_env: dict[str, str]) -> None:
    response = await http_api.list_snapshots(request("GET", "snapshots", params={"top": "²"}))
    assert response.status_code == 400, response.get_body()


PATH_IDS = ["'", "''", "%27", "~", "~00000000000000000_x", "..", ".", "\\", "#", "?", "%", "\x01", "é", "x" * 10_000]


@pytest.mark.parametrize("job_id", PATH_IDS)
@pytest.mark.parametrize("route", ["snapshots/{id}", "snapshots/{id}/resources", "snapshots/{id}/content"])
async def test_hostile_path_ids_are_404_in_process(app_env: dict[str, str], route: str, job_id: str) -> None:
    handler = {
        "snapshots/{id}": http_api.get_snapshot,
        "snapshots/{id}/resources": http_api.list_snapshot_resources,
        "snapshots/{id}/content": http_api.get_snapshot_content,
    }[route]
    response = await handler(request("GET", route, {"id": job_id}))
    assert response.status_code == 404, response.get_body()
    assert_function_problem(response)


async def test_logs_carry_no_raw_control_characters_from_input(
    app_env: dict[str, str], emulator: EmulatorControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    evil = "evil\r\nFAKE LOG LINE\x1b[31m\x00\x07"
    start_body = json.dumps({"displayName": "Logged job one", "resources": TYPES}).encode()
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": evil,
        "x-ms-workflow-run-id": evil,
        "x-ms-client-tracking-id": evil,
        "x-ms-workflow-name": evil,
    }
    assert (
        await http_api.start_snapshot(request("POST", "snapshots", body=start_body, headers=headers))
    ).status_code == 202
    bad_body = json.dumps({"displayName": evil, "resources": [evil], "description": evil, evil: evil}).encode()
    await http_api.start_snapshot(request("POST", "snapshots", body=bad_body, headers=headers))
    for handler, route in (
        (http_api.get_snapshot, "snapshots/{id}"),
        (http_api.list_snapshot_resources, "snapshots/{id}/resources"),
        (http_api.get_snapshot_content, "snapshots/{id}/content"),
        (http_api.delete_snapshot, "snapshots/{id}"),
        (http_api.diff_snapshots, "snapshots/{id}/diff"),
    ):
        params = dict.fromkeys(QUERY_NAMES, evil)
        response = await handler(request("GET", route, {"id": evil}, params, headers=headers))
        assert_function_problem(response)
    await http_api.list_snapshots(request("GET", "snapshots", params=dict.fromkeys(QUERY_NAMES, evil)))
    await poll.poll()
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for record in caplog.records:
        message = record.getMessage()
        assert not CONTROL_CHARS.search(message), f"{record.name}: {message!r}"
        assert "FAKE LOG LINE" not in message or "\\r\\n" in message or "\\\\r" in message, message
