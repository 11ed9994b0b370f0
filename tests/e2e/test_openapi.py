"""The OpenAPI document (snapshot/openapi/): valid, complete, and true of the API over real HTTP.

- the document is a valid OpenAPI 3.1 document;
- every HTTP function of function_app.app is documented with its method and path, and every documented
  operation is a function (operationId == function name);
- the named schemas take another `$ref` template, for a renderer of another format;
- every documented operation is called over real HTTP (local host, Azurite, emulator), success and error
  answers alike, and each answer is checked against the document: status, content type, body schema
  (JSON Schema 2020-12), documented headers;
- schemathesis generates requests from the document (valid and invalid) and checks every answer: no 5xx,
  every 4xx is problem+json, no answer breaks the document, no stack trace in any body.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from devtools.emulator_client import EmulatorControl
from snapshot.openapi import document, v2
from snapshot.openapi.fleet_routes import FLEET_ROUTES
from snapshot.openapi.tenant_routes import SCOPE_PREFIX, SCOPED_FUNCTION_PREFIX, TENANT_ROUTES, UNSCOPED
from tests.support import bindings, run_function

ROUTE_PREFIX = "/api"
TYPES = ["microsoft.entra.conditionalAccessPolicy", "microsoft.teams.meetingPolicy"]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@functools.cache
def offline_document() -> dict[str, Any]:
    return document("http://localhost:7071/api")


def documented_operations(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """operationId -> (METHOD, path template)."""
    return {
        operation["operationId"]: (method.upper(), path)
        for path, item in doc["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def http_functions() -> dict[str, tuple[str, str]]:
    """function name -> (METHOD, path template under the route prefix), for one method each."""
    found: dict[str, tuple[str, str]] = {}
    for name, trigger in bindings().items():
        if trigger["type"] != "httpTrigger":
            continue
        assert len(trigger["methods"]) == 1, f"{name}: one method per function keeps operationIds unique"
        found[name] = (trigger["methods"][0].upper(), "/" + trigger["route"])
    return found


# --- the document alone -----------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = offline_document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)
    json.dumps(doc)  # served as JSON


def test_every_http_function_is_documented_and_every_operation_is_a_function() -> None:
    assert documented_operations(offline_document()) == http_functions()


def test_health_alone_needs_no_function_key() -> None:
    doc = offline_document()
    schemes = doc["components"]["securitySchemes"]
    assert {(s["in"], s["name"]) for s in schemes.values()} == {("query", "code"), ("header", "x-functions-key")}
    assert doc["security"]
    for name, (method, path) in documented_operations(doc).items():
        operation = doc["paths"][path][method.lower()]
        assert ("security" in operation and operation["security"] == []) == (name == "health"), name
        assert bindings()[name]["authLevel"] == ("ANONYMOUS" if name == "health" else "FUNCTION")


def test_schemas_follow_the_models_and_every_5xx_is_a_problem() -> None:
    from snapshot.models import StartSnapshotRequest
    from snapshot.views import JobView

    doc = offline_document()
    schemas = doc["components"]["schemas"]
    assert set(schemas["JobView"]["required"]) == {f.alias or n for n, f in JobView.model_fields.items()}
    assert set(schemas["StartSnapshotRequest"]["properties"]) == set(StartSnapshotRequest.model_fields)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            for status, response in operation["responses"].items():
                # 401 comes from the Functions host; 424 (the job) and health's 503 have their own bodies
                error = status.startswith("5") or (status.startswith("4") and status not in ("401", "424"))
                if error and path != "/health":
                    assert "application/problem+json" in response["content"], (method, path, status)


def test_the_server_url_is_the_route_prefix() -> None:
    assert document("https://app.example.net/api/")["servers"] == [{"url": "https://app.example.net/api"}]


def test_the_named_schemas_can_be_placed_elsewhere() -> None:
    """Another format (e.g. Swagger 2.0's `definitions`) reuses the schemas with its own `$ref` template."""
    from snapshot.openapi.schemas import component_schemas

    placed = json.dumps(component_schemas("#/definitions/{model}"))
    assert "#/components/" not in placed
    assert '"#/definitions/JobView"' in placed and '"#/definitions/FieldError"' in placed
    assert set(json.loads(placed)) == set(offline_document()["components"]["schemas"])


# --- checking real answers against the document ------------------------------------------------------


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def schema_errors(doc: dict[str, Any], schema: dict[str, Any], instance: Any) -> list[str]:
    """Validate with Draft 2020-12; `#/components/...` refs resolve against the document's components."""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": doc["components"], **schema}
    validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def operation_of(doc: dict[str, Any], method: str, url: str) -> dict[str, Any]:
    path = urlsplit(url).path.removeprefix(ROUTE_PREFIX)
    for template, item in doc["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path) and method.lower() in item:
            return dict(item[method.lower()])
    raise AssertionError(f"{method} {url} is not a documented operation")


class Contract:
    """Checks real answers against the document and remembers which operations and statuses it saw."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.seen: set[tuple[str, str]] = set()  # (operationId, status)

    def check(self, response: httpx.Response) -> httpx.Response:
        request = response.request
        operation = operation_of(self.doc, request.method, str(request.url))
        where = f"{request.method} {request.url} -> {response.status_code}"
        status = str(response.status_code)
        assert status in operation["responses"], f"{where}: status not documented; body: {response.text[:500]}"
        self.seen.add((operation["operationId"], status))
        spec = resolve(self.doc, operation["responses"][status])
        assert "Traceback" not in response.text, where
        for name, header in spec.get("headers", {}).items():
            header = resolve(self.doc, header)
            value = response.headers.get(name)
            assert value is not None or not header.get("required"), f"{where}: no {name} header"
            if value is not None and header["schema"].get("type") == "integer":
                assert value.isdigit(), f"{where}: {name}: {value!r} is not a whole number of seconds"
            if value is not None and header["schema"].get("format") == "uri":
                parts = urlsplit(value)
                assert parts.scheme in ("http", "https") and parts.netloc, f"{where}: {name}: {value!r} not absolute"
        content = spec.get("content")
        if not content:
            assert response.content == b"", f"{where}: a body where none is documented"
            return response
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        assert media_type in content, f"{where}: content type {media_type!r} is not one of {sorted(content)}"
        body = response.text if media_type.startswith("text/") else response.json()
        errors = schema_errors(self.doc, content[media_type]["schema"], body)
        assert not errors, f"{where}: the body breaks the documented schema:\n" + "\n".join(errors[:20])
        if status.startswith(("4", "5")) and media_type == "application/problem+json":
            assert response.json()["status"] == response.status_code, where
        return response


def base_url(api: httpx.Client) -> str:
    return str(api.base_url).rstrip("/") + ROUTE_PREFIX


def follow(api: httpx.Client, contract: Contract, response: httpx.Response, max_polls: int = 30) -> httpx.Response:
    """Like the Logic Apps HTTP action: follow Location, waiting Retry-After, until an answer other than 202."""
    for _ in range(max_polls):
        if response.status_code != 202:
            return response
        time.sleep(int(response.headers["Retry-After"]))
        run_function(api, "poll_snapshots")
        response = contract.check(api.get(response.headers["Location"]))
    raise AssertionError("the job never left 202")


TENANT_DATA = ("snapshots", "quota", "monitors", "drifts")  # the first path segments of a tenant's data


def in_home_scope(request: httpx.Request) -> None:
    """Send a request for a tenant's data to its copy under /api/tenants/home/ (the home tenant's alias)."""
    path = request.url.path
    if path.startswith(ROUTE_PREFIX + "/") and path.split("/")[2] in TENANT_DATA:
        request.url = request.url.copy_with(path=f"{ROUTE_PREFIX}/tenants/home{path.removeprefix(ROUTE_PREFIX)}")


def expected_operations(doc: dict[str, Any], scoped: bool) -> set[str]:
    """The operations one run calls: the unscoped routes, or the tenant-scoped copies (the tenant routes
    themselves are called by tests/e2e/test_tenants_api.py, the fleet routes by tests/e2e/test_fleet_api.py)."""
    registry = {route.function for route in (*TENANT_ROUTES, *FLEET_ROUTES)}
    return {
        op
        for op in documented_operations(doc)
        if op not in registry and (op.startswith(SCOPED_FUNCTION_PREFIX) == scoped or op in UNSCOPED)
    }


@pytest.mark.parametrize("scoped", [False, True], ids=["home", "tenant-scoped"])
def test_every_documented_operation_answers_as_documented(
    api: httpx.Client, emulator: EmulatorControl, scoped: bool
) -> None:
    """Every operation over real HTTP; the second run sends each tenant route through /tenants/home/."""
    if scoped:
        api.event_hooks["request"].append(in_home_scope)
    contract = Contract(document(base_url(api)))
    check = contract.check
    emulator.configure(
        jobStartSeconds=0, jobDurationSeconds=1, resourceCounts={"microsoft.entra.conditionalaccesspolicy": 5}
    )

    # operations and catalogue
    assert check(api.get("/api/health")).status_code == 200
    served = check(api.get("/api/openapi.json"))
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(contract.doc))
    swagger = check(api.get("/api/swagger.json"))
    assert swagger.status_code == 200 and swagger.json() == json.loads(json.dumps(v2.document(base_url(api))))
    catalogue = check(api.get("/api/resource-types")).json()
    assert catalogue["count"] == sum(w["count"] for w in catalogue["workloads"])

    # start, follow like Logic Apps, read
    body = {"displayName": "OpenAPI contract run", "description": "contract", "resources": TYPES}
    started = check(api.post("/api/snapshots", json=body, headers={"Idempotency-Key": "contract-1"}))
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    assert (
        check(api.post("/api/snapshots", json=body, headers={"Idempotency-Key": "contract-1"})).json()["id"] == job_id
    )
    check(api.get(f"/api/snapshots/{job_id}"))
    pending = [check(api.get(f"/api/snapshots/{job_id}/{what}")) for what in ("resources", "content")]
    done = follow(api, contract, started)
    assert done.status_code == 200, done.text
    assert {r.status_code for r in pending} <= {200, 409}

    listed = check(api.get("/api/snapshots", params={"status": "succeeded", "top": "1"})).json()
    assert [job["id"] for job in listed["value"]] == [job_id]
    check(api.get("/api/snapshots"))

    first = check(api.get(f"/api/snapshots/{job_id}/resources", params={"top": "3"})).json()
    assert len(first["value"]) == 3 and first["nextLink"] and first["continuationToken"]
    check(api.get(first["nextLink"]))
    by_type = check(
        api.get(f"/api/snapshots/{job_id}/resources", params={"resourceType": "microsoft.teams.meetingpolicy"})
    )
    assert {r["resourceType"] for r in by_type.json()["value"]} == {"microsoft.teams.meetingpolicy"}
    content = check(api.get(f"/api/snapshots/{job_id}/content")).json()
    assert len(content["resources"]) == 8
    diff = check(api.get(f"/api/snapshots/{job_id}/diff", params={"against": job_id})).json()
    assert diff["summary"]["unchanged"] == 8 and diff["changed"] == []
    report = check(api.get(f"/api/snapshots/{job_id}/report", params={"against": job_id}))
    assert report.status_code == 200 and "No changes" in report.text
    assert check(api.get(f"/api/snapshots/{job_id}/report", params={"against": "previous"})).status_code == 404
    assert check(api.get(f"/api/snapshots/{job_id}/diff", params={"against": "previous"})).status_code == 404
    quota = check(api.get("/api/quota")).json()
    assert quota["used"] >= 8 and quota["limit"] == 20000

    # a failed job: 424, with the job
    emulator.configure(failingTypes={t.lower(): "Forbidden" for t in TYPES})
    failed = follow(
        api, contract, check(api.post("/api/snapshots", json={**body, "displayName": "OpenAPI failed run"}))
    )
    assert failed.status_code == 424 and failed.json()["status"] == "failed"
    check(api.get(f"/api/snapshots/{failed.json()['id']}/content"))  # 409: no content
    emulator.configure(failingTypes={})

    # problems
    problems: list[tuple[int, httpx.Response]] = [
        (400, api.post("/api/snapshots", json={"displayName": "bad_name", "resources": []})),
        (400, api.post("/api/snapshots", content=b"{not json", headers={"content-type": "application/json"})),
        (415, api.post("/api/snapshots", content=b"displayName=x", headers={"content-type": "text/plain"})),
        (413, api.post("/api/snapshots", json={**body, "description": "x" * 70_000})),
        (
            409,
            api.post(
                "/api/snapshots", json={**body, "description": "other"}, headers={"Idempotency-Key": "contract-1"}
            ),
        ),
        (409, api.post("/api/snapshots", json=body)),  # the display name is taken
        (400, api.get("/api/snapshots", params={"top": "0"})),
        (400, api.get("/api/snapshots", params={"status": "done"})),
        (400, api.get("/api/snapshots", params={"continuationToken": "not-ours"})),
        (400, api.get(f"/api/snapshots/{job_id}/resources", params={"top": "1001"})),
        (400, api.delete(f"/api/snapshots/{job_id}", params={"keepContent": "maybe"})),
        (404, api.get("/api/snapshots/no-such-job")),
        (404, api.get("/api/snapshots/no-such-job/resources")),
        (404, api.get("/api/snapshots/no-such-job/content")),
        (400, api.get(f"/api/snapshots/{job_id}/report")),
        (409, api.get(f"/api/snapshots/{job_id}/report", params={"against": failed.json()["id"]})),
        (404, api.delete("/api/snapshots/no-such-job")),
    ]
    emulator.configure(unsupportedTypes=["microsoft.teams.meetingpolicy"])
    problems.append((400, api.post("/api/snapshots", json={**body, "displayName": "OpenAPI unsupported"})))
    emulator.configure(unsupportedTypes=[], permission="Read")
    problems.append((502, api.post("/api/snapshots", json={**body, "displayName": "OpenAPI no permission"})))
    emulator.configure(permission="ReadWrite")
    emulator.add_fault(method="POST", path="createSnapshot", status=429, retryAfter=2)
    problems.append((503, api.post("/api/snapshots", json={**body, "displayName": "OpenAPI throttled"})))
    for status, response in problems:
        check(response)
        assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
        assert response.headers["content-type"].startswith("application/problem+json")
        if status == 503:
            assert response.headers["Retry-After"] == "2"
    assert "unsupportedResources" in problems[-3][1].json()
    assert "existingJobId" in problems[5][1].json()

    # monitors and drifts
    created = check(api.post(f"/api/snapshots/{job_id}/monitor", json={"displayName": "OpenAPI monitor"}))
    assert created.status_code == 201, created.text
    monitor_id = created.json()["id"]
    assert check(api.get("/api/monitors")).json()["budget"]["used"] == 32
    assert check(api.get(created.headers["Location"])).status_code == 200
    emulator.run_monitors()
    run_function(api, "poll_drifts")
    assert check(api.get(f"/api/monitors/{monitor_id}/runs")).json()["value"][0]["driftsCount"] == 0
    assert check(api.get("/api/drifts", params={"status": "active"})).json()["value"] == []
    assert check(api.post(f"/api/monitors/{monitor_id}/baseline", json={"snapshotId": job_id})).status_code == 200
    entries = [
        {"displayName": f"E{i}", "resourceType": "microsoft.entra.user", "properties": {"UserPrincipalName": f"{i}@x"}}
        for i in range(185)
    ]
    emulator.add_monitor("Another tool", {"displayName": "Another tool", "resources": entries})  # 32 + 740 a day
    for status, response in [
        (422, api.post(f"/api/snapshots/{job_id}/monitor", json={"displayName": "OpenAPI over budget"})),
        (400, api.post(f"/api/snapshots/{job_id}/monitor", json={"displayName": "x", "resourceTypes": []})),
        (404, api.post("/api/snapshots/no-such-job/monitor", json={"displayName": "OpenAPI no snapshot"})),
        (400, api.get("/api/drifts", params={"status": "gone"})),
        (400, api.post(f"/api/monitors/{monitor_id}/baseline", json={})),
        (404, api.get("/api/monitors/no-such-monitor")),
    ]:
        assert check(response).status_code == status, response.text
    assert check(api.delete(f"/api/monitors/{monitor_id}")).status_code == 204
    assert check(api.delete(f"/api/monitors/{monitor_id}")).status_code == 404

    # delete: keep the content, then everything
    assert check(api.delete(f"/api/snapshots/{job_id}", params={"keepContent": "true"})).status_code == 204
    assert check(api.get(f"/api/snapshots/{job_id}/content")).status_code == 200
    assert check(api.delete(f"/api/snapshots/{job_id}")).status_code == 204
    assert check(api.get(f"/api/snapshots/{job_id}")).status_code == 404

    called = {operation_id for operation_id, _ in contract.seen}
    assert called == expected_operations(contract.doc, scoped), "an operation was not exercised"


# --- property-based: schemathesis over the document ---------------------------------------------------

EXAMPLES_PER_OPERATION = 25
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"


def fuzz(operation: Any, mode: Any, url: str, checks: list[Any], **fixed: Any) -> Counter[int]:
    """Run one operation's generated cases (deterministic, bounded), check every answer; count the statuses."""
    statuses: Counter[int] = Counter()
    from hypothesis import HealthCheck, Phase, given, settings

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def call(case: Any) -> None:
        response = case.call(base_url=url, timeout=30)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=checks)
        assert "Traceback" not in response.text, case.as_curl_command()
        if 400 <= response.status_code < 500 and response.status_code != 401:
            content_type = response.headers.get("content-type", [""])[0]  # schemathesis: lowercase keys, lists
            assert content_type.startswith("application/problem+json"), response.text
            assert {"type", "title", "status", "detail"} <= response.json().keys(), response.text

    call()
    return statuses


