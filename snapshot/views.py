"""The JSON views the API shows (camelCase, like Graph): a job, what it holds per type, its callback, its errors,
the quota and Graph's job slots."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from snapshot.models import CallbackState, ContentState, JobRecord, Lifecycle


class ErrorDetail(BaseModel):
    """One entry of Graph's errorDetails, parsed where it follows `<type>: Error exporting resource ...`."""

    resourceType: str | None = None
    message: str
    raw: str


class TypeOutcome(BaseModel):
    """What the job holds for one requested type: instances stored, the error Graph reported, or nothing."""

    resourceType: str
    outcome: Literal["stored", "error", "missing", "pending"]
    instances: int | None = None  # once the content is stored
    error: str | None = None


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
    status: str  # Graph's value; one this app does not know is shown as Graph sent it
    contentState: ContentState
    createdDateTime: datetime | None
    completedDateTime: datetime | None
    storedDateTime: datetime | None
    tenantId: str | None
    errorDetails: list[str]
    errors: list[ErrorDetail]
    contentError: str | None
    contentAttempts: int
    contentRetryAt: datetime | None
    resourceCount: int | None
    resourceTypeCounts: dict[str, int]
    typeOutcomes: list[TypeOutcome]
    failedTypes: list[str]
    warnings: list[str]
    resourceExpansion: dict[str, list[str]]
    skippedResources: list[str]
    source: str  # "api": started through this app; "adopted": made by another tool, found by the poller
    graphDeleted: bool
    callback: CallbackView | None
    links: JobLinks


class JobSlots(BaseModel):
    """Graph's snapshot job slots as Graph lists them now: made by this app, or by other tools (adopted)."""

    visible: int
    limit: int
    madeByApp: int
    adopted: int


class QuotaStatus(BaseModel):
    """This month's extracted resources against SNAPSHOT_MONTHLY_RESOURCE_QUOTA, and Graph's job slots."""

    month: str
    used: int
    limit: int
    remaining: int
    resetsAt: datetime
    jobSlots: JobSlots | None = None


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
    errors = [parse_error_detail(raw) for raw in record.error_details]
    outcomes = type_outcomes(record, errors)
    return JobView(
        id=record.id,
        displayName=record.display_name,
        description=record.description,
        resources=record.resources,
        status=record.graph_status or record.status.value,
        contentState=record.content_state,
        createdDateTime=record.created,
        completedDateTime=record.completed,
        storedDateTime=record.stored,
        tenantId=record.tenant_id,
        errorDetails=record.error_details,
        errors=errors,
        contentError=record.content_error,
        contentAttempts=record.content_attempts,
        contentRetryAt=record.content_retry_at,
        resourceCount=record.resource_count,
        resourceTypeCounts=record.resource_type_counts,
        typeOutcomes=outcomes,
        failedTypes=[o.resourceType for o in outcomes if o.outcome == "error"],
        warnings=record.warnings,
        resourceExpansion=record.resource_expansion,
        skippedResources=record.skipped_resources,
        source=record.source,
        graphDeleted=record.graph_deleted,
        callback=callback_view(record.callback),
        links=JobLinks(self_=job_url, resources=f"{base}/resources{suffix}", content=f"{base}/content{suffix}"),
    )


def type_outcomes(record: JobRecord, errors: list[ErrorDetail]) -> list[TypeOutcome]:
    """Per requested type: `stored` (instances), `error` (Graph's message), `missing` (neither), or `pending`.
    `errors` are the record's error details, parsed."""
    reported: dict[str, str] = {}
    for detail in errors:
        if detail.resourceType:
            reported.setdefault(detail.resourceType, detail.message)
    stored = record.content_state == ContentState.STORED
    counts = {name.lower(): count for name, count in record.resource_type_counts.items()}
    result: list[TypeOutcome] = []
    for name in record.resources:
        instances = counts.get(name.lower(), 0) if stored else None
        error = reported.get(name.lower())
        if instances:
            outcome = "stored"
        elif error:
            outcome = "error"
        elif stored or record.lifecycle != Lifecycle.RUNNING:
            outcome = "missing"
        else:
            outcome = "pending"
        result.append(TypeOutcome(resourceType=name, outcome=outcome, instances=instances, error=error))
    return result


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
