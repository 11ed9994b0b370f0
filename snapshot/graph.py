"""The UTCM snapshot API on msgraph-sdk: create, get, list, delete jobs and download their content.

Facts this module relies on (docs/graph-utcm.md gives each one's public source):
- msgraph-sdk has no builder for createSnapshot, so it goes through the request adapter with a
  RequestInformation; job bodies are read field by field with the SDK's JSON parse node.
- Kiota's RetryHandler retries POST on 429/503/504, which could create a second job: the create
  is sent with retries off, and the caller looks the job up by name after an ambiguous failure.
- errorDetails, resourceLocation, resources and createdBy come back only on $select, and
  partiallySuccessful only with `Prefer: include-unknown-enum-members`.
- Job bodies are read as JSON and their typed fields by the SDK's parse node, except `status` and
  `errorDetails`, kept as Graph sent them: the SDK drops an enum value it does not know, and a non-string errorDetails entry.
- Graph publishes no answer for a 13th job: no status or text is read as "the cap" here; the start decides
  from the list (usecases/room.py).
- The token is attached only for GRAPH_BASE_URL's host (allowed_hosts), and the content URL is
  checked against that host before anything is sent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import ManagedIdentityCredential
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.middleware.options import RedirectHandlerOption, RetryHandlerOption
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.admin.configuration_management.configuration_snapshot_jobs.configuration_snapshot_jobs_request_builder import (
    ConfigurationSnapshotJobsRequestBuilder,
)
from msgraph.generated.admin.configuration_management.configuration_snapshot_jobs.item.configuration_snapshot_job_item_request_builder import (
    ConfigurationSnapshotJobItemRequestBuilder,
)
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core import GraphClientFactory

from snapshot import errors
from snapshot.identity import FederatedCredential, TokenRefused, refused
from snapshot.settings import IDENTITY_CLIENT_OPTIONS, Settings

GraphCredential = ManagedIdentityCredential | FederatedCredential


log = logging.getLogger(__name__)
T = TypeVar("T")

CREATE_SNAPSHOT_PATH = "{+baseurl}/admin/configurationManagement/configurationSnapshots/createSnapshot"
JOB_FIELDS = [
    "id", "displayName", "description", "status", "tenantId", "createdDateTime", "completedDateTime",
    "resources", "resourceLocation", "errorDetails", "createdBy",
]  # fmt: skip
PREFER_ALL_ENUM_MEMBERS = "include-unknown-enum-members"
ERROR_MAPPING: dict[str, Any] = {"XXX": ODataError}
NOT_COMPLETED = datetime(1, 1, 1, tzinfo=UTC)
LIST_PAGE_SIZE = 100
LIST_MAX_PAGES = 50  # Graph shows at most 12 jobs: more pages than this is a loop, not a list
DOWNLOAD_SPOOL_BYTES = 1024 * 1024  # larger contents go to a temporary file, not memory
HTTP_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


@dataclass(frozen=True)
class GraphJob:
    """A configurationSnapshotJob as Graph reports it, with Graph's sentinels turned into None."""

    id: str
    display_name: str
    status: str
    description: str | None = None
    tenant_id: str | None = None
    resources: list[str] = field(default_factory=list)
    created: datetime | None = None
    completed: datetime | None = None
    resource_location: str | None = None
    error_details: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GraphJob:
        """The typed fields are read by the SDK's JSON parse node, as ConfigurationSnapshotJob's field table
        reads them; `status` and `errorDetails` are taken as Graph sent them. The model class itself is not
        built: its generated `Entity.get_field_deserializers` runs ~1,000 import statements per call (~5 ms of
        CPU per job, measured), and a tick parses every job Graph lists."""
        status = data.get("status")
        completed = _parsed(data, "completedDateTime", JsonParseNode.get_datetime_value)
        return cls(
            id=_parsed(data, "id", JsonParseNode.get_str_value) or "",
            display_name=_parsed(data, "displayName", JsonParseNode.get_str_value) or "",
            status=status if isinstance(status, str) and status else "unknownFutureValue",
            description=_parsed(data, "description", JsonParseNode.get_str_value) or None,
            tenant_id=_parsed(data, "tenantId", JsonParseNode.get_str_value) or None,
            resources=[name for name in _parsed(data, "resources", _strings) or [] if name],
            created=_parsed(data, "createdDateTime", JsonParseNode.get_datetime_value),
            completed=None if completed is None or completed <= NOT_COMPLETED else completed,
            resource_location=_parsed(data, "resourceLocation", JsonParseNode.get_str_value) or None,  # "": not ready
            error_details=readable_details(data.get("errorDetails")),
        )