def test_generated_requests_get_documented_answers(api: httpx.Client, emulator: EmulatorControl) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        negative_data_rejection,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    emulator.configure(jobStartSeconds=0, jobDurationSeconds=1)
    url = base_url(api)
    doc = document(url)
    # One stored job, so that generated queries also run against real data, not only unknown ids.
    body = {"displayName": "Generated requests", "resources": TYPES}
    stored = follow(api, Contract(doc), api.post("/api/snapshots", json=body))
    assert stored.status_code == 200, stored.text
    stored_id = stored.json()["id"]

    def path_values(operation: Any, job_id: str) -> dict[str, Any]:
        """Well-formed path parameters: the job id given, and for a tenant the home tenant (`home`)."""
        names = [parameter.name for parameter in operation.path_parameters]
        return {"path_parameters": {name: job_id if name == "id" else "home" for name in names}}

    schema = schemathesis.openapi.from_dict(doc)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    positive, negative = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
    seen: dict[str, Counter[int]] = {}
    for result in sorted((r.ok() for r in schema.get_all_operations()), key=lambda op: op.method == "delete"):
        operation = result
        if operation.path.startswith(SCOPE_PREFIX + "/"):
            continue  # the same handlers as the unscoped copies fuzzed here; called in scope by the contract run
        statuses = fuzz(operation, positive, url, checks)
        if operation.path_parameters:
            statuses += fuzz(operation, positive, url, checks, **path_values(operation, stored_id))
        if operation.label == "POST /snapshots":  # a valid body: generated Idempotency-Keys, then the 12-job cap
            statuses += fuzz(operation, positive, url, checks, body={**body, "displayName": "Generated start"})
        # Invalid ids (control characters, "/") never reach the app through the Functions host's routing, so
        # the negative run keeps a well-formed id and breaks the query, headers and body instead.
        if operation.query or operation.headers or operation.body:
            fixed = path_values(operation, UNKNOWN_ID) if operation.path_parameters else {}
            statuses += fuzz(operation, negative, url, [*checks, negative_data_rejection], **fixed)
        seen[operation.label] = statuses
    print(json.dumps({label: dict(statuses) for label, statuses in seen.items()}, indent=1))
    assert all(statuses.total() >= 5 for label, statuses in seen.items() if label != "GET /health"), seen
    assert 200 in seen["GET /snapshots/{id}/resources"], "the stored job was not read"
    assert {202, 409} <= set(seen["POST /snapshots"]), "no generated start reached Graph"
