"""The UTCM monitor API on msgraph-sdk: monitors, their baselines, drifts and monitoring results.

Requests are built with msgraph-sdk's builders and sent through the snapshot client's request adapter (same
token, hosts and timeouts), but answers are read as raw JSON: msgraph-sdk's DriftedProperty has no
currentValue/desiredValue, and reading raw keeps fields Graph adds later. Facts (docs/graph-utcm.md section 6):
- create answers 201 with the monitor; update answers 204 (an old beta page says 200 with a body: both read);
- driftedProperties, resourceInstanceIdentifier, errorDetails, createdBy and parameters come only on $select;
- a single get's example wraps the object in `"value"`, so it is unwrapped when present;
- lists page by @odata.nextLink (100 by default, 999 at most), followed here by hand to keep raw JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_http.middleware.options import RetryHandlerOption
from msgraph.generated.admin.configuration_management.configuration_drifts.configuration_drifts_request_builder import (
    ConfigurationDriftsRequestBuilder,
)
from msgraph.generated.admin.configuration_management.configuration_monitoring_results.configuration_monitoring_results_request_builder import (
    ConfigurationMonitoringResultsRequestBuilder,
)
from msgraph.generated.admin.configuration_management.configuration_monitors.configuration_monitors_request_builder import (
    ConfigurationMonitorsRequestBuilder,
)

from snapshot import errors
from snapshot.graph import ERROR_MAPPING, UtcmClient, _graph_message, translate_error

MONITOR_FIELDS = [
    "id", "displayName", "description", "status", "mode", "monitorRunFrequencyInHours", "tenantId",
    "createdDateTime", "lastModifiedDateTime", "createdBy", "lastModifiedBy", "inactivationReason", "parameters",
]  # fmt: skip
DRIFT_FIELDS = [
    "id", "monitorId", "tenantId", "resourceType", "baselineResourceDisplayName", "firstReportedDateTime",
    "status", "resourceInstanceIdentifier", "driftedProperties",
]  # fmt: skip
RESULT_FIELDS = [
    "id", "monitorId", "tenantId", "runStatus", "driftsCount", "runInitiationDateTime", "runCompletionDateTime",
    "errorDetails",
]  # fmt: skip
PAGE_SIZE = 999
MAX_PAGES = 1000


def _graph_refusal(exc: Exception, operation: str) -> errors.ServiceError:
    """Graph's own answer to a refused monitor request, its text shown; other failures as for snapshots."""
    status = exc.response_status_code if isinstance(exc, APIError) else None
    if isinstance(exc, APIError) and status in (400, 409, 422):
        code, message, details = _graph_message(exc)
        text = "; ".join([message or code or f"status {status}", *details])
        return errors.GraphMonitorRefused(f"Microsoft Graph refused the {operation} ({status}): {text}", status, code)
    return translate_error(exc, operation)


def _unwrap(document: Any) -> dict[str, Any]:
    if isinstance(document, dict) and isinstance(document.get("value"), dict):
        return dict(document["value"])
    return dict(document) if isinstance(document, dict) else {}


def odata_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


