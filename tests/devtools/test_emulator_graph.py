"""The emulated Graph snapshot-job operations (devtools/emulator/graph.py, odata.py, state.py) through msgraph-sdk.

The emulator runs as a subprocess (tests/conftest.py `emulator_service`); the `emulator` fixture resets it.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.snapshot_job_status import SnapshotJobStatus

from devtools.emulator.graph import MAX_JOBS_MESSAGE
from devtools.emulator_client import EmulatorControl
from snapshot.graph import JOB_FIELDS, PREFER_ALL_ENUM_MEMBERS
from tests.devtools.emulator_graph import CA, GRAPH_DATETIME, JOBS, TEAMS, Graph, fast, odata_error

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
        await graph.create("Unsupported types", [CA, "microsoft.entra.not-a-type", TEAMS])
    status, code, message, details = odata_error(exc)
    assert (status, code) == (400, "BadRequest")
    assert message == "ResourceType 'microsoft.entra.not-a-type' is not supported."
    assert [(d[0], d[1]) for d in details] == [
        ("BadRequest", "ResourceType 'microsoft.entra.not-a-type' is not supported."),
        ("BadRequest", f"ResourceType '{TEAMS}' is not supported."),
    ]
    assert emulator.jobs() == []
    await graph.create("Catalogue case ok", ["MICROSOFT.ENTRA.CONDITIONALACCESSPOLICY"])  # case-insensitive
    await graph.create("Beyond the catalogue", ["microsoft.entra.notInTheList"])  # well-formed: Graph knows more


@pytest.mark.parametrize("status", [400, 403, 409, 429])
async def test_the_thirteenth_job_gets_the_configured_answer(
    graph: Graph, emulator: EmulatorControl, status: int
) -> None:
    emulator.configure(capStatus=status, capBody={"error": {"code": "Whatever", "message": f"cap as {status}"}})
    for n in range(12):
        await graph.create(f"Snapshot number {n:02d}", [CA])
    with pytest.raises(ODataError) as exc:
        await graph.create("Snapshot number 12", [CA])
    assert odata_error(exc)[:3] == (status, "Whatever", f"cap as {status}")
    await graph.delete(emulator.jobs()[0]["id"])
    await graph.create("Snapshot number 12", [CA])


async def test_the_default_cap_answer_is_not_409(graph: Graph, emulator: EmulatorControl) -> None:
    for n in range(12):
        await graph.create(f"Snapshot number {n:02d}", [CA])
    with pytest.raises(ODataError) as exc:
        await graph.create("Snapshot number 12", [CA])
    assert odata_error(exc)[:3] == (400, "BadRequest", MAX_JOBS_MESSAGE)


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

    plain = (await graph.raw("GET", f"{JOBS}/{created.id}", headers={"Prefer": PREFER_ALL_ENUM_MEMBERS})).json()
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
    full = await graph.get(created.id, select=JOB_FIELDS)
    assert full.resources == [CA, TEAMS] and full.resource_location and full.error_details and full.created_by
    listed = (await graph.page()).value or []
    assert listed[0].resources is None and listed[0].error_details is None
    listed_full = (await graph.page(select=JOB_FIELDS)).value or []
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
    with_prefer = await graph.raw("GET", f"{JOBS}/{created.id}", headers={"Prefer": PREFER_ALL_ENUM_MEMBERS})
    assert without.json()["status"] == "unknownFutureValue" and "Preference-Applied" not in without.headers
    assert with_prefer.json()["status"] == "partiallySuccessful"
    assert with_prefer.headers["Preference-Applied"] == PREFER_ALL_ENUM_MEMBERS
    assert [r["prefer"] for r in emulator.requests() if r["op"] == "get"][-2:] == [None, PREFER_ALL_ENUM_MEMBERS]


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
    emulator.configure(jobStartSeconds=1.0, jobDurationSeconds=1.0)
    job_id = emulator.create_job(displayName="Progressing job", resources=[CA])["id"]
    seen: list[str] = []
    for _ in range(200):  # the control API answers in milliseconds: each 1 s phase is seen
        status = next(job["status"] for job in emulator.jobs() if job["id"] == job_id)
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "succeeded":
            break
        await asyncio.sleep(0.05)
    assert seen == ["notStarted", "running", "succeeded"]
    done = await graph.get(job_id, select=JOB_FIELDS)  # and Graph's view through the SDK agrees
    assert done.status == SnapshotJobStatus.Succeeded
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
