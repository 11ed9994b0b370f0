"""The app's records and requests: job statuses, the job record and its lifecycle, callback state, the start request.

Validation rules of the start request (Graph's own, checked before Graph is called) live here, as do the
limits the HTTP contract states (paging, Idempotency-Key length).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from snapshot import catalogue
from snapshot.callbacks.urls import redact, validate_callback_url
from snapshot.errors import FieldError, ValidationFailed

DISPLAY_NAME_PATTERN = re.compile(r"^[A-Za-z0-9 ]+$")
DISPLAY_NAME_MIN, DISPLAY_NAME_MAX = 8, 32
DESCRIPTION_MAX = 1000
RESOURCES_MAX = 300
IDEMPOTENCY_KEY_MAX = 200
LIST_TOP_DEFAULT, LIST_TOP_MAX = 100, 1000
GRAPH_JOB_LIMIT = 12  # jobs Graph shows at most (documented: docs/graph-utcm.md, section 4)
# A content download that fails is tried again after 1, 2, 4 and 8 minutes, then the content is an error for good.
CONTENT_ATTEMPTS_MAX = 5
CONTENT_RETRY_FIRST = timedelta(minutes=1)
PREVIOUS = "previous"  # `against=previous`: the snapshot a diff or report compares with, found by the app
LATEST = "latest"  # `<tenant>:latest` and the fleet standard's `latest`: the newest stored snapshot that fits

M = TypeVar("M", bound=BaseModel)


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

    @classmethod
    def parse(cls, value: str) -> JobStatus:
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN

    @classmethod
    def fields_of(cls, graph_value: str) -> dict[str, Any]:
        """A record's `status`, and `graph_status` keeping Graph's text when the app does not know the value."""
        status = cls.parse(graph_value)
        unknown = status == cls.UNKNOWN and graph_value != cls.UNKNOWN.value
        return {"status": status, "graph_status": graph_value if unknown else None}


class ContentState(StrEnum):
    """Where the job's content stands in this app's storage."""

    PENDING = "pending"  # not downloaded yet (or the job has not finished)
    STORED = "stored"  # every resource is in the resources table
    UNAVAILABLE = "unavailable"  # the job failed or expired: there is no content to store
    ERROR = "error"  # the content could not be stored; contentError says why


class Lifecycle(StrEnum):
    """What a job's state means for its caller: the one rule behind 202/200/424, callbacks and reads."""

    RUNNING = "running"  # content may still come: keep polling
    STORED = "stored"  # the content is in this app's tables
    FAILED = "failed"  # Graph failed the job, or dropped it before its content was stored
    NO_CONTENT = "noContent"  # the job ended but its content could not be stored (contentError says why)

    @property
    def ended(self) -> bool:
        return self != Lifecycle.RUNNING


class CallbackStatus(StrEnum):
    PENDING = "pending"  # waiting for the job to end, or for the next retry (next_attempt)
    DELIVERING = "delivering"  # an attempt is in flight (claimed until next_attempt, the lease)
    DELIVERED = "delivered"
    FAILED = "failed"  # permanent failure, or the attempts used up

    @property
    def is_final(self) -> bool:
        return self in (CallbackStatus.DELIVERED, CallbackStatus.FAILED)


class CallbackState(BaseModel):
    """The completion callback of one job, kept on its record.

    `url` is the full URL (it is needed to deliver, signature included): never log or show it, show
    `redacted_url`. `attempts` counts attempts started. `next_attempt` is when the next attempt is due
    (None: as soon as the job has ended) or, while delivering, when the claim lapses.
    """

    model_config = ConfigDict(frozen=True)

    url: str
    delivery_id: str
    status: CallbackStatus = CallbackStatus.PENDING
    attempts: int = 0
    next_attempt: datetime | None = None
    last_attempt: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None

    @classmethod
    def create(cls, url: str, delivery_id: str | None = None) -> CallbackState:
        """A new callback for a job (url already validated by `validate_callback_url`)."""
        return cls(url=url, delivery_id=delivery_id or str(uuid.uuid4()))

    @property
    def redacted_url(self) -> str:
        return redact(self.url)


