"""The Graph SDK stack the app uses, pointed at the emulator, and what the emulator tests share.

Raw httpx is used only where the SDK hides what is asserted (status codes, headers, the exact JSON) and for
requests the SDK would never send (no token, a foreign token).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from azure.identity.aio import ManagedIdentityCredential
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
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

from devtools.emulator_client import EmulatorControl
from snapshot.graph import CREATE_SNAPSHOT_PATH, ERROR_MAPPING, JOB_FIELDS, PREFER_ALL_ENUM_MEMBERS
from snapshot.settings import Settings

# The Graph facts the app relies on, from the module that owns them (snapshot/graph.py).
GRAPH_SCOPE = Settings.model_fields["graph_scope"].default
JOBS = "/admin/configurationManagement/configurationSnapshotJobs"
CA = "microsoft.entra.conditionalAccessPolicy"
TEAMS = "microsoft.teams.meetingPolicy"
GRAPH_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


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
        ri = RequestInformation(Method.POST, CREATE_SNAPSHOT_PATH, {})
        ri.headers.try_add("Accept", "application/json")
        body: dict[str, Any] = {"displayName": name, "resources": resources}
        if description is not None:
            body["description"] = description
        ri.set_stream_content(json.dumps(body).encode("utf-8"), "application/json")
        job = await self.adapter.send_async(ri, ConfigurationSnapshotJob, ERROR_MAPPING)
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
            config.headers.add("Prefer", PREFER_ALL_ENUM_MEMBERS)
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
            config.headers.add("Prefer", PREFER_ALL_ENUM_MEMBERS)
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
            config.headers.add("Prefer", PREFER_ALL_ENUM_MEMBERS)
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
        data = await self.adapter.send_primitive_async(ri, "bytes", ERROR_MAPPING)
        assert isinstance(data, bytes)
        return data

    async def finished(self, job_id: str | None, within: float = 5.0) -> ConfigurationSnapshotJob:
        deadline = time.monotonic() + within
        while True:
            job = await self.get(job_id, select=JOB_FIELDS)
            if job.status in (
                SnapshotJobStatus.Succeeded,
                SnapshotJobStatus.Failed,
                SnapshotJobStatus.PartiallySuccessful,
            ):
                return job
            assert time.monotonic() < deadline, f"job still {job.status}"
            await asyncio.sleep(0.05)


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