class MonitorGraph:
    """Monitor calls on the process-wide UtcmClient (its adapter, token and call counter)."""

    def __init__(self, utcm: UtcmClient) -> None:
        self.utcm = utcm
        self.management = utcm.client.admin.configuration_management

    async def _send(self, info: RequestInformation, operation: str) -> Any:
        self.utcm.calls += 1
        try:
            raw = await self.utcm.adapter.send_primitive_async(info, "bytes", ERROR_MAPPING)
        except Exception as exc:
            raise _graph_refusal(exc, operation) from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise errors.GraphUnavailable(f"Microsoft Graph answered the {operation} with no JSON") from None

    async def _list(self, info: RequestInformation, operation: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page = await self._send(info, operation) or {}
            items.extend(item for item in page.get("value", []) if isinstance(item, dict))
            next_link = page.get("@odata.nextLink")
            if not next_link:
                return items
            info = RequestInformation(Method.GET, None, {})
            info.url = str(next_link)
            info.headers.try_add("Accept", "application/json")
        raise errors.GraphUnavailable(f"Microsoft Graph's {operation} did not end after {MAX_PAGES} pages")

    def _write(self, method: Method, template: str, path: dict[str, Any], body: dict[str, Any]) -> RequestInformation:
        info = RequestInformation(method, template, path)
        info.headers.try_add("Accept", "application/json")
        info.set_stream_content(json.dumps(body).encode("utf-8"), "application/json")
        # A retried POST could create a second monitor: the caller decides from Graph's list instead.
        info.add_request_options([RetryHandlerOption(max_retries=0, should_retry=False)])
        return info

    async def list_monitors(self) -> list[dict[str, Any]]:
        params = ConfigurationMonitorsRequestBuilder.ConfigurationMonitorsRequestBuilderGetQueryParameters(
            select=MONITOR_FIELDS, top=PAGE_SIZE
        )
        info = self.management.configuration_monitors.to_get_request_information(
            RequestConfiguration(query_parameters=params)
        )
        return await self._list(info, "monitor list")

    async def get_monitor(self, monitor_id: str) -> dict[str, Any]:
        item = self.management.configuration_monitors.by_configuration_monitor_id(monitor_id)
        params = item.ConfigurationMonitorItemRequestBuilderGetQueryParameters(select=MONITOR_FIELDS)
        info = item.to_get_request_information(RequestConfiguration(query_parameters=params))
        return _unwrap(await self._send(info, "monitor read"))

    async def get_baseline(self, monitor_id: str) -> dict[str, Any]:
        builder = self.management.configuration_monitors.by_configuration_monitor_id(monitor_id).baseline
        return _unwrap(await self._send(builder.to_get_request_information(), "baseline read"))

    async def create_monitor(self, body: dict[str, Any]) -> dict[str, Any]:
        builder = self.management.configuration_monitors
        info = self._write(Method.POST, builder.url_template, builder.path_parameters, body)
        return _unwrap(await self._send(info, "monitor create"))

    async def update_monitor(self, monitor_id: str, body: dict[str, Any]) -> None:
        item = self.management.configuration_monitors.by_configuration_monitor_id(monitor_id)
        await self._send(self._write(Method.PATCH, item.url_template, item.path_parameters, body), "monitor update")

    async def delete_monitor(self, monitor_id: str) -> bool:
        """Delete a monitor; False when Graph no longer has it."""
        item = self.management.configuration_monitors.by_configuration_monitor_id(monitor_id)
        try:
            await self._send(item.to_delete_request_information(), "monitor delete")
        except errors.GraphNotFound:
            return False
        return True

    async def list_drifts(self, monitor_id: str | None = None) -> list[dict[str, Any]]:
        params = ConfigurationDriftsRequestBuilder.ConfigurationDriftsRequestBuilderGetQueryParameters(
            select=DRIFT_FIELDS, top=PAGE_SIZE
        )
        if monitor_id is not None:
            params.filter = "monitorId eq '{}'".format(monitor_id.replace("'", "''"))
        info = self.management.configuration_drifts.to_get_request_information(
            RequestConfiguration(query_parameters=params)
        )
        return await self._list(info, "drift list")

    async def list_results(self, since: datetime | None, monitor_id: str | None = None) -> list[dict[str, Any]]:
        """Monitoring results that started at or after `since` (all when None)."""
        builder = ConfigurationMonitoringResultsRequestBuilder
        params = builder.ConfigurationMonitoringResultsRequestBuilderGetQueryParameters(
            select=RESULT_FIELDS, top=PAGE_SIZE
        )
        clauses = []
        if monitor_id is not None:
            clauses.append("monitorId eq '{}'".format(monitor_id.replace("'", "''")))
        if since is not None:
            clauses.append(f"runInitiationDateTime ge {odata_datetime(since)}")
        if clauses:
            params.filter = " and ".join(clauses)
        info = self.management.configuration_monitoring_results.to_get_request_information(
            RequestConfiguration(query_parameters=params)
        )
        return await self._list(info, "monitoring result list")