GRAPH_FIELDS = ("status", "graph_status", "completed", "resource_location", "error_details")


class JobRecord(BaseModel):
    """What the jobs table keeps about one Graph snapshot job. Immutable: a change is a `model_copy(update=...)`,
    so a record read once can be handed to every reader of the same row version."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    id: str
    display_name: str
    description: str | None = None
    resources: list[str] = Field(default_factory=list)
    status: JobStatus = JobStatus.NOT_STARTED
    graph_status: str | None = None  # Graph's status text when it is a value this app does not know
    created: datetime | None = None
    completed: datetime | None = None
    tenant_id: str | None = None
    error_details: list[str] = Field(default_factory=list)
    resource_location: str | None = None
    content_state: ContentState = ContentState.PENDING
    content_error: str | None = None
    content_attempts: int = 0  # content downloads that failed
    content_retry_at: datetime | None = None  # when a failed download is tried again; None: not again
    content_progress: int | None = None  # entities an unfinished content write stored in order; resumed from
    content_queued: datetime | None = None  # the claim of its content message (fan-out); cleared once stored
    stored: datetime | None = None
    resource_count: int | None = None
    resource_type_counts: dict[str, int] = Field(default_factory=dict)
    content_metadata: dict[str, Any] | None = None  # the content's top-level keys other than resources
    source: str = "api"  # "api" (started here) or "adopted" (found in Graph by the poller)
    warnings: list[str] = Field(default_factory=list)  # names passed to Graph that the catalogue lacks
    resource_expansion: dict[str, list[str]] = Field(default_factory=dict)  # wildcard -> the types it became
    skipped_resources: list[str] = Field(default_factory=list)  # dropped on Graph's 400 (skipUnsupported)
    graph_deleted: bool = False
    idempotency_key: str | None = None
    job_url: str | None = None  # absolute URL of the job without any key, for callback payloads
    callback: CallbackState | None = None
    updated: datetime | None = None
    etag: str | None = Field(None, exclude=True)

    @field_validator("status", mode="before")
    @classmethod
    def _known_or_unknown(cls, value: Any) -> Any:
        return JobStatus.parse(value) if isinstance(value, str) else value

    @property
    def lifecycle(self) -> Lifecycle:
        if self.content_state == ContentState.STORED:
            return Lifecycle.STORED
        if self.status in (JobStatus.FAILED, JobStatus.EXPIRED):
            return Lifecycle.FAILED
        if self.content_state == ContentState.UNAVAILABLE or (
            self.content_state == ContentState.ERROR and self.content_retry_at is None
        ):
            return Lifecycle.NO_CONTENT
        return Lifecycle.RUNNING

    @property
    def has_content(self) -> bool:
        """Graph says there is content: a finished status, or a status the app does not know with a location."""
        return self.status.has_content or (self.status == JobStatus.UNKNOWN and bool(self.resource_location))

    @property
    def awaiting_content(self) -> bool:
        """Content to download: not tried yet, or failed with attempts left."""
        retrying = self.content_state == ContentState.ERROR and self.content_retry_at is not None
        return self.has_content and (self.content_state == ContentState.PENDING or retrying)

    def content_due(self, now: datetime) -> bool:
        return self.awaiting_content and (self.content_retry_at is None or self.content_retry_at <= now)

    def download_due(self, now: datetime) -> bool:
        """A tick now downloads and stores the content: it is due and Graph said where it is."""
        return self.content_due(now) and bool(self.resource_location)

    def graph_fields(self) -> dict[str, Any]:
        """The fields that hold what Graph last said about the job (a poller tick sets them)."""
        return {name: getattr(self, name) for name in GRAPH_FIELDS}

    def content_failed(self, reason: str, now: datetime) -> dict[str, Any]:
        """The change after a failed download: `error` with the reason, retried with backoff up to the limit."""
        attempts = self.content_attempts + 1
        retry = None if attempts >= CONTENT_ATTEMPTS_MAX else now + CONTENT_RETRY_FIRST * 2 ** (attempts - 1)
        return {
            "content_state": ContentState.ERROR,
            "content_error": reason,
            "content_attempts": attempts,
            "content_retry_at": retry,
        }


class StartSnapshotRequest(BaseModel):
    """Body of `POST /api/snapshots`. Graph's own rules, checked before Graph is called."""

    model_config = ConfigDict(extra="forbid", strict=True)

    displayName: str
    description: str | None = Field(None, max_length=DESCRIPTION_MAX)
    resources: list[str] = Field(min_length=1, max_length=RESOURCES_MAX)
    callbackUrl: str | None = None
    skipUnsupported: bool = False  # retry once without the types Graph's 400 names, recording them on the job

    @field_validator("callbackUrl")
    @classmethod
    def _callback_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        allowed = (info.context or {}).get("allowed_hosts", [])
        return validate_callback_url(value, allowed)

    @field_validator("displayName")
    @classmethod
    def _display_name(cls, value: str) -> str:
        if not DISPLAY_NAME_MIN <= len(value) <= DISPLAY_NAME_MAX:
            raise ValueError(f"must be {DISPLAY_NAME_MIN} to {DISPLAY_NAME_MAX} characters long (it has {len(value)})")
        if not DISPLAY_NAME_PATTERN.fullmatch(value):
            raise ValueError("may contain only letters, digits and spaces (Graph rejects '-', '_', ':' and accents)")
        if not value.strip():
            raise ValueError("must contain a letter or a digit, not only spaces")
        return value

    @field_validator("resources")
    @classmethod
    def _resources(cls, names: list[str]) -> list[str]:
        resolution = catalogue.resolve(names)
        if resolution.problems:
            raise ValueError("; ".join(resolution.problems))
        if len(resolution.names) > RESOURCES_MAX:
            raise ValueError(
                f"names {len(resolution.names)} types once wildcards are expanded; at most {RESOURCES_MAX}"
            )
        return [catalogue.canonical(name) or name.strip() for name in names]

    @functools.cached_property
    def resolution(self) -> catalogue.Resolution:
        """The names sent to Graph (documented spelling, wildcards expanded), with warnings and the expansion;
        resolved once per request (the fingerprint and the start both need it)."""
        return catalogue.resolve(self.resources)

    def fingerprint(self) -> str:
        """A hash of the normalised body, to tell a retried request from a different one."""
        body: dict[str, Any] = {
            "displayName": self.displayName,
            "description": self.description or "",
            "resources": self.resolution.names,
            "callbackUrl": self.callbackUrl or "",
        }
        if self.skipUnsupported:  # only when set, so earlier requests' fingerprints stay the same
            body["skipUnsupported"] = True
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def parse_body(model: type[M], body: Any, callback_hosts: list[str] | None = None) -> M:
    """Validate a JSON body against `model` (400 naming each field and rule); `callback_hosts` are the host
    patterns a callbackUrl may use."""
    if not isinstance(body, dict):
        raise ValidationFailed([FieldError("body", "must be a JSON object")])
    try:
        return model.model_validate(body, context={"allowed_hosts": callback_hosts or []})
    except ValidationError as exc:
        raise ValidationFailed(field_errors(exc)) from None


def parse_start_request(body: Any, callback_hosts: list[str] | None = None) -> StartSnapshotRequest:
    """Validate a start body; `callback_hosts` are the host patterns a callbackUrl may use."""
    return parse_body(StartSnapshotRequest, body, callback_hosts)


def parse_idempotency_key(header: str | None) -> str | None:
    """The Idempotency-Key header, trimmed; None when absent or blank."""
    key = (header or "").strip() or None
    if key is not None and len(key) > IDEMPOTENCY_KEY_MAX:
        raise ValidationFailed([FieldError("Idempotency-Key", f"must be at most {IDEMPOTENCY_KEY_MAX} characters")])
    return key


def parse_top(value: str | None) -> int:
    """The `top` query parameter of the list routes."""
    if value is None or value == "":
        return LIST_TOP_DEFAULT
    if not re.fullmatch(r"[0-9]{1,4}", value) or not 1 <= int(value) <= LIST_TOP_MAX:
        raise ValidationFailed([FieldError("top", f"must be a whole number from 1 to {LIST_TOP_MAX}")])
    return int(value)


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
