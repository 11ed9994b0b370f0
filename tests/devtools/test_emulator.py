"""devtools/emulator.py over real HTTP, through the real msgraph-sdk and azure-identity's ManagedIdentityCredential.

The emulator runs as a subprocess (tests/conftest.py `emulator_service`); the `emulator` fixture resets it.
Raw httpx is used only where the SDK hides what is asserted (status codes, headers, the exact JSON) and for
requests the SDK would never send (no token, a foreign token).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ManagedIdentityCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.admin.configuration_management.configuration_snapshot_jobs.configuration_snapshot_jobs_request_builder import (
    ConfigurationSnapshotJobsRequestBuilder,
)
from msgraph.generated.admin.configuration_management.configuration_snapshot_jobs.item.configuration_snapshot_job_item_request_builder import (
    ConfigurationSnapshotJobItemRequestBuilder,
)
from msgraph.generated.models.configuration_snapshot_job import ConfigurationSnapshotJob
from msgraph.generated.models.configuration_snapshot_job_collection_response import (
    ConfigurationSnapshotJobCollectionResponse,
)
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.snapshot_job_status import SnapshotJobStatus

from devtools import services
from devtools.emulator import content as emulator_content
from devtools.emulator.graph import MAX_JOBS_MESSAGE
from devtools.emulator_client import EmulatorControl

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ERRORS: dict[str, Any] = {"XXX": ODataError}
CREATE = "{+baseurl}/admin/configurationManagement/configurationSnapshots/createSnapshot"
JOBS = "/admin/configurationManagement/configurationSnapshotJobs"
PREFER = "include-unknown-enum-members"
ALL_SELECT = [
    "id", "displayName", "description", "status", "tenantId", "createdDateTime", "completedDateTime",
    "resources", "resourceLocation", "errorDetails", "createdBy",
]  # fmt: skip
CA = "microsoft.entra.conditionalAccessPolicy"
TEAMS = "microsoft.teams.meetingPolicy"
GRAPH_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
LEAKY_ENV = (
    "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID",
    "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT",
)  # fmt: skip


@dataclass
class Graph:
    """The SDK stack the app uses, pointed at the emulator."""

    client: GraphServiceClient
    adapter: GraphRequestAdapter
    credential: ManagedIdentityCredential
    emulator: EmulatorControl

    async def token(self) -> str:
        return (await self.credential.get_token(GRAPH_SCOPE)).token

    async def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request with a valid Graph token, outside the SDK (to see status, headers and exact JSON)."""
        headers = {"Authorization": f"Bearer {await self.token()}", **kwargs.pop("headers", {})}
        url = path if path.startswith("http") else self.emulator.graph_base_url + path
        async with httpx.AsyncClient(timeout=30) as http:
            return await http.request(method, url, headers=headers, **kwargs)

    async def create(self, name: str, resources: list[str], description: str | None = None) -> ConfigurationSnapshotJob:
        ri = RequestInformation(Method.POST, CREATE, {})
        ri.headers.try_add("Accept", "application/json")
        body: dict[str, Any] = {"displayName": name, "resources": resources}
        if description is not None:
            body["description"] = description
        ri.set_stream_content(json.dumps(body).encode("utf-8"), "application/json")
        job = await self.adapter.send_async(ri, ConfigurationSnapshotJob, ERRORS)
        assert isinstance(job, ConfigurationSnapshotJob)
        return job

    async def get(
        self, job_id: str | None, select: list[str] | None = None, prefer: bool = True
    ) -> ConfigurationSnapshotJob:
        params = (
            ConfigurationSnapshotJobItemRequestBuilder.ConfigurationSnapshotJobItemRequestBuilderGetQueryParameters(
                select=select
            )
        )
        config = RequestConfiguration(query_parameters=params)
        if prefer:
            config.headers.add("Prefer", PREFER)
        assert job_id is not None
        builder = self.client.admin.configuration_management.configuration_snapshot_jobs
        job = await builder.by_configuration_snapshot_job_id(job_id).get(request_configuration=config)
        assert job is not None
        return job

    async def page(self, prefer: bool = True, **query: Any) -> ConfigurationSnapshotJobCollectionResponse:
        params = ConfigurationSnapshotJobsRequestBuilder.ConfigurationSnapshotJobsRequestBuilderGetQueryParameters(
            **query
        )
        config = RequestConfiguration(query_parameters=params)
        if prefer:
            config.headers.add("Prefer", PREFER)
        page = await self.client.admin.configuration_management.configuration_snapshot_jobs.get(
            request_configuration=config
        )
        assert page is not None
        return page

    async def list_all(self, **query: Any) -> tuple[list[ConfigurationSnapshotJob], int]:
        """Every job, following @odata.nextLink; also how many pages were read."""
        page = await self.page(**query)
        jobs, pages = list(page.value or []), 1
        builder = self.client.admin.configuration_management.configuration_snapshot_jobs
        while page.odata_next_link:
            config = RequestConfiguration[Any]()
            config.headers.add("Prefer", PREFER)
            next_page = await builder.with_url(page.odata_next_link).get(request_configuration=config)
            assert next_page is not None
            page, pages = next_page, pages + 1
            jobs.extend(page.value or [])
        return jobs, pages

    async def delete(self, job_id: str | None) -> None:
        assert job_id is not None
        builder = self.client.admin.configuration_management.configuration_snapshot_jobs
        await builder.by_configuration_snapshot_job_id(job_id).delete()

    async def download(self, url: str) -> bytes:
        ri = RequestInformation(Method.GET, None, {})
        ri.url = url
        ri.headers.try_add("Accept", "application/json")
        data = await self.adapter.send_primitive_async(ri, "bytes", ERRORS)
        assert isinstance(data, bytes)
        return data

    async def finished(self, job_id: str | None, within: float = 5.0) -> ConfigurationSnapshotJob:
        deadline = time.monotonic() + within
        while True:
            job = await self.get(job_id, select=ALL_SELECT)
            if job.status in (
                SnapshotJobStatus.Succeeded,
                SnapshotJobStatus.Failed,
                SnapshotJobStatus.PartiallySuccessful,
            ):
                return job
            assert time.monotonic() < deadline, f"job still {job.status}"
            await asyncio.sleep(0.05)


