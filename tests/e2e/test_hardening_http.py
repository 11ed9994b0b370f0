"""Hardening over real HTTP through the local host: a lost create retried, two ticks at once, fuzzed routes, hostile values."""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools import services
from devtools.emulator_client import EmulatorControl
from tests.support import E2E_TABLE_PREFIX, bindings, run_function
from tests.support.hostile import HOSTILE
from tests.support.inprocess import (
    USER,
)

TYPES = ["microsoft.entra.conditionalAccessPolicy", "microsoft.teams.meetingPolicy"]


def assert_problem(response: httpx.Response) -> None:
    """Never a 5xx; a 4xx is problem+json; nothing that looks like a stack trace."""
    text = response.text
    assert response.status_code < 500, (
        f"{response.request.method} {response.request.url} -> {response.status_code}: {text[:300]}"
    )
    assert "Traceback" not in text and not re.search(r'File "[^"]+", line \d+', text)
    if response.status_code >= 400:
        assert response.headers.get("content-type", "").startswith("application/problem+json"), text[:300]
        body = response.json()
        assert {"type", "title", "status", "detail"} <= set(body), body
        assert body["status"] == response.status_code


def logic_apps_post(client: httpx.Client, body: dict[str, Any], key: str, timeout: float = 60) -> list[httpx.Response]:
    """Logic Apps' HTTP action: retry 408/429/5xx (and timeouts) up to 4 times, waiting Retry-After."""
    responses: list[httpx.Response] = []
    for _attempt in range(5):
        try:
            response = client.post("/api/snapshots", json=body, headers={"Idempotency-Key": key}, timeout=timeout)
        except httpx.TimeoutException:
            time.sleep(1)
            continue
        responses.append(response)
        if response.status_code not in (408, 429) and response.status_code < 500:
            return responses
        time.sleep(min(float(response.headers.get("Retry-After", "1")), 2))
    return responses


def test_a_lost_create_response_then_a_client_timeout_and_retry_make_one_job(
    api: httpx.Client, emulator: EmulatorControl
) -> None:
    body = {"displayName": "Lost and retried one", "resources": TYPES}
    emulator.add_fault(method="POST", path="createSnapshot", action="drop")
    emulator.configure(latencyMs=1500)
    with pytest.raises(httpx.TimeoutException):  # the caller gives up before the app answers
        api.post("/api/snapshots", json=body, headers={"Idempotency-Key": "lost-run-1"}, timeout=0.5)
    responses = logic_apps_post(api, body, "lost-run-1")
    assert responses[-1].status_code == 202, [r.text for r in responses]
    jobs = emulator.jobs()
    assert len(jobs) == 1 and responses[-1].json()["id"] == jobs[0]["id"]
    assert emulator.counts()["create"] == 1
    listed = api.get("/api/snapshots").json()["value"]
    assert [j["id"] for j in listed] == [jobs[0]["id"]]


def e2e_rows(azurite_port: int, suffix: str) -> list[dict[str, Any]]:
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableServiceClient

    client = TableServiceClient.from_connection_string(services.azurite_connection_string(azurite_port))
    try:
        return [dict(e) for e in client.get_table_client(E2E_TABLE_PREFIX + suffix).list_entities()]
    except ResourceNotFoundError:
        return []


def test_two_ticks_at_once_through_the_host(
    api: httpx.Client, emulator: EmulatorControl, azurite_service: services.Service
) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, resourceCounts={USER: 300})
    ids = [emulator.create_job(displayName=f"Host tick job {n:02d}", resources=[USER])["id"] for n in range(3)]
    used_before = api.get("/api/quota").json()["used"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda _: run_function(api, "poll_snapshots"), range(2)))
    run_function(api, "poll_snapshots")
    for job_id in ids:
        view = api.get(f"/api/snapshots/{job_id}")
        assert view.status_code == 200, view.text
        assert view.json()["resourceCount"] == 300
    jobs = e2e_rows(azurite_service.port, "Jobs")
    assert sorted(r["RowKey"] for r in jobs if not r["RowKey"].startswith("~")) == sorted(ids)
    assert Counter(r["JobId"] for r in jobs if r["RowKey"].startswith("~")) == Counter(ids)
    resources = Counter(r["PartitionKey"] for r in e2e_rows(azurite_service.port, "Resources"))
    assert resources == dict.fromkeys(ids, 300)
    assert api.get("/api/quota").json()["used"] - used_before == 900


