"""Typed errors of the app, each with the HTTP status and title it is answered with, and the Retry-After parser.

Imports nothing heavy, so the HTTP layer can map Graph errors without importing msgraph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

GRAPH_WRITE_PERMISSION = "ConfigurationMonitoring.ReadWrite.All"
DEFAULT_RETRY_AFTER_SECONDS = 10


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class ServiceError(Exception):
    """Base of every error the app answers with; `detail` is safe to show to callers.

    Each subclass names the HTTP status and problem title it is answered with: `class X(ServiceError,
    status=..., title=...)`.
    """

    status = 500
    title = "Internal error"

    def __init_subclass__(cls, status: int | None = None, title: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if title is not None:
            cls.title = title

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Retryable(ServiceError):
    """The same request may succeed after `retry_after` seconds (sent as the Retry-After header)."""

    def __init__(self, detail: str, *, retry_after: int = DEFAULT_RETRY_AFTER_SECONDS, **kwargs: object) -> None:
        super().__init__(detail, **kwargs)  # cooperative: GraphError takes status and code
        self.retry_after = retry_after


# The caller's request --------------------------------------------------------------------------------


class ValidationFailed(ServiceError, status=400, title="The request is not valid"):
    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        self.errors = errors
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(detail or summary)


class NotFound(ServiceError, status=404, title="Not found"): ...


class Conflict(ServiceError, status=409, title="Conflict"):
    def __init__(self, detail: str, existing_job_id: str | None = None) -> None:
        super().__init__(detail)
        self.existing_job_id = existing_job_id


class JobSlotsFull(Conflict, title="Microsoft Graph shows 12 snapshot jobs, its maximum"):
    """Decided from Graph's list, never from an error text; `visible_jobs` are (id, displayName) pairs."""

    def __init__(self, detail: str, visible_jobs: list[tuple[str, str]]) -> None:
        super().__init__(detail)
        self.visible_jobs = visible_jobs


class UnsupportedMediaType(ServiceError, status=415, title="Unsupported media type"): ...


class PayloadTooLarge(ServiceError, status=413, title="Request body too large"): ...


class QuotaExhausted(ServiceError, status=429, title="The monthly snapshot quota is used up"):
    """No Retry-After: the wait is up to a month, which no caller should sleep through (see the README)."""

    def __init__(self, detail: str, resets_at: str) -> None:
        super().__init__(detail)
        self.resets_at = resets_at


# The app's dependencies ------------------------------------------------------------------------------


class Unavailable(Retryable, status=503, title="Service unavailable"):
    """A dependency is throttled or down."""


class StorageUnavailable(Unavailable, title="Table Storage is unavailable"): ...


class RowContended(Unavailable, title="A row kept changing under this request"):
    """Every guarded write of a row lost its race (others changed it each time): a retry reads it afresh."""


class IdentityUnavailable(ServiceError, status=503, title="The managed identity could not get a token"): ...


# Graph's answers, raised by snapshot.graph -----------------------------------------------------------


class GraphError(ServiceError, status=502, title="Microsoft Graph error"):
    """An answer from Graph that is not a success. `graph_status` is Graph's own HTTP status."""

    def __init__(self, detail: str, graph_status: int | None = None, code: str | None = None, **kwargs: object) -> None:
        super().__init__(detail, **kwargs)  # cooperative: Retryable takes retry_after
        self.graph_status = graph_status
        self.code = code


class GraphUnsupportedTypes(GraphError, status=400, title="Microsoft Graph does not accept some resource types"):
    def __init__(self, types: list[str], detail: str) -> None:
        super().__init__(detail, 400, "BadRequest")
        self.types = types


class GraphBadRequest(GraphError, status=400, title="Microsoft Graph rejected the request"): ...


class GraphMonitorRefused(GraphError, status=422, title="Microsoft Graph refused the monitor request"):
    """Graph answered 400/409/422 to a monitor call; the detail carries Graph's own text."""


class MonitorLimitReached(ServiceError, status=409, title="A monitoring limit would be passed"):
    """A documented monitor limit, checked from Graph's state before a create; `numbers` says how far."""

    def __init__(self, detail: str, numbers: dict[str, int]) -> None:
        super().__init__(detail)
        self.numbers = numbers


class MonitorCountReached(MonitorLimitReached, title="The tenant holds the most monitors Graph allows"):
    """30 monitors already exist in Graph: deleting one clears it."""


class MonitorBudgetExceeded(MonitorLimitReached, status=422, title="The baseline is over the daily monitoring budget"):
    """(baseline instances of every monitor + the new ones) x 4 runs would pass 800 resources a day."""


class GraphPermissionDenied(GraphError, status=502, title="The app's identity lacks a Microsoft Graph permission"):
    """The managed identity lacks ConfigurationMonitoring.ReadWrite.All (or its admin consent)."""


class GraphNotFound(GraphError, status=404, title="Not found in Microsoft Graph"): ...


class GraphThrottled(GraphError, Retryable, status=503, title="Microsoft Graph is throttling requests"):
    """Graph answered 429: the request was refused, not processed."""


class GraphUnavailable(GraphError, Retryable, status=503, title="Microsoft Graph is unavailable"):
    """Graph failed or did not answer; for a create, whether the job exists is unknown."""


class ContentRefused(GraphError, status=502, title="Snapshot content refused"):
    """The snapshot content cannot be fetched as Graph described it (wrong host, a redirect, too large...)."""


class ContentInvalid(ContentRefused, title="Snapshot content is not a baseline document"):
    """The downloaded content is not JSON, ends early, or is not the configurationBaseline shape."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> int | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date, RFC 9110 10.2.3); None if absent or bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0, math.ceil(float(text)))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, math.ceil((moment - (now or datetime.now(UTC))).total_seconds()))


# Tenants (snapshot/onboarding.py, docs/tenants.md) -------------------------------------------------------


class TenantNotRegistered(NotFound, title="No such tenant"): ...


class TenancyIsSingle(Conflict, title="The app runs in single-tenant mode"): ...


class TenantWorkInFlight(Retryable, status=409, title="Work for the tenant is still in flight"):
    """A purge waits until the queue messages claimed before the tenant's removal have run (or their claims
    lapsed), so none writes a row after its rows were deleted."""


class TenantRefusedToken(ServiceError, status=409, title="The tenant does not issue this app a token"):
    """Entra refused the tenant's token (consent pending, or the federated credential does not match): an admin's
    action in that tenant or the app's configuration clears it, not a retry. `entra` is Entra's own text."""

    def __init__(self, detail: str, entra: str, error_codes: list[int]) -> None:
        super().__init__(detail)
        self.entra = entra
        self.error_codes = error_codes