def _strings(node: JsonParseNode) -> list[str] | None:
    return node.get_collection_of_primitive_values(str)


def _parsed(data: dict[str, Any], key: str, read: Callable[[JsonParseNode], T | None]) -> T | None:
    """One field read by the parse node; a null or missing field is None, as the SDK's model leaves it."""
    value = data.get(key)
    return None if value is None else read(JsonParseNode(value))


def readable_details(value: Any) -> list[str]:
    """errorDetails as text: strings as they are, anything else as compact JSON; nulls left out."""
    items = value if isinstance(value, list) else [value]
    return [
        item if isinstance(item, str) else json.dumps(item, ensure_ascii=False, sort_keys=True)
        for item in items
        if item is not None
    ]


def _retry_after(headers: Any) -> int:
    value = None
    if headers is not None:
        with contextlib.suppress(Exception):
            value = headers.get("Retry-After") or headers.get("retry-after")
    seconds = errors.parse_retry_after(value)
    return errors.DEFAULT_RETRY_AFTER_SECONDS if seconds is None else max(1, seconds)


def _graph_message(exc: APIError) -> tuple[str, str, list[str]]:
    """(code, message, detail messages) of a Graph error envelope."""
    if isinstance(exc, ODataError) and exc.error is not None:
        details = [d.message for d in (exc.error.details or []) if d.message]
        return exc.error.code or "", exc.error.message or "", details
    return "", exc.message or "", []


def translate_error(exc: Exception, operation: str) -> errors.ServiceError:
    """Turn an SDK, HTTP or identity failure into one of the service's typed errors."""
    if isinstance(exc, errors.ServiceError):
        return exc
    if isinstance(exc, TokenRefused):
        return refused(exc)
    if isinstance(exc, ClientAuthenticationError):
        return errors.IdentityUnavailable(
            "the managed identity could not get a Microsoft Graph token; check the identity "
            "configuration (AZURE_CLIENT_ID for a user-assigned identity)"
        )
    if isinstance(exc, httpx.HTTPError):
        return errors.GraphUnavailable(f"Microsoft Graph did not answer the {operation} ({type(exc).__name__})")
    if not isinstance(exc, APIError):
        return errors.GraphUnavailable(f"the {operation} failed ({type(exc).__name__})")
    status = exc.response_status_code or 0
    code, message, details = _graph_message(exc)
    text = message or code or f"status {status}"
    if status == 403:
        return errors.GraphPermissionDenied(
            f"Microsoft Graph refused the {operation} (403 {code}): the app's managed identity needs the "
            f"application permission {errors.GRAPH_WRITE_PERMISSION} with admin consent",
            status,
            code,
        )
    if status == 404:
        return errors.GraphNotFound(f"Microsoft Graph: {text}", status, code)
    if status == 429:  # refused, not processed: unlike a 5xx, never ambiguous for a create
        return errors.GraphThrottled(
            f"Microsoft Graph is throttling the {operation}",
            status,
            "TooManyRequests",
            retry_after=_retry_after(exc.response_headers),
        )
    if status >= 500 or status in (408,):
        return errors.GraphUnavailable(
            f"Microsoft Graph failed the {operation} ({status})",
            status,
            "ServiceUnavailable",
            retry_after=_retry_after(exc.response_headers),
        )
    if status == 400:
        unsupported = unsupported_types([message, *details])
        if unsupported:
            names = ", ".join(unsupported)
            return errors.GraphUnsupportedTypes(unsupported, f"Microsoft Graph does not accept: {names}")
        return errors.GraphBadRequest(f"Microsoft Graph rejected the {operation}: {text}", status, code)
    # Any other answer (a 409 included) is shown as Graph gave it, never read for a meaning.
    return errors.GraphError(f"Microsoft Graph answered {status} to the {operation}: {text}", status, code)