@pytest.fixture
def graph_env(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorControl, emulator_service: services.Service
) -> dict[str, str]:
    """What stack_env sets for Graph and the identity, without needing Azurite."""
    for name in LEAKY_ENV:
        monkeypatch.delenv(name, raising=False)
    env = services.emulator_env(emulator_service.port)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
async def graph(graph_env: dict[str, str], emulator: EmulatorControl) -> AsyncIterator[Graph]:
    credential = ManagedIdentityCredential()  # after the environment is set: it is read at construction
    auth = AzureIdentityAuthenticationProvider(credential, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1"])
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = emulator.graph_base_url
    yield Graph(GraphServiceClient(request_adapter=adapter), adapter, credential, emulator)
    await credential.close()


def fast(emulator: EmulatorControl, **config: Any) -> None:
    emulator.configure(jobStartSeconds=0, jobDurationSeconds=0, **config)


def odata_error(exc: pytest.ExceptionInfo[ODataError]) -> tuple[int, str, str, list[tuple[str, str, str]]]:
    error = exc.value.error
    assert error is not None
    details = [(d.code or "", d.message or "", d.target or "") for d in (error.details or [])]
    return exc.value.response_status_code or 0, error.code or "", error.message or "", details


def snapshot_id_of(location: str) -> str:
    match = re.search(r"configurationSnapshots\('([0-9a-f-]{36})'\)$", location)
    assert match, location
    return match.group(1)


# --- identity ----------------------------------------------------------------------------------------------


async def test_the_token_is_issued_for_graph_and_never_logged(graph: Graph, emulator: EmulatorControl) -> None:
    await graph.page()
    token = await graph.token()
    requests = emulator.requests()
    token_requests = [r for r in requests if r["op"] == "token"]
    assert len(token_requests) == 1  # the credential caches it
    assert token_requests[0]["query"]["resource"] == "https://graph.microsoft.com"
    assert token_requests[0]["query"]["api-version"] == "2019-08-01"
    listed = next(r for r in requests if r["op"] == "list")
    assert listed["authorized"] is True and listed["hadAuthorization"] is True
    assert token not in json.dumps(requests)


async def test_the_token_endpoint_checks_the_identity_header(graph_env: dict[str, str]) -> None:
    endpoint = graph_env["IDENTITY_ENDPOINT"]
    params = {"api-version": "2019-08-01", "resource": "https://graph.microsoft.com", "client_id": "my-uami"}
    async with httpx.AsyncClient() as http:
        refused = await http.get(endpoint, params=params, headers={"X-IDENTITY-HEADER": "wrong"})
        missing = await http.get(endpoint, params=params)
        issued = await http.get(endpoint, params=params, headers={"X-IDENTITY-HEADER": graph_env["IDENTITY_HEADER"]})
    assert refused.status_code == missing.status_code == 401
    assert "access_token" not in refused.json()
    body = issued.json()
    assert issued.status_code == 200
    assert body["resource"] == "https://graph.microsoft.com" and body["token_type"] == "Bearer"
    assert body["client_id"] == "my-uami"
    assert int(body["expires_on"]) > time.time() + 3600 and isinstance(body["expires_on"], str)


async def test_graph_refuses_requests_without_a_graph_token(
    graph_env: dict[str, str], emulator: EmulatorControl
) -> None:
    endpoint, header = graph_env["IDENTITY_ENDPOINT"], {"X-IDENTITY-HEADER": graph_env["IDENTITY_HEADER"]}
    async with httpx.AsyncClient() as http:
        foreign = await http.get(
            endpoint, params={"api-version": "2019-08-01", "resource": "https://management.azure.com"}, headers=header
        )
        url = emulator.graph_base_url + JOBS
        answers = [
            await http.get(url),
            await http.get(url, headers={"Authorization": f"Bearer {foreign.json()['access_token']}"}),
            await http.get(url, headers={"Authorization": "Bearer made-up-token"}),
            await http.get(url, headers={"Authorization": "Basic dXNlcjpwYXNz"}),
        ]
    for answer in answers:
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert error["code"] == "InvalidAuthenticationToken"
        assert set(error["innerError"]) >= {"request-id", "date"}
    listed = [r for r in emulator.requests() if r["op"] == "list"]
    assert [r["authorized"] for r in listed] == [False] * 4
    assert [r["hadAuthorization"] for r in listed] == [False, True, True, True]


async def test_tokens_survive_a_reset(graph: Graph, emulator: EmulatorControl) -> None:
    await graph.page()
    emulator.reset()
    await graph.page()  # the cached token still works
    assert emulator.counts()["token"] == 0


# --- createSnapshot ----------------------------------------------------------------------------------------


async def test_create_answers_200_with_graph_sentinels(graph: Graph, emulator: EmulatorControl) -> None:
    job = await graph.create("Snapshot Demo 1", [CA, "microsoft.exchange.sharedmailbox"], "A description")
    assert job.status == SnapshotJobStatus.NotStarted
    assert job.display_name == "Snapshot Demo 1" and job.description == "A description"
    assert job.resources == [CA, "microsoft.exchange.sharedmailbox"]
    assert job.resource_location == "" and job.completed_date_time is not None
    assert job.completed_date_time.year == 1
    assert job.created_by is not None and job.created_by.application is not None
    assert job.created_by.application.display_name == "snapshot app"

    raw = await graph.raw(
        "POST",
        "/admin/configurationManagement/configurationSnapshots/createSnapshot",
        json={"displayName": "Snapshot Demo 2", "resources": [TEAMS]},
    )
    assert raw.status_code == 200
    assert "Location" not in raw.headers
    body = raw.json()
    assert body["@odata.context"].endswith("$metadata#microsoft.graph.configurationSnapshotJob")
    assert body["status"] == "notStarted"
    assert body["completedDateTime"] == "0001-01-01T00:00:00Z"
    assert body["resourceLocation"] == ""
    assert GRAPH_DATETIME.match(body["createdDateTime"])
    assert body["tenantId"] == emulator.config()["tenantId"]
    assert re.fullmatch(r"[0-9a-f-]{36}", body["id"]) and body["id"] != job.id
    assert [j["id"] for j in emulator.jobs()] == [job.id, body["id"]]


@pytest.mark.parametrize(
    "name",
    ["Short 1", "Has-a hyphen name", "under_score name", "Accentué name one", "x" * 33, "Colon: in name", ""],
)
async def test_display_name_rules_are_400(graph: Graph, emulator: EmulatorControl, name: str) -> None:
    with pytest.raises(ODataError) as exc:
        await graph.create(name, [CA])
    status, code, message, details = odata_error(exc)
    assert (status, code, message) == (400, "BadRequest", "One or more validation errors occurred.")
    assert [(d[0], d[2]) for d in details] == [("ValidationError", "displayName")]
    assert "minimum length of 8 and a maximum length of 32" in details[0][1]
    assert emulator.jobs() == []


async def test_valid_names_at_the_limits_are_accepted(graph: Graph) -> None:
    await graph.create("12345678", [CA])
    await graph.create("A" * 32, [CA])


async def test_resources_must_be_a_non_empty_list(graph: Graph) -> None:
    for body in ({"displayName": "Snapshot no types"}, {"displayName": "Snapshot no types", "resources": []}):
        answer = await graph.raw(
            "POST", "/admin/configurationManagement/configurationSnapshots/createSnapshot", json=body
        )
        assert answer.status_code == 400
        assert [d["target"] for d in answer.json()["error"]["details"]] == ["resources"]


async def test_a_taken_display_name_is_409(graph: Graph, emulator: EmulatorControl) -> None:
    await graph.create("Weekly baseline 1", [CA])
    with pytest.raises(ODataError) as exc:
        await graph.create("Weekly baseline 1", [TEAMS])
    assert odata_error(exc)[:3] == (409, "Conflict", "Snapshot Job with displayName already exists")
    assert len(emulator.jobs()) == 1


async def test_each_unsupported_type_is_named_in_a_400(graph: Graph, emulator: EmulatorControl) -> None:
    emulator.configure(unsupportedTypes=["Microsoft.Teams.MeetingPolicy"])
    with pytest.raises(ODataError) as exc:
        await graph.create("Unsupported types", [CA, "microsoft.entra.notAType", TEAMS])
    status, code, message, details = odata_error(exc)
    assert (status, code) == (400, "BadRequest")
    assert message == "ResourceType 'microsoft.entra.notAType' is not supported."
    assert [(d[0], d[1]) for d in details] == [
        ("BadRequest", "ResourceType 'microsoft.entra.notAType' is not supported."),
        ("BadRequest", f"ResourceType '{TEAMS}' is not supported."),
    ]
    assert emulator.jobs() == []
    await graph.create("Catalogue case ok", ["MICROSOFT.ENTRA.CONDITIONALACCESSPOLICY"])  # case-insensitive


async def test_the_thirteenth_job_is_409(graph: Graph, emulator: EmulatorControl) -> None:
    for n in range(12):
        await graph.create(f"Snapshot number {n:02d}", [CA])
    with pytest.raises(ODataError) as exc:
        await graph.create("Snapshot number 12", [CA])
    assert odata_error(exc)[:3] == (409, "Conflict", MAX_JOBS_MESSAGE)
    await graph.delete(emulator.jobs()[0]["id"])
    await graph.create("Snapshot number 12", [CA])


async def test_permissions_are_enforced(graph: Graph, emulator: EmulatorControl) -> None:
    job = await graph.create("Permission check", [CA])
    emulator.configure(permission="Read")
    with pytest.raises(ODataError) as exc:
        await graph.create("Permission check 2", [CA])
    status, code, message, _ = odata_error(exc)
    assert (status, code) == (403, "Forbidden") and "ConfigurationMonitoring.ReadWrite.All" in message
    with pytest.raises(ODataError):
        await graph.delete(job.id)
    assert (await graph.get(job.id)).id == job.id  # Read is enough to read
    emulator.configure(permission="None")
    with pytest.raises(ODataError) as exc:
        await graph.page()
    assert odata_error(exc)[0] == 403


# --- reading jobs ------------------------------------------------------------------------------------------


async def test_select_only_fields_appear_only_when_selected(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator, failingTypes={"microsoft.teams.meetingpolicy": "Access Denied."})
    created = await graph.create("Select only fields", [CA, TEAMS])
    await graph.finished(created.id)

    plain = (await graph.raw("GET", f"{JOBS}/{created.id}", headers={"Prefer": PREFER})).json()
    assert set(plain) == {
        "@odata.context", "@microsoft.graph.tips", "id", "displayName", "description", "status", "tenantId",
        "createdDateTime", "completedDateTime",
    }  # fmt: skip
    selected = (await graph.raw("GET", f"{JOBS}/{created.id}", params={"$select": "status,errorDetails"})).json()
    assert set(selected) == {"@odata.context", "id", "status", "errorDetails"}
    assert len(selected["errorDetails"]) == 1

    job = await graph.get(created.id)
    assert job.resources is None and job.resource_location is None and job.error_details is None
    assert job.created_by is None
    assert "@microsoft.graph.tips" in job.additional_data
    full = await graph.get(created.id, select=ALL_SELECT)
    assert full.resources == [CA, TEAMS] and full.resource_location and full.error_details and full.created_by
    listed = (await graph.page()).value or []
    assert listed[0].resources is None and listed[0].error_details is None
    listed_full = (await graph.page(select=ALL_SELECT)).value or []
    assert listed_full[0].error_details == full.error_details


async def test_unknown_select_fields_are_400(graph: Graph) -> None:
    answer = await graph.raw("GET", JOBS, params={"$select": "id,notAField"})
    assert answer.status_code == 400 and "notAField" in answer.json()["error"]["message"]


async def test_partially_successful_only_with_the_prefer_header(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator, failingTypes={"microsoft.teams.meetingpolicy": "Access Denied."})
    created = await graph.create("Partial outcome", [CA, TEAMS])
    assert (await graph.finished(created.id)).status == SnapshotJobStatus.PartiallySuccessful
    assert (await graph.get(created.id, prefer=False)).status == SnapshotJobStatus.UnknownFutureValue
    assert [j.status for j in (await graph.page(prefer=False)).value or []] == [SnapshotJobStatus.UnknownFutureValue]

    without = await graph.raw("GET", f"{JOBS}/{created.id}")
    with_prefer = await graph.raw("GET", f"{JOBS}/{created.id}", headers={"Prefer": PREFER})
    assert without.json()["status"] == "unknownFutureValue" and "Preference-Applied" not in without.headers
    assert with_prefer.json()["status"] == "partiallySuccessful"
    assert with_prefer.headers["Preference-Applied"] == PREFER
    assert [r["prefer"] for r in emulator.requests() if r["op"] == "get"][-2:] == [None, PREFER]


async def test_unknown_ids_are_404(graph: Graph) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(ODataError) as exc:
        await graph.get(missing)
    assert odata_error(exc)[:2] == (404, "ResourceNotFound")
    with pytest.raises(ODataError) as exc:
        await graph.delete(missing)
    assert odata_error(exc)[0] == 404


async def test_the_key_form_and_beta_are_accepted(graph: Graph, emulator: EmulatorControl) -> None:
    job = await graph.create("Key form job", [CA])
    assert (await graph.raw("GET", f"{JOBS}('{job.id}')")).json()["id"] == job.id
    beta = emulator.graph_base_url.replace("/v1.0", "/beta")
    answer = await graph.raw("GET", f"{beta}{JOBS}/{job.id}")
    assert answer.status_code == 200 and "/beta/$metadata" in answer.json()["@odata.context"]
    assert (await graph.raw("DELETE", f"{JOBS}('{job.id}')")).status_code == 204
    assert emulator.jobs() == []


async def test_delete_answers_204_and_removes_job_and_content(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    job = await graph.finished((await graph.create("Deleted job one", [CA])).id)
    assert job.resource_location
    assert (await graph.raw("DELETE", f"{JOBS}/{job.id}")).status_code == 204
    assert emulator.jobs() == []
    with pytest.raises(ODataError) as exc:
        await graph.download(job.resource_location)
    assert odata_error(exc)[0] == 404
    assert [r["op"] for r in emulator.requests() if r["op"] in ("delete", "download")] == ["delete", "download"]


async def test_list_pages_with_next_link(graph: Graph, emulator: EmulatorControl) -> None:
    emulator.configure(pageSize=2)
    created = [(await graph.create(f"Paged snapshot {n}", [CA])).id for n in range(5)]
    first = await graph.page()
    assert len(first.value or []) == 2
    assert first.odata_next_link and first.odata_next_link.startswith(emulator.graph_base_url + JOBS + "?")
    assert "$skiptoken=" in first.odata_next_link
    jobs, pages = await graph.list_all()
    assert [j.id for j in jobs] == created and pages == 3
    capped, capped_pages = await graph.list_all(top=100)  # a configured page size also caps $top
    assert [j.id for j in capped] == created and capped_pages == 3
    emulator.configure(maxPageSize=999)
    top, top_pages = await graph.list_all(top=4, select=["displayName"])
    assert [j.id for j in top] == created and top_pages == 2
    assert all(j.display_name and j.status is None for j in top)
    assert all("$top" in r["query"] for r in emulator.requests()[-2:])  # the nextLink keeps the query
    counted = await graph.raw("GET", JOBS, params={"$count": "true", "$top": "1"})
    assert counted.json()["@odata.count"] == 5 and len(counted.json()["value"]) == 1


async def test_filter_and_orderby(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    first = await graph.create("Filter target one", [CA])
    await graph.finished(first.id)
    emulator.configure(jobStartSeconds=60)
    second = await graph.create("Filter target two", [CA])
    quoted = emulator.create_job(displayName="O'Brien's snapshot", resources=[CA])  # another tool's name rules

    by_name = await graph.page(filter="displayName eq 'Filter target two'")
    assert [j.id for j in by_name.value or []] == [second.id]
    by_quote = await graph.page(filter="displayName eq 'O''Brien''s snapshot'")
    assert [j.id for j in by_quote.value or []] == [quoted["id"]]
    by_status = await graph.page(filter="status eq 'succeeded'")
    assert [j.id for j in by_status.value or []] == [first.id]
    combined = await graph.page(filter="status eq 'notStarted' and startswith(displayName,'Filter')")
    assert [j.id for j in combined.value or []] == [second.id]
    newest_first = await graph.page(orderby=["createdDateTime desc"])
    assert [j.id for j in newest_first.value or []] == [quoted["id"], second.id, first.id]
    oldest_first = await graph.page(orderby=["createdDateTime"])
    assert [j.id for j in oldest_first.value or []] == [first.id, second.id, quoted["id"]]
    bad = await graph.raw("GET", JOBS, params={"$filter": "displayName like 'x'"})
    assert bad.status_code == 400


# --- jobs over time and outcomes ---------------------------------------------------------------------------


async def test_jobs_progress_over_time(graph: Graph, emulator: EmulatorControl) -> None:
    emulator.configure(jobStartSeconds=0.3, jobDurationSeconds=0.3)
    created = await graph.create("Progressing job", [CA])
    seen = [(await graph.get(created.id)).status]
    await asyncio.sleep(0.35)
    seen.append((await graph.get(created.id)).status)
    await asyncio.sleep(0.35)
    done = await graph.get(created.id, select=ALL_SELECT)
    seen.append(done.status)
    assert seen == [SnapshotJobStatus.NotStarted, SnapshotJobStatus.Running, SnapshotJobStatus.Succeeded]
    assert done.completed_date_time is not None and done.created_date_time is not None
    assert done.completed_date_time > done.created_date_time
    assert done.resource_location and done.error_details == []


async def test_a_job_whose_types_all_fail_is_failed(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator, failingTypes={CA: "Insufficient privileges", TEAMS: "Access Denied."})
    job = await graph.finished((await graph.create("All types fail", [CA, TEAMS])).id)
    assert job.status == SnapshotJobStatus.Failed
    assert job.resource_location == ""
    assert job.error_details == [
        "microsoft.entra.conditionalaccesspolicy: Error exporting resource [microsoft.entra.conditionalaccesspolicy]. "
        "exceptionMessage(s):Insufficient privileges ,",
        "microsoft.teams.meetingpolicy: Error exporting resource [microsoft.teams.meetingpolicy]. "
        "exceptionMessage(s):Access Denied. ,",
    ]


async def test_a_partial_job_omits_the_failing_types(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator, failingTypes={TEAMS: "Access Denied."})
    job = await graph.finished((await graph.create("Some types fail", [CA, TEAMS])).id)
    assert job.status == SnapshotJobStatus.PartiallySuccessful
    assert job.error_details and job.error_details[0].startswith("microsoft.teams.meetingpolicy: Error exporting")
    assert job.resource_location
    content = json.loads(await graph.download(job.resource_location))
    assert {r["resourceType"] for r in content["resources"]} == {"microsoft.entra.conditionalaccesspolicy"}


# --- content -----------------------------------------------------------------------------------------------


async def test_content_is_on_another_id_behind_the_bearer_token(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    job = await graph.finished((await graph.create("Content download", [CA, TEAMS], "Two types")).id)
    assert job.resource_location
    assert job.resource_location.startswith(emulator.graph_base_url + "/admin/configurationManagement/")
    snapshot_id = snapshot_id_of(job.resource_location)
    assert snapshot_id != job.id

    async with httpx.AsyncClient() as http:
        anonymous = await http.get(job.resource_location)
    assert anonymous.status_code == 401

    data = await graph.download(job.resource_location)
    content = json.loads(data)
    assert content == emulator.snapshot_content(snapshot_id)
    assert set(content) == {"@odata.context", "id", "displayName", "description", "parameters", "resources"}
    assert content["id"] == snapshot_id and content["displayName"] == "Content download"
    assert content["description"] == "Two types" and content["parameters"] == []
    assert len(content["resources"]) == 6
    by_path = await graph.raw("GET", f"/admin/configurationManagement/configurationSnapshots/{snapshot_id}")
    assert by_path.json() == content
    downloads = [r for r in emulator.requests() if r["op"] == "download"]
    assert [(r["authorized"], r["status"]) for r in downloads] == [(False, 401), (True, 200), (True, 200)]


async def test_the_resource_location_base_can_name_another_host(graph: Graph, emulator: EmulatorControl) -> None:
    other = emulator.graph_base_url.replace("127.0.0.1", "localhost")
    fast(emulator, resourceLocationBase=other)
    job = await graph.finished((await graph.create("Other host content", [CA])).id)
    assert job.resource_location and job.resource_location.startswith(other + "/admin/")


async def test_content_is_realistic(graph: Graph, emulator: EmulatorControl) -> None:
    types = [
        CA, "microsoft.exchange.transportRule", "microsoft.entra.groupLifecyclePolicy",
        "microsoft.entra.authenticationMethodPolicy", "microsoft.entra.namedLocationPolicy", TEAMS,
        "microsoft.intune.deviceCategory",
    ]  # fmt: skip
    fast(emulator, resourceCounts={"microsoft.entra.namedlocationpolicy": 4})
    job = await graph.finished((await graph.create("Realistic content", types)).id)
    assert job.resource_location
    resources = json.loads(await graph.download(job.resource_location))["resources"]
    assert {r["resourceType"] for r in resources} == {t.lower() for t in types}
    names = [r["displayName"] for r in resources]
    assert "AADConditionalAccessPolicy-Require MFA" in names
    assert "EXOTransportRule-Deny Sending Outbound by Default" in names
    assert "AADGroupLifecyclePolicy" in names and "AADAuthenticationMethodPolicy" in names
    assert any(n.startswith("TeamsMeetingPolicy-") for n in names)
    assert any(n.startswith("IntuneDeviceCategory-") for n in names)
    joined = "".join(names)
    for hostile in ("'", "#", "/", "\\", "?", "%", "é", "ü", "日本"):
        assert hostile in joined, hostile
    assert all(r["properties"]["Ensure"] == "Present" for r in resources)
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*(@odata\.type)?", key) for r in resources for key in r["properties"])
    lifecycle = next(r for r in resources if r["displayName"] == "AADGroupLifecyclePolicy")["properties"]
    assert lifecycle["GroupLifetimeInDays@odata.type"] == "#Int64"
    assert isinstance(lifecycle["GroupLifetimeInDays"], int)
    methods = next(r for r in resources if r["displayName"] == "AADAuthenticationMethodPolicy")["properties"]
    assert methods["RegistrationEnforcement"] == "System.Collections.Hashtable"
    ca_props = [r["properties"] for r in resources if r["resourceType"] == "microsoft.entra.conditionalaccesspolicy"]
    assert any(p["DeviceFilterRule"] == "" for p in ca_props) and any(p["ExcludeUsers"] == [] for p in ca_props)
    assert any(isinstance(p["SessionControls"], dict) for p in ca_props)
    ranges = [r["properties"]["IpRanges"] for r in resources if r["resourceType"].endswith("namedlocationpolicy")]
    assert len(ranges) == 4 and {type(v) for v in ranges} == {str, list}


async def test_content_is_deterministic_and_captured_when_the_job_finishes(
    graph: Graph, emulator: EmulatorControl
) -> None:
    fast(emulator)
    first = await graph.finished((await graph.create("Determinism one", [CA, TEAMS])).id)
    second = await graph.finished((await graph.create("Determinism two", [CA, TEAMS])).id)
    assert first.resource_location and second.resource_location
    one = json.loads(await graph.download(first.resource_location))
    two = json.loads(await graph.download(second.resource_location))
    assert one["resources"] == two["resources"]
    assert one["resources"] == [
        *emulator_content.generate_resources(CA, 3),
        *emulator_content.generate_resources(TEAMS, 3),
    ]
    emulator.change_tenant(remove=[{"resourceType": CA, "displayName": one["resources"][0]["displayName"]}])
    assert json.loads(await graph.download(first.resource_location)) == one  # captured, not live


async def test_tenant_changes_show_in_later_snapshots(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    before = await graph.finished((await graph.create("Tenant before", [CA])).id)
    assert before.resource_location
    old = json.loads(await graph.download(before.resource_location))["resources"]
    replaced, removed = old[0]["displayName"], old[1]["displayName"]
    emulator.change_tenant(
        set=[
            {"resourceType": CA, "displayName": replaced, "properties": {"State": "disabled", "Ensure": "Present"}},
            {
                "resourceType": CA,
                "displayName": "AADConditionalAccessPolicy-New one",
                "properties": {"Ensure": "Present"},
            },
        ],
        remove=[{"resourceType": CA, "displayName": removed}],
    )
    after = await graph.finished((await graph.create("Tenant after", [CA])).id)
    assert after.resource_location
    new = json.loads(await graph.download(after.resource_location))["resources"]
    assert [r["displayName"] for r in new] == [replaced, old[2]["displayName"], "AADConditionalAccessPolicy-New one"]
    assert new[0] == {
        "displayName": replaced,
        "resourceType": "microsoft.entra.conditionalaccesspolicy",
        "properties": {"State": "disabled", "Ensure": "Present"},
    }
    assert new[1] == old[2]
    assert emulator.tenant_resources(CA) == new


async def test_resource_counts_and_large_values(graph: Graph, emulator: EmulatorControl) -> None:
    fast(
        emulator,
        defaultResourceCount=1,
        resourceCounts={"microsoft.entra.user": 250},
        propertyBytes={"microsoft.exchange.transportrule": 200 * 1024},
    )
    job = await graph.create("Counts and sizes", ["microsoft.entra.user", "microsoft.exchange.transportRule", TEAMS])
    done = await graph.finished(job.id)
    assert done.resource_location
    resources = json.loads(await graph.download(done.resource_location))["resources"]
    counts: dict[str, int] = {}
    for resource in resources:
        counts[resource["resourceType"]] = counts.get(resource["resourceType"], 0) + 1
    assert counts == {
        "microsoft.entra.user": 250,
        "microsoft.exchange.transportrule": 1,
        "microsoft.teams.meetingpolicy": 1,
    }
    assert len({r["displayName"] for r in resources}) == len(resources)
    rule = next(r for r in resources if r["resourceType"] == "microsoft.exchange.transportrule")
    big = [v for v in rule["properties"].values() if isinstance(v, str) and len(v) > 64 * 1024]
    assert len(big) == 1 and 200 * 1024 - 16 <= len(big[0].encode()) <= 200 * 1024 + 16


def test_twenty_thousand_resources_generate_quickly() -> None:
    started = time.perf_counter()
    resources = emulator_content.generate_resources("microsoft.entra.user", 20_000)
    elapsed = time.perf_counter() - started
    assert len(resources) == 20_000 and len({r["displayName"] for r in resources}) == 20_000
    assert elapsed < 3.0, elapsed


# --- faults, latency, counting -----------------------------------------------------------------------------


async def test_a_429_with_retry_after_is_retried_by_the_sdk(graph: Graph, emulator: EmulatorControl) -> None:
    await graph.create("Retried list job", [CA])
    emulator.add_fault(method="GET", path="configurationSnapshotJobs", status=429, retryAfter=1)
    started = time.monotonic()
    page = await graph.page()
    assert len(page.value or []) == 1
    assert time.monotonic() - started >= 0.9
    listed = [r for r in emulator.requests() if r["op"] == "list"]
    assert [(r["status"], r["fault"]) for r in listed] == [(429, "respond"), (200, None)]


async def test_a_respond_fault_does_no_work(graph: Graph, emulator: EmulatorControl) -> None:
    emulator.add_fault(method="POST", path="createSnapshot", status=503, retryAfter=1)
    answer = await graph.raw(
        "POST",
        "/admin/configurationManagement/configurationSnapshots/createSnapshot",
        json={"displayName": "Not created job", "resources": [CA]},
    )
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert answer.json()["error"]["code"] == "ServiceUnavailable"
    assert emulator.jobs() == []
    assert emulator.counts()["create"] == 1


async def test_a_dropped_create_creates_the_job_but_loses_the_response(graph: Graph, emulator: EmulatorControl) -> None:
    emulator.add_fault(method="POST", path="createSnapshot", action="drop")
    with pytest.raises(httpx.TransportError):
        await graph.create("Lost response job", [CA])
    assert [j["displayName"] for j in emulator.jobs()] == ["Lost response job"]
    assert emulator.counts()["create"] == 1
    with pytest.raises(ODataError) as exc:  # the fault was used up: a resend meets the taken name
        await graph.create("Lost response job", [CA])
    assert odata_error(exc)[0] == 409


async def test_a_reset_does_no_work(graph: Graph, emulator: EmulatorControl) -> None:
    emulator.add_fault(method="*", path="createSnapshot", action="reset", times=1)
    with pytest.raises(httpx.TransportError):
        await graph.create("Reset connection job", [CA])
    assert emulator.jobs() == []
    await graph.create("Reset connection job", [CA])
    assert len(emulator.jobs()) == 1


async def test_delay_faults_and_latency_slow_requests_down(graph: Graph, emulator: EmulatorControl) -> None:
    await graph.page()  # the token is fetched outside the timed calls
    emulator.add_fault(method="GET", path="configurationSnapshotJobs", action="delay", delayMs=400)
    started = time.monotonic()
    await graph.page()
    assert time.monotonic() - started >= 0.4
    emulator.configure(latencyMs=300)
    started = time.monotonic()
    await graph.page()
    assert 0.3 <= time.monotonic() - started < 2


async def test_token_endpoint_faults_fail_the_credential(graph_env: dict[str, str], emulator: EmulatorControl) -> None:
    emulator.add_fault(method="GET", path="/msi/token", status=500, times=10)
    credential = ManagedIdentityCredential()
    try:
        with pytest.raises(ClientAuthenticationError):
            await credential.get_token(GRAPH_SCOPE)
    finally:
        await credential.close()
    assert emulator.counts()["token"] >= 1
    assert all(r["status"] == 500 for r in emulator.requests() if r["op"] == "token")


async def test_faults_can_be_listed_and_cleared(graph: Graph, emulator: EmulatorControl) -> None:
    emulator.add_fault(method="GET", path="configurationSnapshotJobs", status=500, times=5)
    emulator.clear_faults()
    await graph.page()
    assert [r["status"] for r in emulator.requests() if r["op"] == "list"] == [200]


async def test_requests_are_counted_by_operation(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    job = await graph.finished((await graph.create("Counted requests", [CA])).id)
    assert job.resource_location
    await graph.download(job.resource_location)
    await graph.page()
    await graph.delete(job.id)
    counts = emulator.counts()
    assert counts["create"] == 1 and counts["list"] == 1 and counts["delete"] == 1 and counts["download"] == 1
    assert counts["token"] == 1 and counts["get"] >= 1
    entry = next(r for r in emulator.requests() if r["op"] == "create")
    assert set(entry) >= {"method", "path", "query", "status", "authorized", "hadAuthorization", "prefer", "host", "op"}
    assert entry["method"] == "POST" and entry["status"] == 200 and entry["host"].startswith("127.0.0.1:")
    emulator.clear_requests()
    assert emulator.requests() == [] and set(emulator.counts().values()) == {0}


# --- control API -------------------------------------------------------------------------------------------


async def test_jobs_created_directly_follow_the_same_rules(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    running = emulator.create_job(displayName="Another tool job", resources=[CA], status="running")
    assert running["status"] == "running" and running["createdBy"]["user"]["displayName"]
    assert (await graph.get(running["id"])).status == SnapshotJobStatus.Running  # pinned: no progress
    done = emulator.update_job(running["id"], status="succeeded")
    assert done["status"] == "succeeded" and done["completedDateTime"] != "0001-01-01T00:00:00Z"
    content = emulator.snapshot_content(snapshot_id_of(done["resourceLocation"]))
    assert len(content["resources"]) == 3

    old = emulator.create_job(
        displayName="Old job 1",
        resources=[CA],
        description="from last week",
        createdDateTime="2026-01-02T03:04:05.1234567Z",
    )
    fetched = await graph.get(old["id"], select=ALL_SELECT)
    assert fetched.status == SnapshotJobStatus.Succeeded  # long past its duration
    assert fetched.created_date_time is not None and fetched.created_date_time.year == 2026
    assert fetched.description == "from last week"

    failed = emulator.create_job(displayName="Broken job", resources=[CA], status="failed", errorDetails=["boom"])
    assert failed["resourceLocation"] == "" and failed["errorDetails"] == ["boom"]

    emulator.configure(jobStartSeconds=60)
    pending = emulator.create_job(displayName="Pending job", resources=[CA])
    assert pending["status"] == "notStarted"
    completed = emulator.complete_job(pending["id"])
    assert completed["status"] == "succeeded" and completed["resourceLocation"]
    assert len(emulator.jobs()) == 4


async def test_an_expired_job_and_its_content_are_gone(graph: Graph, emulator: EmulatorControl) -> None:
    fast(emulator)
    job = await graph.finished((await graph.create("Expiring job one", [CA])).id)
    assert job.id and job.resource_location
    emulator.expire_job(job.id)
    with pytest.raises(ODataError) as exc:
        await graph.get(job.id)
    assert odata_error(exc)[0] == 404
    with pytest.raises(ODataError) as exc:
        await graph.download(job.resource_location)
    assert odata_error(exc)[0] == 404
    assert emulator.jobs() == []


async def test_config_merges_validates_and_resets(emulator: EmulatorControl) -> None:
    emulator.configure(pageSize=5000, failingTypes={"Microsoft.Teams.MeetingPolicy": "x"})
    config = emulator.config()
    assert config["pageSize"] == config["maxPageSize"] == 999 and config["failingTypes"] == {
        "microsoft.teams.meetingpolicy": "x"
    }
    assert config["jobStartSeconds"] == 0.2 and config["permission"] == "ReadWrite"
    with pytest.raises(RuntimeError):
        emulator.configure(notAKey=1)
    with pytest.raises(RuntimeError):
        emulator.configure(permission="Everything")
    emulator.reset()
    config = emulator.config()
    assert (config["pageSize"], config["maxPageSize"], config["failingTypes"]) == (100, 999, {})


def test_the_command_line_announces_where_it_listens() -> None:
    port = services.free_port()
    service = services.emulator(port, log_path=services.ROOT / ".local" / "test-logs" / "emulator-cli.log").start()
    try:
        assert EmulatorControl(f"http://127.0.0.1:{port}").config()["defaultResourceCount"] == 3
    finally:
        service.stop()
    assert service.log_path is not None
    assert f"emulator listening on http://127.0.0.1:{port}" in service.log_path.read_text()


def test_the_control_api_lists_its_routes_one_line_each(emulator: EmulatorControl) -> None:
    answer = httpx.get(f"{emulator.base_url}/_emulator/")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    lines = answer.text.strip().splitlines()
    routes = emulator.routes()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == len(routes) + 2  # one route per line
    assert [json.loads(line.rstrip(",")) for line in lines[1:-1]] == routes
    assert {(r["method"], r["path"]) for r in routes} == {
        ("GET", "/_emulator/"), ("POST", "/_emulator/reset"), ("GET", "/_emulator/config"),
        ("POST", "/_emulator/config"), ("GET", "/_emulator/faults"), ("POST", "/_emulator/faults"),
        ("DELETE", "/_emulator/faults"), ("GET", "/_emulator/requests"), ("DELETE", "/_emulator/requests"),
        ("GET", "/_emulator/tenant"), ("POST", "/_emulator/tenant"), ("GET", "/_emulator/jobs"),
        ("POST", "/_emulator/jobs"), ("PATCH", "/_emulator/jobs/{job_id}"),
        ("POST", "/_emulator/jobs/{job_id}/complete"), ("POST", "/_emulator/jobs/{job_id}/expire"),
        ("GET", "/_emulator/snapshots/{snapshot_id}"),
    }  # fmt: skip
    assert all(r["description"] and "\n" not in r["description"] for r in routes)
    reset = next(r for r in routes if r["path"] == "/_emulator/reset")
    assert "request log" in reset["description"]
    unknown = httpx.get(f"{emulator.base_url}/_emulator/nothing-here")
    assert unknown.status_code == 404 and unknown.json() == {"error": "no control route GET /_emulator/nothing-here"}
