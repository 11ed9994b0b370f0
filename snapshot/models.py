"""Request, record and response types, with the validation rules of ARCHITECTURE.md section 4."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from snapshot import catalogue
from snapshot.errors import FieldError, ValidationFailed

DISPLAY_NAME_PATTERN = re.compile(r"^[A-Za-z0-9 ]+$")
DISPLAY_NAME_MIN, DISPLAY_NAME_MAX = 8, 32
DESCRIPTION_MAX = 1000
RESOURCES_MAX = 300
LIST_TOP_DEFAULT, LIST_TOP_MAX = 100, 1000  # page size of the list operations (`top`)
IDEMPOTENCY_KEY_MAX = 200  # characters of an Idempotency-Key header


class JobStatus(StrEnum):
    """Graph's snapshotJobStatus, plus `expired` for a job Graph dropped before its content was stored."""

    NOT_STARTED = "notStarted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIALLY_SUCCESSFUL = "partiallySuccessful"
    FAILED = "failed"
    UNKNOWN = "unknownFutureValue"
    EXPIRED = "expired"

    @property
    def has_content(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.PARTIALLY_SUCCESSFUL)

    @property
    def is_final(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.PARTIALLY_SUCCESSFUL, JobStatus.FAILED, JobStatus.EXPIRED)

    @classmethod
    def parse(cls, value: str) -> JobStatus:
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


class ContentState(StrEnum):
    """Where the job's content stands in this app's storage."""

    PENDING = "pending"  # not downloaded yet (or the job has not finished)
    STORED = "stored"  # every resource is in the resources table
    UNAVAILABLE = "unavailable"  # the job failed or expired: there is no content to store
    ERROR = "error"  # the content could not be stored; contentError says why


class StartSnapshotRequest(BaseModel):
    """Body of `POST /api/snapshots`. Graph's own rules, checked before Graph is called."""

    model_config = ConfigDict(extra="forbid", strict=True)

    displayName: str
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    resources: list[str] = Field(min_length=1, max_length=RESOURCES_MAX)
    callbackUrl: str | None = None

    @field_validator("callbackUrl")
    @classmethod
    def _callback_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        from snapshot.callbacks import validate_callback_url

        allowed = (info.context or {}).get("allowed_hosts", [])
        return validate_callback_url(value, allowed)

    @field_validator("displayName")
    @classmethod
    def _display_name(cls, value: str) -> str:
        if not DISPLAY_NAME_MIN <= len(value) <= DISPLAY_NAME_MAX:
            raise ValueError(f"must be {DISPLAY_NAME_MIN} to {DISPLAY_NAME_MAX} characters long (it has {len(value)})")
        if not DISPLAY_NAME_PATTERN.fullmatch(value):
            raise ValueError("may contain only letters, digits and spaces (Graph rejects '-', '_', ':' and accents)")
        return value

    @field_validator("resources")
    @classmethod
    def _resources(cls, names: list[str]) -> list[str]:
        problems: list[str] = []
        seen: dict[str, int] = {}
        known: list[str] = []
        for index, name in enumerate(names):
            canonical = catalogue.canonical(name)
            if canonical is None:
                hint = catalogue.suggestions(name)
                tail = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
                problems.append(f"[{index}] {name!r} is not a known resource type{tail}")
                continue
            if canonical.lower() in seen:
                problems.append(
                    f"[{index}] {name!r} repeats [{seen[canonical.lower()]}] (names compare case-insensitively)"
                )
                continue
            seen[canonical.lower()] = index
            known.append(canonical)
        if problems:
            raise ValueError("; ".join(problems))
        return known

    def fingerprint(self) -> str:
        """A hash of the normalised body, to tell a retried request from a different one."""
        body = {
            "displayName": self.displayName,
            "description": self.description or "",
            "resources": self.resources,
            "callbackUrl": self.callbackUrl or "",
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def parse_start_request(body: Any, callback_hosts: list[str] | None = None) -> StartSnapshotRequest:
    """Validate a start body; `callback_hosts` are the host patterns a callbackUrl may use."""
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object")])
    try:
        return StartSnapshotRequest.model_validate(body, context={"allowed_hosts": callback_hosts or []})
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None


def field_errors(exc: ValidationError) -> list[FieldError]:
    """pydantic's errors as (field, message) pairs with plain-language messages."""
    result: list[FieldError] = []
    for error in exc.errors():
        loc = error["loc"]
        field = str(loc[0]) if loc else "body"
        for part in loc[1:]:
            field += f"[{part}]" if isinstance(part, int) else f".{part}"
        kind = error["type"]
        if kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = "is not a known field"
        elif kind == "value_error":
            message = str(error["ctx"]["error"]) if "ctx" in error else error["msg"]
        else:
            message = error["msg"][:1].lower() + error["msg"][1:]
        result.append(FieldError(field, message))
    return result


class ErrorDetail(BaseModel):
    """One entry of Graph's errorDetails, parsed where it follows `<type>: Error exporting resource ...`."""

    resourceType: str | None = None
    message: str
    raw: str


class JobRecord(BaseModel):
    """What the jobs table keeps about one Graph snapshot job."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    display_name: str
    description: str | None = None
    resources: list[str] = Field(default_factory=list)
    status: JobStatus = JobStatus.NOT_STARTED
    created: datetime | None = None
    completed: datetime | None = None
    tenant_id: str | None = None
    error_details: list[str] = Field(default_factory=list)
    resource_location: str | None = None
    content_state: ContentState = ContentState.PENDING
    content_error: str | None = None
    stored: datetime | None = None
    resource_count: int | None = None
    resource_type_counts: dict[str, int] = Field(default_factory=dict)
    content_metadata: dict[str, Any] | None = None  # the content's top-level keys other than resources
    source: str = "api"  # "api" (started here) or "adopted" (found in Graph by the poller)
    graph_deleted: bool = False
    idempotency_key: str | None = None
    job_url: str | None = None  # absolute URL of the job without any key, for callback payloads
    callback: dict[str, Any] | None = None  # a snapshot.callbacks.CallbackState, as JSON
    updated: datetime | None = None
    etag: str | None = Field(None, exclude=True)

    @property
    def awaiting_content(self) -> bool:
        return self.status.has_content and self.content_state == ContentState.PENDING


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
    """The job as the API shows it (camelCase, like Graph)."""

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


def callback_view(state: dict[str, Any] | None) -> CallbackView | None:
    if not state:
        return None
    from snapshot.callbacks import redact

    return CallbackView(
        url=redact(state["url"]),
        status=state["status"],
        attempts=state.get("attempts", 0),
        lastStatus=state.get("last_status"),
        lastError=state.get("last_error"),
        deliveredAt=state.get("delivered_at"),
        deliveryId=state["delivery_id"],
    )
