"""The JSON views the API shows (camelCase, like Graph): a job, its callback, its errors, the quota."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from snapshot.models import CallbackState, ContentState, JobRecord, JobStatus


class ErrorDetail(BaseModel):
    """One entry of Graph's errorDetails, parsed where it follows `<type>: Error exporting resource ...`."""

    resourceType: str | None = None
    message: str
    raw: str


class JobLinks(BaseModel):
    self_: str = Field(alias="self")
    resources: str
    content: str

    model_config = ConfigDict(populate_by_name=True)


class CallbackView(BaseModel):
    """Where the completion callback stands; the URL without its query (Logic Apps puts a signature there)."""

    url: str
    status: str
    attempts: int
    lastStatus: int | None = None
    lastError: str | None = None
    deliveredAt: datetime | None = None
    deliveryId: str


class JobView(BaseModel):
    """The job as the API shows it."""

    id: str
    displayName: str
    description: str | None
    resources: list[str]
    status: JobStatus
    contentState: ContentState
    createdDateTime: datetime | None
    completedDateTime: datetime | None
    storedDateTime: datetime | None
    tenantId: str | None
    errorDetails: list[str]
    errors: list[ErrorDetail]
    contentError: str | None
    resourceCount: int | None
    resourceTypeCounts: dict[str, int]
    source: str
    graphDeleted: bool
    callback: CallbackView | None
    links: JobLinks


class QuotaStatus(BaseModel):
    """This month's extracted resources against SNAPSHOT_MONTHLY_RESOURCE_QUOTA."""

    month: str
    used: int
    limit: int
    remaining: int
    resetsAt: datetime


ERROR_DETAIL_PATTERN = re.compile(r"^(?P<type>microsoft\.[A-Za-z0-9.]+):\s*(?P<message>.*)$", re.DOTALL)
EXPORT_PREFIX = re.compile(r"^Error exporting resource \[[^\]]*\]\.\s*exceptionMessage\(s\):\s*", re.DOTALL)


def parse_error_detail(raw: str) -> ErrorDetail:
    """Split Graph's `<type>: Error exporting resource [<type>]. exceptionMessage(s):<msg> ,` strings."""
    match = ERROR_DETAIL_PATTERN.match(raw.strip())
    if not match:
        return ErrorDetail(message=raw.strip(), raw=raw)
    message = EXPORT_PREFIX.sub("", match["message"]).strip().rstrip(",").strip()
    return ErrorDetail(resourceType=match["type"].lower(), message=message or match["message"].strip(), raw=raw)


def job_view(record: JobRecord, job_url: str) -> JobView:
    """`job_url` is the absolute URL of the job (with the caller's `code` kept, if any)."""
    base, _, query = job_url.partition("?")
    suffix = f"?{query}" if query else ""
    return JobView(
        id=record.id,
        displayName=record.display_name,
        description=record.description,
        resources=record.resources,
        status=record.status,
        contentState=record.content_state,
        createdDateTime=record.created,
        completedDateTime=record.completed,
        storedDateTime=record.stored,
        tenantId=record.tenant_id,
        errorDetails=record.error_details,
        errors=[parse_error_detail(raw) for raw in record.error_details],
        contentError=record.content_error,
        resourceCount=record.resource_count,
        resourceTypeCounts=record.resource_type_counts,
        source=record.source,
        graphDeleted=record.graph_deleted,
        callback=callback_view(record.callback),
        links=JobLinks(self_=job_url, resources=f"{base}/resources{suffix}", content=f"{base}/content{suffix}"),
    )


def callback_view(state: CallbackState | None) -> CallbackView | None:
    if state is None:
        return None
    return CallbackView(
        url=state.redacted_url,
        status=state.status.value,
        attempts=state.attempts,
        lastStatus=state.last_status,
        lastError=state.last_error,
        deliveredAt=state.delivered_at,
        deliveryId=state.delivery_id,
    )
