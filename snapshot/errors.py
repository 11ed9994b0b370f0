"""Typed errors of the service. The HTTP layer maps each to a status and a problem+json answer.

This module imports nothing heavy, so the HTTP layer can map Graph errors without importing msgraph.
"""

from __future__ import annotations

from dataclasses import dataclass

GRAPH_WRITE_PERMISSION = "ConfigurationMonitoring.ReadWrite.All"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class ServiceError(Exception):
    """Base of every error the service answers with; `detail` is safe to show to callers."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ValidationFailed(ServiceError):
    status = 400
    title = "The request is not valid"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        self.errors = errors
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(detail or summary)


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"

    def __init__(self, detail: str, existing_job_id: str | None = None) -> None:
        super().__init__(detail)
        self.existing_job_id = existing_job_id


class UnsupportedMediaType(ServiceError):
    status = 415
    title = "Unsupported media type"


class PayloadTooLarge(ServiceError):
    status = 413
    title = "Request body too large"


class Unavailable(ServiceError):
    """A dependency is throttled or down; the caller should retry after `retry_after` seconds."""

    status = 503
    title = "Service unavailable"

    def __init__(self, detail: str, retry_after: int = 10) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class StorageUnavailable(Unavailable):
    title = "Table Storage is unavailable"


# Graph errors, raised by snapshot.graph ------------------------------------------------------------


class GraphError(ServiceError):
    """An answer from Graph that is not a success. `graph_status` is Graph's own HTTP status."""

    status = 502
    title = "Microsoft Graph error"

    def __init__(self, detail: str, graph_status: int | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.graph_status = graph_status
        self.code = code


class GraphUnsupportedTypes(GraphError):
    status = 400
    title = "Microsoft Graph does not accept some resource types"

    def __init__(self, types: list[str], detail: str) -> None:
        super().__init__(detail, 400, "BadRequest")
        self.types = types


class GraphBadRequest(GraphError):
    status = 400
    title = "Microsoft Graph rejected the request"


class GraphNameConflict(GraphError):
    status = 409
    title = "The display name is taken"


class GraphJobLimit(GraphError):
    status = 409
    title = "Microsoft Graph already holds 12 snapshot jobs"


class GraphPermissionDenied(GraphError):
    status = 502
    title = "The app's identity lacks a Microsoft Graph permission"


class GraphNotFound(GraphError):
    status = 404
    title = "Not found in Microsoft Graph"


class GraphThrottled(GraphError):
    status = 503
    title = "Microsoft Graph is throttling requests"

    def __init__(self, detail: str, retry_after: int, graph_status: int | None = 429) -> None:
        super().__init__(detail, graph_status, "TooManyRequests")
        self.retry_after = retry_after


class GraphUnavailable(GraphError):
    """Graph failed or did not answer; for a create, whether the job exists is unknown."""

    status = 503
    title = "Microsoft Graph is unavailable"

    def __init__(self, detail: str, graph_status: int | None = None, retry_after: int = 10) -> None:
        super().__init__(detail, graph_status, "ServiceUnavailable")
        self.retry_after = retry_after


class IdentityUnavailable(ServiceError):
    status = 503
    title = "The managed identity could not get a token"


class ContentRefused(GraphError):
    """The snapshot content cannot be fetched as Graph described it (wrong host, too large...)."""

    status = 502
    title = "Snapshot content refused"


class QuotaExhausted(ServiceError):
    status = 429
    title = "The monthly snapshot quota is used up"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