def unsupported_types(messages: list[str]) -> list[str]:
    """Types named in Graph's `ResourceType '<type>' is not supported.` messages, in order, once each."""
    found: list[str] = []
    marker = "ResourceType '"
    for message in messages:
        start = message.find(marker)
        while start != -1:
            end = message.find("'", start + len(marker))
            if end == -1:
                break
            name = message[start + len(marker) : end]
            if "not supported" in message[end : end + 30] and name not in found:
                found.append(name)
            start = message.find(marker, end)
    return found


class UtcmClient:
    """Graph UTCM calls through one GraphServiceClient authenticated by the managed identity."""

    def __init__(self, settings: Settings, credential: GraphCredential | None = None) -> None:
        self.settings = settings
        self.credential: GraphCredential = credential or ManagedIdentityCredential(
            client_id=settings.azure_client_id, **IDENTITY_CLIENT_OPTIONS
        )
        graph_host = urlsplit(settings.graph_base_url).hostname or ""
        auth = AzureIdentityAuthenticationProvider(
            self.credential, scopes=[settings.graph_scope], allowed_hosts=[graph_host]
        )
        self.http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(timeout=HTTP_TIMEOUT, http2=False, follow_redirects=False)
        )
        self.adapter = GraphRequestAdapter(auth, client=self.http)
        self.adapter.base_url = settings.graph_base_url
        self.client = GraphServiceClient(request_adapter=self.adapter)
        self.calls = 0  # Graph requests this client started (not counting SDK retries)

    async def close(self) -> None:
        await self.http.aclose()
        await self.credential.close()

    async def token_check(self) -> None:
        """Get a Graph token through the managed identity (used by health and the tenant probe)."""
        try:
            await self.credential.get_token(self.settings.graph_scope)
        except TokenRefused as exc:
            raise refused(exc) from None
        except Exception as exc:
            raise errors.IdentityUnavailable(
                f"the managed identity could not get a token for Microsoft Graph ({type(exc).__name__})"
            ) from None

    async def create_snapshot(self, display_name: str, description: str | None, resources: list[str]) -> GraphJob:
        info = RequestInformation(Method.POST, CREATE_SNAPSHOT_PATH, {})
        info.headers.try_add("Accept", "application/json")
        body: dict[str, Any] = {"displayName": display_name, "resources": resources}
        if description:
            body["description"] = description
        info.set_stream_content(json.dumps(body).encode("utf-8"), "application/json")
        # Never let the SDK resend a create: a retried POST could make a second job.
        info.add_request_options([RetryHandlerOption(max_retries=0, should_retry=False)])
        return GraphJob.from_json(await self._json(info, "snapshot create"))

    async def _json(self, info: RequestInformation, operation: str) -> dict[str, Any]:
        """Send one request through the SDK's middleware; its body as a JSON object."""
        self.calls += 1
        try:
            raw = await self.adapter.send_primitive_async(info, "bytes", ERROR_MAPPING)
        except Exception as exc:
            raise translate_error(exc, operation) from None
        try:
            data = json.loads(raw or b"")
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            raise errors.GraphUnavailable(f"Microsoft Graph answered the {operation} without a JSON object")
        return data

    def _job_config(self) -> RequestConfiguration[Any]:
        params = (
            ConfigurationSnapshotJobItemRequestBuilder.ConfigurationSnapshotJobItemRequestBuilderGetQueryParameters(
                select=JOB_FIELDS
            )
        )
        config: RequestConfiguration[Any] = RequestConfiguration(query_parameters=params)
        config.headers.add("Prefer", PREFER_ALL_ENUM_MEMBERS)
        return config

    def _jobs(self) -> ConfigurationSnapshotJobsRequestBuilder:
        return self.client.admin.configuration_management.configuration_snapshot_jobs

    async def get_job(self, job_id: str) -> GraphJob:
        info = self._jobs().by_configuration_snapshot_job_id(job_id).to_get_request_information(self._job_config())
        return GraphJob.from_json(await self._json(info, "job read"))

    async def list_jobs(self, display_name: str | None = None) -> list[GraphJob]:
        """Every visible job (Graph keeps at most 12), following @odata.nextLink with the same headers."""
        params = ConfigurationSnapshotJobsRequestBuilder.ConfigurationSnapshotJobsRequestBuilderGetQueryParameters(
            select=JOB_FIELDS, top=LIST_PAGE_SIZE
        )
        if display_name is not None:
            params.filter = "displayName eq '{}'".format(display_name.replace("'", "''"))
        config: RequestConfiguration[Any] = RequestConfiguration(query_parameters=params)
        config.headers.add("Prefer", PREFER_ALL_ENUM_MEMBERS)
        info = self._jobs().to_get_request_information(config)
        jobs: list[GraphJob] = []
        for _ in range(LIST_MAX_PAGES):
            page = await self._json(info, "job list")
            values = page.get("value")
            if isinstance(values, list):
                jobs.extend(GraphJob.from_json(value) for value in values if isinstance(value, dict))
            next_link = page.get("@odata.nextLink")
            if not isinstance(next_link, str) or not next_link:
                return jobs
            headers: RequestConfiguration[Any] = RequestConfiguration()
            headers.headers.add("Prefer", PREFER_ALL_ENUM_MEMBERS)
            info = self._jobs().with_url(next_link).to_get_request_information(headers)
        raise errors.GraphUnavailable(f"Microsoft Graph's job list ran past {LIST_MAX_PAGES} pages")

    async def delete_job(self, job_id: str) -> bool:
        """Delete a job; False when Graph no longer has it."""
        self.calls += 1
        try:
            await self._jobs().by_configuration_snapshot_job_id(job_id).delete()
        except Exception as exc:
            error = translate_error(exc, "job delete")
            if isinstance(error, errors.GraphNotFound):
                return False
            raise error from None
        return True

    def content_url(self, resource_location: str) -> str:
        """The absolute URL of the content, if it is on the Graph host; a token goes nowhere else."""
        base = self.settings.graph_base_url
        url = urljoin(base + "/", resource_location) if resource_location.startswith("/") else resource_location
        target, expected = urlsplit(url), urlsplit(base)
        if (target.scheme, target.netloc.lower()) != (expected.scheme, expected.netloc.lower()):
            raise errors.ContentRefused(
                f"the snapshot content is at {target.scheme}://{target.hostname}, not on the Microsoft Graph "
                f"host {expected.hostname}; it was not downloaded, so no token was sent"
            )
        return url

    @contextlib.asynccontextmanager
    async def download(self, resource_location: str) -> AsyncIterator[IO[bytes]]:
        """Stream the content to a spooled temporary file (bounded by SNAPSHOT_MAX_CONTENT_BYTES)."""
        url = self.content_url(resource_location)
        info = RequestInformation(Method.GET, None, {})
        info.url = url
        info.headers.try_add("Accept", "application/json")
        info.add_request_options([RedirectHandlerOption(should_redirect=False)])
        limit = self.settings.max_content_bytes
        self.calls += 1
        with tempfile.SpooledTemporaryFile(max_size=DOWNLOAD_SPOOL_BYTES) as spool:
            try:
                request = await self.adapter.convert_to_native_async(info)
                response = await self.http.send(request, stream=True)
                try:
                    if not 200 <= response.status_code < 300:
                        await response.aread()
                        raise _status_error(response)
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise errors.ContentRefused(
                                f"the snapshot content is larger than SNAPSHOT_MAX_CONTENT_BYTES ({limit} bytes)"
                            )
                        spool.write(chunk)
                finally:
                    await response.aclose()
            except errors.ServiceError:
                raise
            except Exception as exc:
                raise translate_error(exc, "content download") from None
            spool.seek(0)
            yield spool


def _status_error(response: httpx.Response) -> errors.ServiceError:
    if 300 <= response.status_code < 400:
        target = urlsplit(response.headers.get("Location", "")).hostname or "an unnamed place"
        return errors.ContentRefused(
            f"the content URL answered {response.status_code}, a redirect to {target}; redirects are not "
            "followed, so the token never leaves the Microsoft Graph host",
            response.status_code,
        )
    error = APIError(f"status {response.status_code}")
    error.response_status_code = response.status_code
    error.response_headers = dict(response.headers)
    try:
        body = response.json().get("error", {})
        error.message = body.get("message") or body.get("code")
    except (ValueError, AttributeError):
        pass
    return translate_error(error, "content download")