def http_routes() -> list[tuple[str, str]]:
    triggers = [t for t in bindings().values() if t["type"] == "httpTrigger"]
    return sorted((str(method), str(t["route"])) for t in triggers for method in t["methods"])


QUERY_NAMES = ["status", "top", "continuationToken", "resourceType", "against", "keepContent", "code"]


short_hostile = st.one_of(
    st.sampled_from([h for h in HOSTILE if len(h) < 100 and h]),
    st.text(min_size=1, max_size=40),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Po", "So"]), min_size=1, max_size=20),
)


# The host (like Azure's) does not route a path segment holding control characters or only whitespace: those
# ids are checked in-process below (test_hostile_path_ids_are_404_in_process).
path_values = short_hostile.filter(lambda v: v.strip() != "" and not re.search(r"[\x00-\x1f\x7f]", v))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.sampled_from(HOSTILE) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


start_bodies = st.one_of(
    st.fixed_dictionaries(
        {
            "displayName": st.sampled_from(HOSTILE) | st.text(),
            "resources": st.lists(st.sampled_from(HOSTILE) | st.text()),
        },
        optional={"description": st.sampled_from(HOSTILE) | st.text(), "extra": json_values},
    ),
    json_values,
)


def encode_segment(value: str) -> str:
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if set(value) == {"."} else encoded


@pytest.mark.parametrize(("method", "route"), http_routes())
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_requests_never_break_a_route(api: httpx.Client, method: str, route: str, data: st.DataObject) -> None:
    path = route
    for name in re.findall(r"\{(\w+)[^}]*\}", route):
        value = data.draw(path_values, label=name)
        path = re.sub(r"\{" + name + r"[^}]*\}", encode_segment(value), path)
    params = data.draw(st.dictionaries(st.sampled_from(QUERY_NAMES), short_hostile, max_size=4), label="query")
    kwargs: dict[str, Any] = {"params": params}
    if method in ("POST", "PUT", "PATCH"):
        if data.draw(st.booleans(), label="json body"):
            kwargs["json"] = data.draw(start_bodies, label="body")
        else:
            kwargs["content"] = data.draw(st.binary(max_size=200), label="raw body")
            kwargs["headers"] = {"Content-Type": data.draw(st.sampled_from(["application/json", "text/plain", ""]))}
    response = api.request(method, f"/api/{path}", **kwargs)
    assert response.status_code != 404 or route != "resource-types", response.text
    if route == "health":
        assert response.status_code in (200, 503) and "Traceback" not in response.text
        return
    assert_problem(response)


def test_ten_thousand_character_values_in_the_body(api: httpx.Client, emulator: EmulatorControl) -> None:
    long = "x" * 10_000
    for body in (
        {"displayName": long, "resources": [USER]},
        {"displayName": "Long values one", "resources": [long]},
        {"displayName": "Long values one", "resources": [USER], "description": long},
        {"displayName": "Long values one", "resources": [USER] * 2000},
        {long: long},
    ):
        response = api.post("/api/snapshots", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert_problem(response)
    assert len(emulator.jobs()) <= 1


@pytest.mark.parametrize(
    "raw", ["'", "%27", "%252F", "~x", "%7E0", "%2E%2E", "a'%20or%20PartitionKey%20ne%20'", "%C3%A9"]
)
def test_hostile_path_ids_are_404_through_the_host(api: httpx.Client, raw: str) -> None:
    for method, suffix in (("GET", ""), ("GET", "/resources"), ("GET", "/content"), ("DELETE", "")):
        response = api.request(method, f"/api/snapshots/{raw}{suffix}")
        assert response.status_code == 404, response.text
        assert_problem(response)


def test_an_id_with_an_encoded_slash_is_a_404(api: httpx.Client) -> None:
    response = api.get("/api/snapshots/a%2Fb")
    assert response.status_code == 404, response.text
