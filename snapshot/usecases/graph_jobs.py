"""Records of Graph jobs: a job record made from what Graph reports, and forgetting a job in Graph."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from snapshot.models import ContentState, JobRecord, JobStatus
from snapshot.store import Store

if TYPE_CHECKING:
    from snapshot.graph import GraphJob, UtcmClient

log = logging.getLogger(__name__)


def record_from_graph(job: GraphJob, source: str, idempotency_key: str | None = None) -> JobRecord:
    status = JobStatus.fields_of(job.status)
    return JobRecord(
        id=job.id,
        display_name=job.display_name,
        description=job.description,
        resources=job.resources,
        **status,
        created=job.created or datetime.now(UTC),
        completed=job.completed,
        tenant_id=job.tenant_id,
        error_details=job.error_details,
        resource_location=job.resource_location,
        content_state=ContentState.UNAVAILABLE if status["status"] == JobStatus.FAILED else ContentState.PENDING,
        source=source,
        idempotency_key=idempotency_key,
    )


def named(jobs: list[GraphJob], display_name: str) -> GraphJob | None:
    """The job with this display name among `jobs` (Graph keeps names unique among visible jobs)."""
    return next((job for job in jobs if job.display_name == display_name), None)


async def forget_in_graph(
    store: Store, client: UtcmClient, record: JobRecord, why: str, changes: dict[str, Any] | None = None
) -> JobRecord:
    """Delete the Graph job and mark the record graphDeleted (with `changes`, if any); logged with the reason."""
    await client.delete_job(record.id)
    log.info("deleted job %s (%r, source %s) from Graph %s", record.id, record.display_name, record.source, why)
    return await store.jobs.apply(record, {"graph_deleted": True, **(changes or {})})
